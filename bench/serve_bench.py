#!/usr/bin/env python3
"""Aggregate generation throughput of an OpenAI-compatible server at 1, 2, 4
and 8 parallel streams (a benchmark, not a test).

  bench/serve_bench.py URL [--streams 1,2,4,8] [--tokens 64] [--rounds 3]

Each stream sends a greedy /v1/completions request with its own prompt and
max_tokens = --tokens (ignore_eos where the server knows it); aggregate
tokens/s = all completion tokens / wall time of the round. Reports the
median and min over rounds. Works against ember serve and llama-server."""
import argparse, http.client, json, statistics, threading, time, urllib.parse

PROMPTS = ["Once upon a time there was", "The history of the city begins", "In the morning the farmer",
           "A short guide to bread:", "The ship left the harbour", "Dear friend, I write to you",
           "The mountain was covered", "Rules of the game:"]


def one(url, prompt, n, out, i):
    u = urllib.parse.urlparse(url)
    c = http.client.HTTPConnection(u.hostname, u.port, timeout=600)
    body = {"prompt": prompt, "max_tokens": n, "temperature": 0, "ignore_eos": True}
    c.request("POST", "/v1/completions", json.dumps(body), {"Content-Type": "application/json"})
    r = json.loads(c.getresponse().read())
    out[i] = r["usage"]["completion_tokens"]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("url")
    ap.add_argument("--streams", default="1,2,4,8")
    ap.add_argument("--tokens", type=int, default=64)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    a = ap.parse_args()
    rows = []
    one(a.url, "warm up", 4, [0], 0)
    for k in [int(x) for x in a.streams.split(",")]:
        rates = []
        for _ in range(a.rounds):
            out = [0] * k
            th = [threading.Thread(target=one, args=(a.url, PROMPTS[i % len(PROMPTS)] + " " * (i // 8), a.tokens, out, i))
                  for i in range(k)]
            t0 = time.time()
            [t.start() for t in th]
            [t.join() for t in th]
            rates.append(sum(out) / (time.time() - t0))
        rows.append({"streams": k, "median_tps": statistics.median(rates), "min_tps": min(rates)})
        print(f"streams {k:2d}: aggregate {statistics.median(rates):7.2f} tok/s (median), {min(rates):7.2f} (min)", flush=True)
    if a.json:
        print(json.dumps(rows))


if __name__ == "__main__":
    main()
