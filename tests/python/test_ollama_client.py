"""The official `ollama` Python client against the live daemon: a scripted session."""

import ollama
import pytest

GREEDY = {"temperature": 0, "num_predict": 8}


@pytest.fixture(scope="module")
def client(daemon):
    return ollama.Client(host=daemon)


def test_list_and_show(client):
    names = [m.model for m in client.list().models]
    assert names == ["smollm2:latest", "tiny-llama:latest"]
    info = client.show("smollm2")
    assert info.modelinfo["llama.context_length"] == 8192
    assert "completion" in info.capabilities
    assert info.details.family == "llama"


def test_generate_and_stream(client):
    r = client.generate(model="smollm2", prompt="What is 2+2?", options=GREEDY)
    assert r.done and r.response
    assert r.eval_count and r.eval_count > 0
    parts = list(client.generate(model="smollm2", prompt="What is 2+2?", options=GREEDY, stream=True))
    assert parts[-1].done
    assert "".join(p.response for p in parts) == r.response


def test_chat_and_stream(client):
    messages = [{"role": "user", "content": "What is the capital of France? One word."}]
    r = client.chat(model="smollm2", messages=messages, options=GREEDY)
    assert r.message.role == "assistant"
    assert "Paris" in r.message.content
    parts = list(client.chat(model="smollm2", messages=messages, options=GREEDY, stream=True))
    assert parts[-1].done and parts[-1].done_reason in ("stop", "length")
    assert "".join(p.message.content for p in parts) == r.message.content


def test_ps_load_and_unload(client):
    r = client.generate(model="tiny-llama", prompt="", keep_alive="-1")
    assert r.done_reason == "load"
    running = {m.model: m for m in client.ps().models}
    assert "tiny-llama:latest" in running
    m = running["tiny-llama:latest"]
    assert m.size > 0 and m.expires_at.year > 2100 and m.context_length > 0
    r = client.generate(model="tiny-llama", prompt="", keep_alive=0)
    assert r.done_reason == "unload"
    r = client.chat(model="tiny-llama", messages=[], keep_alive=300)
    assert r.done_reason == "load"


def test_embed(client):
    r = client.embed(model="tiny-llama", input=["hello", "world"])
    assert len(r.embeddings) == 2 and len(r.embeddings[0]) == 128
    r = client.embeddings(model="tiny-llama", prompt="hello")
    assert len(r.embedding) == 128


def test_copy_and_delete(client):
    assert client.copy("tiny-llama", "copied:v1").status == "success"
    assert "copied:v1" in [m.model for m in client.list().models]
    assert client.delete("copied:v1").status == "success"
    assert "copied:v1" not in [m.model for m in client.list().models]


def test_errors_raise(client):
    with pytest.raises(ollama.ResponseError) as e:
        client.chat(model="nope", messages=[{"role": "user", "content": "hi"}])
    assert e.value.status_code == 404
    assert "not found" in e.value.error
