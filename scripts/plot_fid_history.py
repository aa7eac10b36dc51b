#!/usr/bin/env python3
"""Held-out FID of the default model's chain of runs against iterations from scratch
(weights/samples/ycor-spade-256-fid.png). The folders of runs 1 to r5 are lost, so their
evaluations are the ones recorded in weights/README.md; later runs come from their
losses.jsonl, each given as LABEL=PATH@START (START: the chain's iteration it started from).

usage: plot_fid_history.py [--runs-only] OUT.png [LABEL=runs/RUN/losses.jsonl@START ...]
  (needs matplotlib; --runs-only: the given runs alone, e.g. the pix2pix baseline)
  e.g. plot_fid_history.py weights/samples/ycor-spade-256-fid.png \
           "r7 (second decay)=runs/ycor-spade-256-r7/losses.jsonl@8250" \
           "r8 (r7 + class-balanced L1)=runs/ycor-spade-256-r8/losses.jsonl@8250"
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
# The held-out photos against 47 other ycor photos (`evaluate --real-reference`,
# docs/bench/fid-floor-2026-12-06-s13.txt): the level of real photos at this many pairs.
REAL_PHOTOS = 114.5
R4_START = R3_START + 2750  # r4 starts from r3's iteration 2750
R4_AVERAGE = [(R4_START + i, f) for i, f in [
    (0, 221.9), (250, 224.0), (500, 240.0), (750, 239.3), (1000, 231.8), (1250, 231.0),
    (1500, 228.7), (1750, 223.6), (2000, 217.7), (2250, 210.9), (2500, 213.0), (2750, 206.9),
    (3000, 212.0)]]
R4_CURRENT = [(R4_START + i, f) for i, f in [
    (0, 221.9), (250, 256.2), (500, 254.7), (750, 240.2), (1000, 223.4), (1250, 220.6),
    (1500, 203.5), (1750, 200.7), (2000, 195.0), (2250, 198.7), (2500, 207.7), (2750, 208.2),
    (3000, 213.4)]]
R5_START = R4_START + 2000  # r5 starts from r4's iteration 2000 (learning rate decaying)
R5_AVERAGE = [(R5_START + i, f) for i, f in [
    (0, 195.0), (250, 190.8), (500, 195.4), (750, 192.7), (1000, 193.1), (1250, 197.4),
    (1500, 194.1), (1750, 192.0), (2000, 189.2)]]
R5_CURRENT = [(R5_START + i, f) for i, f in [
    (0, 195.0), (250, 194.8), (500, 193.9), (750, 198.5), (1000, 194.5), (1250, 189.5),
    (1500, 182.1), (1750, 183.4), (2000, 186.7)]]


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
    args = sys.argv[1:]
    runs_only = args[:1] == ["--runs-only"]
    if runs_only:
        args = args[1:]
    out = args[0]
    recorded = [] if runs_only else [
        (RUN1, "run 1 (from scratch)", "o-"),
        (R2, "r2 (fresh discriminators)", "s-"),
        (R3_AVERAGE, "r3, weight average 0.999", "^--"),
        (R3_CURRENT, "r3, current weights", "D-"),
        (R4_AVERAGE, "r4, weight average 0.999", "v--"),
        (R4_CURRENT, "r4, current weights", "P-"),
        (R5_AVERAGE, "r5 (rate decaying), weight average", "x--"),
        (R5_CURRENT, "r5 (rate decaying), current weights", "*-"),
    ]
    later = []
    for spec, markers in zip(args[1:], ["h", "d", "p", "<", ">"]):
        label, rest = spec.split("=", 1)
        path, start = rest.rsplit("@", 1)
        average, current = run_points(path, int(start))
        if not current:  # no weight average: the bundle's weights are the current ones
            later.append((average, label, markers + "-"))
            continue
        later += [(average, f"{label}, weight average", markers + "--"),
                  (current, f"{label}, current weights", markers + "-")]
    fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
    for points, label, style in recorded + later:
        if points:
            ax.plot(*zip(*points), style, label=label, markersize=4)
    ax.axhline(120, color="grey", linestyle=":", label="issue 15's target (120)")
    ax.axhline(REAL_PHOTOS, color="black", linestyle="--", linewidth=0.8,
               label=f"real photos vs other real photos ({REAL_PHOTOS})")
    ax.set_ylim(bottom=100)
    ax.set_xlabel("iterations" if runs_only else "iterations from scratch (batch 4)")
    ax.set_ylabel("held-out FID, 512x272")
    ax.legend(fontsize=6, ncol=2)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)


if __name__ == "__main__":
    main()
