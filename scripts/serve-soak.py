#!/usr/bin/env python3
"""BENCHMARKS.md's serve figures: `lockstat serve` (default config modules plus contention)
scraped every SCRAPE seconds for SECONDS while mkdir/rmdir storms and a fork storm (new task
ids, new aggregation entries) come and go. Prints lockstat's CPU per second and per scrape,
the scrape's size, and its resident memory over time with the least-squares slope.
usage: serve-soak.py LOCKSTAT STORM_EXE SECONDS [SCRAPE]"""
import json, os, subprocess, sys, tempfile, time, urllib.request

lockstat, storm, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
scrape_every = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
port = 9477
work = tempfile.mkdtemp(prefix="serve-soak-", dir="/var/tmp")
serve = subprocess.Popen([lockstat, "serve", "--listen", "127.0.0.1:%d" % port, "--modules", "stat,diskstats,contention"],
                         stderr=subprocess.DEVNULL)
ticks = os.sysconf("SC_CLK_TCK")

def cpu_seconds():
    with open("/proc/%d/stat" % serve.pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / ticks

def rss_kib():
    with open("/proc/%d/status" % serve.pid) as f:
        return next(int(l.split()[1]) for l in f if l.startswith("VmRSS:"))

def scrape():
    with urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10) as r:
        return r.read()

for _ in range(100):
    try:
        scrape(); break
    except OSError:
        time.sleep(0.1)
start, cpu0 = time.time(), cpu_seconds()
memory, sizes, scrapes, load = [], [], 0, None
os.makedirs(work + "/storm", exist_ok=True)
while time.time() - start < seconds:
    t = time.time() - start
    # Workload: a 5 s storm every 30 s, and a fork storm of short-lived threads' waits.
    if load is None or load.poll() is not None:
        if int(t) % 30 < 5:
            load = subprocess.Popen([storm, work + "/storm", "5", "4"], stdout=subprocess.DEVNULL)
        elif int(t) % 30 < 10:
            load = subprocess.Popen(["sh", "-c", "for i in $(seq 200); do (mkdir %s/f$i; rmdir %s/f$i) & done; wait" % (work, work)],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    sizes.append(len(scrape()))
    scrapes += 1
    if scrapes % 10 == 0:
        memory.append((t, rss_kib()))
    time.sleep(max(0, scrape_every - (time.time() - start - t)))
elapsed, cpu = time.time() - start, cpu_seconds() - cpu0
text = scrape().decode()
scrape_cpu = next(float(l.split()[1]) for l in text.splitlines() if l.startswith("lockstat_scrape_cpu_seconds_total"))
serve.terminate()
serve.wait()
n = len(memory)
mt = sum(t for t, _ in memory) / n
mm = sum(m for _, m in memory) / n
slope = sum((t - mt) * (m - mm) for t, m in memory) / sum((t - mt) ** 2 for t, _ in memory)
half = memory[n // 2:]
mt2 = sum(t for t, _ in half) / len(half)
mm2 = sum(m for _, m in half) / len(half)
slope2 = sum((t - mt2) * (m - mm2) for t, m in half) / sum((t - mt2) ** 2 for t, _ in half)
print(json.dumps({
    "seconds": round(elapsed, 1), "scrapes": scrapes,
    "cpu_percent_of_one_cpu": round(cpu / elapsed * 100, 3),
    "scrape_cpu_ms": round(scrape_cpu / scrapes * 1000, 3),
    "scrape_bytes": {"min": min(sizes), "max": max(sizes)},
    "rss_kib": {"first": memory[0][1], "last": memory[-1][1], "max": max(m for _, m in memory)},
    "rss_slope_kib_per_min": round(slope * 60, 2), "rss_slope_second_half_kib_per_min": round(slope2 * 60, 2),
}, indent=1))
