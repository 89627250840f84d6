#!/usr/bin/env bash
# Counts malloc calls made by lockstat's sampling thread (uprobe on libc's malloc, as root)
# while the release lockstat-run samples stat and diskstats at 1 kHz for SECONDS (default 3).
# The hot path should make none: what remains is thread start-up and postsampling. (The batch
# threads that compress and write the logs are other threads: their buffers grow only at first.)
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-3}
swift build -c release --product lockstat-run >/dev/null
tmp=$(mktemp -d)
trap 'perf probe -q -d probe_libc:lockstat_malloc 2>/dev/null || true; rm -rf "$tmp"' EXIT
perf probe -q -x /lib/x86_64-linux-gnu/libc.so.6 lockstat_malloc=malloc
perf record -q -e probe_libc:lockstat_malloc -g -o "$tmp/malloc.data" -- \
    .build/release/lockstat-run --quiet --interval 0.001 --modules stat,diskstats "$tmp/run" sleep "$seconds"
# Ticks the stat module took (run.json; the raw log is batched and compressed).
ticks=$(python3 -c 'import json, sys; print(next(m["samples"] for m in json.load(open(sys.argv[1]))["modules"] if m["name"] == "stat"))' "$tmp/run/run.json")
perf script -i "$tmp/malloc.data" 2>/dev/null | awk -v ticks="$ticks" '
    /probe_libc:lockstat_malloc/ { tid = $2; count[tid]++; next }
    /SamplingThreadC3run/ { sampler[tid] = 1 }  # the sampling loop, SamplingThread.run(start:)
    END { for (t in sampler) printf "sampling thread %s: %d mallocs over %d ticks\n", t, count[t], ticks }'
