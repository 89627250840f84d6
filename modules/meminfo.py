"""lockstat drop-in module: memory use from /proc/meminfo.

The worked example of the module API (docs/writing-a-module.md). lockstat calls, each if present:
  presampling(test_dir)              before the program starts
  sample(test_dir, t)                on every tick t of this module's interval
  postsampling(test_dir)             after the program exited
  parse(test_dir) -> value           stored in samples.pickle under "meminfo"
  plot(test_dir, data, interval)     data is that value; files written into test_dir are kept
"""
import os

FIELDS = ["MemTotal", "MemFree", "MemAvailable", "Buffers", "Cached", "Dirty", "Writeback", "AnonPages", "Slab"]
_out = None


def presampling(test_dir):
    global _out
    # One append-only file for the whole run; each sample is one line "t field=kB ...".
    _out = open(os.path.join(test_dir, "samples", "meminfo.txt"), "w")


def sample(test_dir, t):
    with open("/proc/meminfo") as f:
        text = f.read()
    _out.write("%d %s\n" % (t, " ".join(line.split(":")[0] + "=" + line.split()[1] for line in text.splitlines() if ":" in line)))
    _out.flush()


def postsampling(test_dir):
    _out.close()


def parse(test_dir):
    """{'tick': [...], 'MemFree': [kB...], ...}: one value per sample, in kB as /proc/meminfo says."""
    data = {"tick": []}
    for field in FIELDS:
        data[field] = []
    with open(os.path.join(test_dir, "samples", "meminfo.txt")) as f:
        for line in f:
            words = line.split()
            values = dict(w.split("=", 1) for w in words[1:])
            data["tick"].append(int(words[0]))
            for field in FIELDS:
                data[field].append(int(values[field]) if field in values else None)
    return data


def plot(test_dir, data, interval):
    """meminfo.svg: the fields over time, in MiB; a plain SVG so that no plotting library is needed."""
    if not data or not data["tick"]:
        return
    width, height, left, bottom, top = 900, 400, 70, 50, 30
    times = [t * interval for t in data["tick"]]
    shown = ["MemFree", "MemAvailable", "Cached", "Dirty", "AnonPages"]
    peak = max(max(v for v in data[f] if v is not None) for f in shown if any(v is not None for v in data[f])) / 1024.0 or 1
    span = max(times[-1], interval)
    colours = ["#1f77b4", "#2ca02c", "#ff7f0e", "#d62728", "#9467bd"]
    parts = ['<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="%d" font-family="sans-serif">' % (width, height),
             '<rect width="100%" height="100%" fill="white"/>',
             '<text x="%d" y="20" text-anchor="middle" font-size="15">Memory (/proc/meminfo)</text>' % (width // 2),
             '<text x="%d" y="%d" text-anchor="middle" font-size="12">time (s, tick &#215; interval)</text>' % (width // 2, height - 10),
             '<text x="15" y="%d" font-size="12" transform="rotate(-90 15 %d)" text-anchor="middle">memory (MiB)</text>' % (height // 2, height // 2)]
    for i, field in enumerated(shown):
        points = ["%.1f,%.1f" % (left + t / span * (width - left - 160), height - bottom - (v / 1024.0) / peak * (height - bottom - top))
                  for t, v in zip(times, data[field]) if v is not None]
        parts.append('<polyline fill="none" stroke="%s" stroke-width="1.5" points="%s"/>' % (colours[i], " ".join(points)))
        parts.append('<text x="%d" y="%d" font-size="12" fill="%s">%s</text>' % (width - 150, top + 18 * i + 10, colours[i], field))
    parts.append('<text x="%d" y="%d" font-size="11" text-anchor="end">%.0f</text>' % (left - 5, top + 4, peak))
    parts.append('<text x="%d" y="%d" font-size="11" text-anchor="end">0</text>' % (left - 5, height - bottom))
    parts.append("</svg>")
    with open(os.path.join(test_dir, "meminfo.svg"), "w") as f:
        f.write("\n".join(parts) + "\n")


def enumerated(items):
    return list(enumerate(items))
