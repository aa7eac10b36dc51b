"""Writes the .pth fixtures of tests/weights.rs with real PyTorch (run outside the project:
python3 -m venv venv && venv/bin/pip install torch safetensors).

From reference cases' safetensors weights in ../shared/reference it writes each state dict
in the legacy (pre-1.6, non-zip) torch.save format the published SPADE and pix2pixHD
checkpoints use and, where ../shared has none, in today's zip format. The tests read them back and compare every tensor
with the safetensors file."""
import collections
import pathlib
import sys

import torch
from safetensors.torch import load_file

# pix2pixhd_global's zip-format .pth is in ../shared/reference already; spade_discriminator
# adds spectral norm (weight_orig / weight_u / weight_v) in both formats.
CASES = {"pix2pixhd_global": ["legacy"], "spade_discriminator": ["legacy", "zip"]}


def main(reference: pathlib.Path, out: pathlib.Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    for case, formats in CASES.items():
        tensors = load_file(str(reference / f"{case}.weights.safetensors"))
        # A state dict as a module's state_dict() returns it: an OrderedDict with _metadata.
        state = collections.OrderedDict(sorted(tensors.items()))
        state._metadata = collections.OrderedDict({"": {"version": 1}})
        for fmt in formats:
            legacy = fmt == "legacy"
            torch.save(state, out / f"{case}.{fmt}.pth", _use_new_zipfile_serialization=not legacy)
        print(case, len(state), "tensors")


if __name__ == "__main__":
    here = pathlib.Path(__file__).resolve().parent.parent
    main(
        pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else here.parent / "shared/reference",
        here / "tests/fixtures/pth",
    )
