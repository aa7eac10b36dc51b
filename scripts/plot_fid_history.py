#!/usr/bin/env python3
"""Held-out FID of a chain of training runs against iterations (weights/samples/*-fid.png).

The points live in a history file committed beside the plot (weights/samples/
ycor-spade-256-fid-history.json, ycor-pix2pix-256-fid-history.json), because run folders
(runs/) do not survive a lost machine: the folders of runs 1 to r10 are gone and their
evaluations are the ones recorded there. A run in progress is drawn from its losses.jsonl,
given as LABEL=PATH@START (START: the chain's iteration it started from), and `--record`
copies its evaluations into the history at a milestone.

usage: plot_fid_history.py HISTORY.json OUT.png [LABEL=runs/RUN/losses.jsonl@START ...]
       plot_fid_history.py --record HISTORY.json LABEL=runs/RUN/losses.jsonl@START [MARKER]
  (needs matplotlib for drawing; MARKER: a matplotlib marker such as ">", default ".")
  e.g. plot_fid_history.py weights/samples/ycor-spade-256-fid-history.json \
           weights/samples/ycor-spade-256-fid.png \
           "r11 (decay from the default)=runs/ycor-spade-256-r11/losses.jsonl@14250"
"""
import json
import sys


def run_points(path, start):
    """[iteration, FID] of a run's losses.jsonl: (weight average, current weights)."""
    average, current = [], []
    with open(path) as f:
        for line in f:
            record = json.loads(line)
            if "fid" not in record:
                continue
            point = [start + record["iteration"], round(record["fid"], 1)]
            (current if record.get("current_weights") else average).append(point)
    if not average and not current:
        sys.exit(f"{path}: no evaluation (no line with \"fid\")")
    return average, current


def live_run(spec, marker):
    """A history entry from LABEL=PATH@START."""
    label, rest = spec.split("=", 1)
    path, start = rest.rsplit("@", 1)
    average, current = run_points(path, int(start))
    if not current:  # no weight average: the evaluated weights are the current ones
        average, current = [], average
    return {"label": label, "style": marker, "average": average, "current": current}


def record(history_path, spec, marker):
    with open(history_path) as f:
        history = json.load(f)
    run = live_run(spec, marker)
    history["runs"] = [r for r in history["runs"] if r["label"] != run["label"]] + [run]
    with open(history_path, "w") as f:
        f.write(dumps(history))
    print(f"{history_path}: {run['label']}: {len(run['average'])} average and "
          f"{len(run['current'])} current-weight evaluations recorded")


def dumps(history):
    """JSON with one run's point list per line, so a diff shows the points that changed."""
    compact = {}
    runs = []
    for number, run in enumerate(history["runs"]):
        run = dict(run)
        for key in ("average", "current"):
            if key in run:
                placeholder = f"@points {number} {key}@"
                compact[json.dumps(placeholder)] = json.dumps(run[key])
                run[key] = placeholder
        runs.append(run)
    text = json.dumps({**history, "runs": runs}, indent=1)
    for placeholder, points in compact.items():
        text = text.replace(placeholder, points)
    return text + "\n"


def draw(history_path, out, live):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(history_path) as f:
        history = json.load(f)
    markers = iter([">", "*", "X", "8", "H"])
    runs = history["runs"] + [live_run(spec, next(markers)) for spec in live]
    fig, ax = plt.subplots(figsize=(9.6, 4.2), dpi=100)
    for run in runs:
        average, current = run.get("average", []), run.get("current", [])
        colour = None  # one colour per run: its average dashed, its current weights solid
        if average:
            (line,) = ax.plot(*zip(*average), run["style"] + "--", markersize=4,
                              label=f"{run['label']}, weight average")
            colour = line.get_color()
        if current:
            ax.plot(*zip(*current), run["style"] + "-", markersize=4, color=colour,
                    label=f"{run['label']}, current weights" if average else run["label"])
    ax.axhline(history["target"], color="grey", linestyle=":",
               label=f"issue 15's target ({history['target']})")
    real = history.get("real_photos")
    if real:
        ax.axhline(real["fid"], color="black", linestyle="--", linewidth=0.8,
                   label=f"real photos vs other real photos ({real['fid']})")
    ax.set_ylim(bottom=100)
    ax.set_xlabel(history["x_label"])
    ax.set_ylabel("held-out FID, 512x272")
    # The legend goes beside the axes: inside them it covered the points.
    ax.legend(fontsize=6, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out)


def main():
    args = sys.argv[1:]
    if args[:1] == ["--record"] and len(args) in (3, 4):
        record(args[1], args[2], args[3] if len(args) == 4 else ".")
    elif len(args) >= 2 and args[0] != "--record":
        draw(args[0], args[1], args[2:])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
