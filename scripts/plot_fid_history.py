#!/usr/bin/env python3
"""Held-out FID of the default model's chain of runs against iterations from scratch
(weights/samples/ycor-spade-256-fid.png). The folders of run 1, r2 and r3 are lost, so their
evaluations are the ones recorded in weights/README.md; run r4's and r5's come from their
losses.jsonl.

usage: plot_fid_history.py runs/ycor-spade-256-r4/losses.jsonl OUT.png \
           [runs/ycor-spade-256-r5/losses.jsonl]   (needs matplotlib)
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
R3_AVERAGE = [(R3_START + i, f) for i, f in [
    (250, 256.9), (500, 263.8), (750, 271.3), (1000, 275.7), (1250, 276.2), (1500, 275.5),
    (1750, 272.1), (2000, 275.9), (2250, 281.1), (2500, 276.2), (2750, 263.7)]]
R3_CURRENT = [(R3_START + i, f) for i, f in [(2000, 241.3), (2250, 232.2), (2500, 246.3),
                                             (2750, 221.9)]]
R4_START = R3_START + 2750  # r4 starts from r3's iteration 2750
R5_START = R4_START + 2000  # r5 starts from r4's iteration 2000 (learning rate decaying)


def run_points(path, start):
    """(weight average, current weights) evaluations of a run's losses.jsonl."""
    average, current = [], []
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            if "fid" not in record:
                continue
            point = (start + record["iteration"], record["fid"])
            (current if record.get("current_weights") else average).append(point)
    return average, current


def main():
    losses, out = sys.argv[1], sys.argv[2]
    average, current = run_points(losses, R4_START)
    r5_average, r5_current = run_points(sys.argv[3], R5_START) if len(sys.argv) > 3 else ([], [])
    fig, ax = plt.subplots(figsize=(6.4, 3.2), dpi=100)
    for points, label, style in [
        (RUN1, "run 1 (from scratch)", "o-"),
        (R2, "r2 (fresh discriminators)", "s-"),
        (R3_AVERAGE, "r3, weight average 0.999", "^--"),
        (R3_CURRENT, "r3, current weights", "D-"),
        (average, "r4, weight average 0.999", "v--"),
        (current, "r4, current weights", "P-"),
        (r5_average, "r5 (rate decaying), weight average", "x--"),
        (r5_current, "r5 (rate decaying), current weights", "*-"),
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
