#!/usr/bin/env python3
"""What the server sees during a wrk run of benches/serve/timing.lua.

Usage: SENDS=/tmp/t BODIES=... DELAY_MS=128 wrk -t2 -c64 -d10s --latency \
           -s benches/serve/timing.lua URL
       benches/serve/arrivals.py /tmp/t

Prints how many requests were in flight when each request was sent, how
many were sent in each millisecond (clumps), their phase in the 128 ms
cycle, and when the answers to the first 64 requests (the connections'
first, sent together) came back.
"""
import collections
import glob
import sys

events = []
for path in glob.glob(sys.argv[1] + ".*"):
    for line in open(path):
        kind, t = line.split()
        events.append((int(t), kind))
events.sort()
# wrk calls request() once before the run to check the script: skip it.
sends = [t for t, k in events if k == "s"][1:]
answers = [t for t, k in events if k == "r"]
t0 = sends[0]
in_flight, seen = 0, collections.Counter()
for t, kind in events:
    if kind == "s":
        seen[in_flight] += 1
        in_flight += 1
    else:
        in_flight -= 1
total = sum(seen.values())
print("requests sent: %d, answers: %d" % (len(sends), len(answers)))
cum = 0
for n in sorted(seen):
    cum += seen[n]
    if n < 8 or n % 8 == 0:
        print("  %3d in flight when sent: %.3f (cumulative %.3f)" % (n, seen[n] / total, cum / total))
per_ms = collections.Counter((t - t0) // 1000 for t in sends)
span = (sends[-1] - t0) // 1000 + 1
clumps = collections.Counter(per_ms.get(i, 0) for i in range(span))
print("milliseconds with N requests sent:", sorted(clumps.items()))
phase = collections.Counter(((t - t0) % 128000) // 8000 for t in sends)
print("sent per 8 ms of the 128 ms cycle:", [phase[i] for i in range(16)])
first = sorted(answers)[:64]
print("first 64 requests sent within %.1f ms; their answers %.1f-%.1f ms after the first send"
      % ((sends[63] - t0) / 1000, (first[0] - t0) / 1000, (first[-1] - t0) / 1000))
