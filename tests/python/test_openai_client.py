"""The official `openai` Python client against the live daemon's /v1 layer."""

import base64
import struct

import openai
import pytest


@pytest.fixture(scope="module")
def client(daemon):
    return openai.OpenAI(base_url=daemon + "/v1", api_key="unused")


def test_models(client):
    ids = [m.id for m in client.models.list()]
    assert "smollm2:latest" in ids
    assert client.models.retrieve("smollm2:latest").id == "smollm2:latest"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("nope")


def test_chat_completions(client):
    messages = [{"role": "user", "content": "What is the capital of France? One word."}]
    r = client.chat.completions.create(model="smollm2", messages=messages, temperature=0, max_tokens=8)
    assert r.choices[0].message.role == "assistant"
    assert "Paris" in r.choices[0].message.content
    assert r.usage.completion_tokens > 0
    chunks = list(
        client.chat.completions.create(
            model="smollm2", messages=messages, temperature=0, max_tokens=8, stream=True,
            stream_options={"include_usage": True},
        )
    )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == r.choices[0].message.content
    assert chunks[-1].usage.completion_tokens == r.usage.completion_tokens
    assert any(c.choices and c.choices[0].finish_reason for c in chunks)


def test_completions(client):
    r = client.completions.create(model="smollm2", prompt="The sky is", max_tokens=5, temperature=0)
    assert r.choices[0].text
    parts = list(client.completions.create(model="smollm2", prompt="The sky is", max_tokens=5, temperature=0, stream=True))
    assert "".join(p.choices[0].text for p in parts if p.choices) == r.choices[0].text


def test_embeddings(client):
    r = client.embeddings.create(model="tiny-llama", input=["a", "b"])
    assert len(r.data) == 2 and len(r.data[0].embedding) == 128
    floats = client.embeddings.create(model="tiny-llama", input="a").data[0].embedding
    r = client.embeddings.create(model="tiny-llama", input="a", encoding_format="base64")
    raw = base64.b64decode(r.data[0].embedding)
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert len(decoded) == 128
    assert all(abs(x - y) < 1e-6 for x, y in zip(decoded, floats))


def test_errors(client):
    with pytest.raises(openai.BadRequestError) as e:
        client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "x"}], top_p=7)
    assert "top_p" in str(e.value)
