#!/usr/bin/env python3
"""A real Prometheus scrapes `lockstat serve` every second during a mkdir/rmdir storm.

Prints one JSON object: lockstat's own count of the storm's contentions between two scrapes the
script makes itself (before and after the storm, both in quiet time), Prometheus's increase()
over the same stretch of its own samples, the target's health and the validators' verdicts.
Usage: prometheus-storm.py LOCKSTAT_PORT PROMETHEUS_PORT WORKDIR STORM_EXE
"""
import json, os, subprocess, sys, time, urllib.parse, urllib.request

lockstat_port, prom_port, work, storm = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]
OPENMETRICS = "application/openmetrics-text; version=1.0.0"
# The storm's own waiters: the directory's rwsem, taken for writing by mkdir and rmdir.
SELECTOR = 'lockstat_lock_wait_seconds_count{type="rwsem:W",caller=~"(do_mkdirat|__x64_sys_rmdir|do_rmdir|filename_create)\\\\+.*"}'

def get(url, accept=None):
    request = urllib.request.Request(url, headers={"Accept": accept} if accept else {})
    with urllib.request.urlopen(request, timeout=10) as r:
        return r.headers.get("Content-Type"), r.read().decode()

def query(expr, at=None):
    params = {"query": expr}
    if at is not None:
        params["time"] = "%.3f" % at
    _, body = get("http://127.0.0.1:%d/api/v1/query?%s" % (prom_port, urllib.parse.urlencode(params)))
    return json.loads(body)["data"]["result"]

def own_count():
    """The storm callers' contentions as lockstat serves them now (the Prometheus text format)."""
    _, text = get("http://127.0.0.1:%d/metrics" % lockstat_port)
    total = 0.0
    for line in text.splitlines():
        if line.startswith("lockstat_lock_wait_seconds_count{") and 'type="rwsem:W"' in line and \
                any('caller="%s+' % c in line for c in ("do_mkdirat", "__x64_sys_rmdir", "do_rmdir", "filename_create")):
            total += float(line.rsplit(" ", 1)[1])
    return total

def run_storm(seconds):
    os.makedirs(work + "/storm", exist_ok=True)
    subprocess.run([storm, work + "/storm", str(seconds), "4"], check=True, stdout=subprocess.DEVNULL)

config = work + "/prometheus.yml"
with open(config, "w") as f:
    f.write("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\nscrape_configs:\n"
            "  - job_name: lockstat\n    static_configs:\n      - targets: ['127.0.0.1:%d']\n" % lockstat_port)
prometheus = subprocess.Popen(["prometheus", "--config.file=" + config, "--storage.tsdb.path=" + work + "/tsdb",
                               "--web.listen-address=127.0.0.1:%d" % prom_port],
                              stdout=subprocess.DEVNULL, stderr=open(work + "/prometheus.log", "w"))
result = {}
try:
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            if any(r["value"][1] == "1" for r in query('up{job="lockstat"}')):
                break
        except OSError:
            pass
        time.sleep(0.5)
    else:
        raise SystemExit("Prometheus never saw the target up (log: %s/prometheus.log)" % work)
    # The storm's rows exist before the window opens: increase() cannot count a series' first value.
    run_storm(0.5)
    time.sleep(3)
    before, t0 = own_count(), time.time()
    run_storm(4)
    time.sleep(3)
    after, t1 = own_count(), time.time()
    time.sleep(3)
    # Prometheus's own samples around the window: the last at or before t0, the first at or after t1.
    samples = query("%s[60s]" % SELECTOR)
    stamps = sorted({float(v[0]) for series in samples for v in series["values"]})
    t_a = max(t for t in stamps if t <= t0)
    t_b = min(t for t in stamps if t >= t1)
    # A range that starts 1 ms before t_a's sample and ends at t_b's: increase() extrapolates by 1 ms only.
    window_ms = int(round((t_b - t_a) * 1000)) + 1
    increase = query("sum(increase(%s[%dms]))" % (SELECTOR, window_ms), at=t_b)
    targets = json.loads(get("http://127.0.0.1:%d/api/v1/targets" % prom_port)[1])["data"]["activeTargets"]
    content_type, openmetrics = get("http://127.0.0.1:%d/metrics" % lockstat_port, OPENMETRICS)
    try:
        from prometheus_client.openmetrics.parser import text_string_to_metric_families
        families = list(text_string_to_metric_families(openmetrics))
        verdict = "ok: %d families" % len(families)
    except ImportError:
        verdict = "no prometheus_client"
    except Exception as e:
        verdict = "rejected: %s" % e
    result = {"own": after - before, "prometheus": float(increase[0]["value"][1]) if increase else None,
              "window_s": window_ms / 1000, "gap_before_s": t0 - t_a, "gap_after_s": t_b - t1,
              "health": [t["health"] for t in targets], "last_error": [t["lastError"] for t in targets],
              "openmetrics_content_type": content_type, "openmetrics_parser": verdict}
finally:
    prometheus.terminate()
    prometheus.wait(timeout=30)
print(json.dumps(result))
