#!/usr/bin/env python3
"""Draws docs/scaling.png from the figures of `wakala bench scaling --csv F` and
`wakala bench pipeline --rss-days …`: events/s per task and process count, and replay --sinks
peak RSS against stream length. Usage: plot.py SCALING_CSV RSS_CSV OUT_PNG (RSS_CSV: days,records,mb)."""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

scaling = list(csv.DictReader(open(sys.argv[1])))
rss = list(csv.DictReader(open(sys.argv[2])))
fig, (a, b) = plt.subplots(1, 2, figsize=(11, 4.2))
for kind, label in (("tasks", "tasks in 1 process"), ("processes", "processes sharing 6 tasks")):
    rows = [r for r in scaling if r["kind"] == kind]
    a.plot([int(r["n"]) for r in rows], [float(r["events_per_s"]) / 1000 for r in rows], marker="o", label=label)
    if any(r.get("busy_events_per_s") for r in rows):
        a.plot([int(r["n"]) for r in rows], [float(r["busy_events_per_s"]) / 1000 for r in rows], marker="x", linestyle="--",
               label=label + " (busy time only)")
a.set_xlabel("tasks / processes")
a.set_ylabel("thousand events/s (wall)")
a.set_title("wakala run --until-end, mock Kafka, 2 cores")
a.set_ylim(bottom=0)
a.legend(fontsize=8)
b.plot([int(r["records"]) / 1e6 for r in rss], [float(r["mb"]) for r in rss], marker="o", color="tab:green")
for r in rss:
    b.annotate(f'{r["days"]} d', (int(r["records"]) / 1e6, float(r["mb"])), textcoords="offset points", xytext=(4, -12), fontsize=8)
b.set_xlabel("million records in the stream")
b.set_ylabel("peak RSS (MB)")
b.set_title("replay --sinks: peak RSS against stream length")
b.set_ylim(0, 1100)
b.axhline(1024, color="gray", linestyle=":", linewidth=1)
b.text(0.2, 1030, "1 GiB", fontsize=8, color="gray")
fig.tight_layout()
fig.savefig(sys.argv[3], dpi=110)
