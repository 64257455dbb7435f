#!/usr/bin/env python3
"""Where the first token's time goes when N requests arrive at once (serving bench diagnosis).

    ttft-probe.py [--base http://127.0.0.1:11434] [--model bench] [--streams 1,8] [--rounds 2]
                  [--tokens 1]

Sends N concurrent /api/chat requests (the serving bench's prompts) to a running ollmlxd and
prints, per request: when it was sent (ms after the first), the client's latency to its first
token, and the daemon's own durations (load, prompt eval = its admission to its first token,
total). Client latency minus the daemon's prompt eval is HTTP and routing; a prompt eval much
longer than one request's alone means it waited for or shared steps with the others. With
--tokens above 1 the requests stream (as the serving bench's do) and each row also shows the
daemon's decode rate. Standard library only, so it runs on the GPU machine as is.
"""

import argparse
import json
import threading
import time
import urllib.request

TOPICS = ["a lighthouse keeper who finds a map", "a robot learning to bake bread",
          "two rival chess players on a train", "a city where it never stops raining",
          "an astronaut growing tomatoes on Mars", "a dragon who is afraid of heights",
          "a detective who solves crimes by smell", "a small village that builds a bridge"]


def chat(base, model, i, tokens, out, barrier):
    topic = TOPICS[i % len(TOPICS)]
    body = {"model": model, "stream": tokens > 1, "options": {"num_predict": tokens, "temperature": 0},
            "messages": [{"role": "user", "content": f"Write a long, detailed story about {topic}. Describe every scene."}]}
    req = urllib.request.Request(f"{base}/api/chat", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    barrier.wait()
    sent = time.perf_counter()
    first, reply = None, {}
    with urllib.request.urlopen(req, timeout=600) as resp:
        for line in resp:
            if line.strip():
                first = first or time.perf_counter()
                reply = json.loads(line)
    out[i] = (sent, first - sent, reply)


def probe(base, model, n, tokens):
    out, barrier = [None] * n, threading.Barrier(n)
    threads = [threading.Thread(target=chat, args=(base, model, i, tokens, out, barrier)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first = min(sent for sent, _, _ in out)
    print(f"\n{n} at once, {tokens} token(s) | sent ms | client first token ms | load ms | prompt eval ms | "
          f"total ms | prompt tokens | decode tok/s")
    for i, (sent, latency, r) in enumerate(out):
        ms = lambda key: r.get(key, 0) / 1e6
        rate = f"{r.get('eval_count', 0) / (ms('eval_duration') / 1e3):.0f}" if tokens > 1 and ms("eval_duration") > 0 else "-"
        print(f"  #{i} | {(sent - first) * 1e3:.1f} | {latency * 1e3:.1f} | {ms('load_duration'):.1f} | "
              f"{ms('prompt_eval_duration'):.1f} | {ms('total_duration'):.1f} | {r.get('prompt_eval_count')} | {rate}")


def wait_ready(base, seconds):
    """Polls /api/tags until the daemon answers (it may still be starting)."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{base}/api/tags", timeout=5):
                return
        except OSError:
            if time.monotonic() > deadline:
                raise SystemExit(f"{base} did not answer within {seconds} s")
            time.sleep(0.2)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="http://127.0.0.1:11434")
    parser.add_argument("--model", default="bench")
    parser.add_argument("--streams", default="1,8")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tokens", type=int, default=1, help="num_predict of every request (above 1: streamed)")
    parser.add_argument("--wait", type=float, default=60, help="seconds to wait for the daemon to answer")
    args = parser.parse_args()
    wait_ready(args.base, args.wait)
    for _ in range(args.rounds):
        for n in (int(s) for s in args.streams.split(",")):
            probe(args.base, args.model, n, args.tokens)


if __name__ == "__main__":
    main()
