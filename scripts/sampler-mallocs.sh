#!/usr/bin/env bash
# Counts malloc calls made by lockstat's sampling thread (uprobe on libc's malloc, as root)
# while the release lockstat-run samples stat and diskstats at 1 kHz for SECONDS (default 3).
# The hot path should make none: what remains is thread start-up and postsampling.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-3}
swift build -c release --product lockstat-run >/dev/null
tmp=$(mktemp -d)
trap 'perf probe -q -d probe_libc:lockstat_malloc 2>/dev/null || true; rm -rf "$tmp"' EXIT
perf probe -q -x /lib/x86_64-linux-gnu/libc.so.6 lockstat_malloc=malloc
perf record -q -e probe_libc:lockstat_malloc -g -o "$tmp/malloc.data" -- \
    .build/release/lockstat-run --quiet --interval 0.001 --modules stat,diskstats "$tmp/run" sleep "$seconds"
ticks=$(python3 - "$tmp/run/samples/stat.log" <<'PY'
import struct, sys
b = open(sys.argv[1], 'rb').read(); o = n = 0
while o + 32 <= len(b):
    _, ln, _, _, _, kind, _ = struct.unpack('<IIQQHHI', b[o:o + 32]); o += 32 + ln; n += kind == 1
print(n)
PY
)
perf script -i "$tmp/malloc.data" 2>/dev/null | awk -v ticks="$ticks" '
    /probe_libc:lockstat_malloc/ { tid = $2; count[tid]++; next }
    /SamplingThreadC3run/ { sampler[tid] = 1 }  # the sampling loop, SamplingThread.run(start:)
    END { for (t in sampler) printf "sampling thread %s: %d mallocs over %d ticks\n", t, count[t], ticks }'
