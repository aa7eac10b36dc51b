#!/usr/bin/env python3
"""Held-out FID of the default model's chain of runs against iterations from scratch
(weights/samples/ycor-spade-256-fid.png). The first two runs' folders are lost, so their
evaluations are the ones recorded in weights/README.md; run r3's come from its losses.jsonl.

usage: plot_fid_history.py RUN_DIR/losses.jsonl OUT.png   (needs matplotlib)
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

# Recorded in weights/README.md: run 1 (from scratch) and r2 (from run 1's iteration 1000).
RUN1 = [(250, 395.4), (500, 393.5), (750, 349.9), (1000, 266.6)]
R2 = [(1000 + i, f) for i, f in [(250, 318.1), (500, 321.5), (750, 285.7), (1000, 236.4)]]
R3_START = 2000  # r3 starts from r2's iteration 1000


def r3_points(path):
    average, current = [], []
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            if "fid" not in record:
                continue
            point = (R3_START + record["iteration"], record["fid"])
            (current if record.get("current_weights") else average).append(point)
    return average, current


def main():
    losses, out = sys.argv[1], sys.argv[2]
    average, current = r3_points(losses)
    fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=100)
    for points, label, style in [
        (RUN1, "run 1 (from scratch)", "o-"),
        (R2, "r2 (fresh discriminators)", "s-"),
        (average, "r3, weight average 0.999", "^--"),
        (current, "r3, current weights", "D-"),
    ]:
        if points:
            ax.plot(*zip(*points), style, label=label, markersize=4)
    ax.axhline(120, color="grey", linestyle=":", label="issue 15's target (120)")
    ax.set_xlabel("iterations from scratch (batch 4)")
    ax.set_ylabel("held-out FID, 512x272")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main()
