#!/usr/bin/env python3
"""What a generator of a given size can score at best: real photos, shrunk to that size and
enlarged back, against the held-out photos (issue 15's FID, 512x272, 47 a side).

A perfect model would produce photos as real as the data's own but of other scenes; so the
reading is each of three disjoint sets of *other* training photos (every 10th photo from
positions 3, 6 and 8, as in docs/bench/fid-floor-2026-12-06-s13.txt) shrunk to WxH with
bicubic filtering and enlarged back, against the held-out photos at full size. The held-out
photos themselves, shrunk and enlarged, show what the resizing alone costs. A fourth set
retrieves, for each held-out label map, the training photo whose label map agrees with it at
the most pixels (at 128x68): real photos that share the held-out layouts as far as the data
allows, which is what a model's fakes do.

usage: resolution_floor.py SCENEPAINT DATA HOLDOUT.txt WORKDIR [WxH ...]
  e.g. resolution_floor.py target/release/scenepaint ../shared/datasets/ycor \
           runs/ycor-spade-256-r12/holdout.txt /tmp/floor 256x128 512x256
  (needs Pillow and NumPy; SCENEPAINT_FID_NETWORK or weights/ must hold the FID network)
"""
import os
import subprocess
import sys

import numpy as np
from PIL import Image

EVAL_SIZE = (512, 272)
OTHER_SETS = (3, 6, 8)
LAYOUT_SIZE = (128, 68)


def write_set(images, names, out, size, numbered=False):
    """`names` from `images`, shrunk to `size` and enlarged to EVAL_SIZE (`None`: as they are);
    `numbered` names the files by position (a retrieved photo may serve several maps)."""
    os.makedirs(out, exist_ok=True)
    for i, name in enumerate(names):
        image = Image.open(os.path.join(images, name)).convert("RGB")
        if size is not None:
            image = image.resize(size, Image.BICUBIC).resize(EVAL_SIZE, Image.BICUBIC)
        stem = f"{i:03}" if numbered else os.path.splitext(name)[0]
        image.save(os.path.join(out, stem + ".png"))


def nearest_layouts(data, held, others):
    """For each of `held`, the photo of `others` whose label map agrees at the most pixels."""
    def label_map(name):
        path = os.path.join(data, "train", "labels", os.path.splitext(name)[0] + ".png")
        return np.array(Image.open(path).resize(LAYOUT_SIZE, Image.NEAREST))
    maps = {name: label_map(name) for name in held + others}
    return [max(others, key=lambda o: np.mean(maps[h] == maps[o])) for h in held]


def evaluate(binary, real, fake):
    size = f"{EVAL_SIZE[0]}x{EVAL_SIZE[1]}"
    result = subprocess.run(
        [binary, "evaluate", "--real", real, "--fake", fake, "--size", size],
        check=True, capture_output=True, text=True)
    return result.stdout.strip().splitlines()[-1]


def main():
    if len(sys.argv) < 5:
        sys.exit(__doc__)
    binary, data, holdout, work = sys.argv[1:5]
    sizes = [tuple(int(v) for v in s.split("x")) for s in sys.argv[5:]] or [(256, 128)]
    images = os.path.join(data, "train", "images")
    names = sorted(os.listdir(images))
    with open(holdout) as f:
        held = {line.strip() for line in f if line.strip()}
    sets = {"held-out": [n for n in names if os.path.splitext(n)[0] in held]}
    if len(sets["held-out"]) != len(held):
        sys.exit(f"{holdout}: {len(held)} names, {len(sets['held-out'])} found in {images}")
    for k in OTHER_SETS:
        sets[f"photos {k}~10"] = [n for n in names[k - 1::10] if n not in sets["held-out"]]
    others = [n for n in names if n not in sets["held-out"]]
    sets["nearest layouts"] = nearest_layouts(data, sets["held-out"], others)
    real = os.path.join(work, "held-out-full")
    write_set(images, sets["held-out"], real, None)
    for size in sizes:
        for label, chosen in sets.items():
            fake = os.path.join(work, f"{label.replace(' ', '-').replace('~', '-')}-{size[0]}")
            write_set(images, chosen, fake, size, label == "nearest layouts")
            print(f"{label} at {size[0]}x{size[1]}, enlarged, against the held-out photos: "
                  f"{evaluate(binary, real, fake)}", flush=True)


if __name__ == "__main__":
    main()
