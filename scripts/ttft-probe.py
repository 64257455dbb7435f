#!/usr/bin/env python3
"""Where the first token's time goes when N requests arrive at once (serving bench diagnosis).

    ttft-probe.py [--base http://127.0.0.1:11434] [--model bench] [--streams 1,8] [--rounds 2]

Sends N concurrent non-streaming /api/chat requests (the serving bench's prompts, one token each)
to a running ollmlxd and prints, per request: when it was sent (ms after the first), the client's
latency, and the daemon's own durations (load, prompt eval = its admission to its first token,
total). Client latency minus the daemon's total is HTTP and routing; a prompt eval much longer
than one request's alone means it waited for or shared steps with the others. Standard library
only, so it runs on the GPU machine as is.
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


def chat(base, model, i, out, barrier):
    topic = TOPICS[i % len(TOPICS)]
    body = {"model": model, "stream": False, "options": {"num_predict": 1, "temperature": 0},
            "messages": [{"role": "user", "content": f"Write a long, detailed story about {topic}. Describe every scene."}]}
    req = urllib.request.Request(f"{base}/api/chat", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    barrier.wait()
    sent = time.perf_counter()
    with urllib.request.urlopen(req, timeout=600) as resp:
        reply = json.load(resp)
    out[i] = (sent, time.perf_counter() - sent, reply)


def probe(base, model, n):
    out, barrier = [None] * n, threading.Barrier(n)
    threads = [threading.Thread(target=chat, args=(base, model, i, out, barrier)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    first = min(sent for sent, _, _ in out)
    print(f"\n{n} at once | sent ms | client ms | load ms | prompt eval ms | total ms | prompt tokens")
    for i, (sent, latency, r) in enumerate(out):
        ms = lambda key: r.get(key, 0) / 1e6
        print(f"  #{i} | {(sent - first) * 1e3:.1f} | {latency * 1e3:.1f} | {ms('load_duration'):.1f} | "
              f"{ms('prompt_eval_duration'):.1f} | {ms('total_duration'):.1f} | {r.get('prompt_eval_count')}")


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
    parser.add_argument("--wait", type=float, default=60, help="seconds to wait for the daemon to answer")
    args = parser.parse_args()
    wait_ready(args.base, args.wait)
    for _ in range(args.rounds):
        for n in (int(s) for s in args.streams.split(",")):
            probe(args.base, args.model, n)


if __name__ == "__main__":
    main()
