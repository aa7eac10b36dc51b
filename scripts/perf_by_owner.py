#!/usr/bin/env python3
"""Where a profile's time goes by scenepaint function, for release builds whose kernels run
inside inlined rayon closures (a flat `perf report` shows them as `call_mut` / `fold_with`).

Build with line tables, record with DWARF call graphs, then aggregate:

    CARGO_PROFILE_RELEASE_DEBUG=line-tables-only CARGO_TARGET_DIR=../target-prof \\
        cargo build --release
    perf record -F 499 --call-graph dwarf,65528 -o p.data \\
        ../target-prof/release/scenepaint bench --no-candle --train-only --filter pix2pix-compact
    perf script -i p.data -F comm,tid,ip,sym > p.txt
    python3 scripts/perf_by_owner.py p.txt

Each sample is charged to its owner, the innermost frame naming a scenepaint function (or a
Candle tensor op or backward), and to its leaf kind (gemm, memset, im2col, ...). Prints the
owners' shares, then the (owner, leaf) pairs'.
"""
import collections
import re
import sys

LEAF_KINDS = ["gemm", "memset", "memmove", "memcpy", "binary_map", "unary_map", "im2col",
              "transpose_rows"]
# Frames that only pass values along: the owner is the caller that chose the work.
PLUMBING = ("with_values", "collect_par", "storage")


def samples(path):
    """The frames of each sample, innermost first, from `perf script` output."""
    frames = []
    with open(path, encoding="utf-8", errors="replace") as lines:
        for line in lines:
            if line.startswith((" ", "\t")):
                parts = line.strip().split(None, 1)
                frames.append(parts[1] if len(parts) > 1 else "?")
            elif frames:
                yield frames
                frames = []
    if frames:
        yield frames


def owner(frames):
    for frame in frames:
        found = re.search(r"scenepaint::[A-Za-z0-9_:]+", frame)
        if found and not any(p in found.group(0) for p in PLUMBING):
            return found.group(0)[:90]
        if "candle_core::tensor::Tensor::" in frame or "candle_core::backprop" in frame:
            return re.search(r"candle_core::[A-Za-z0-9_:]+", frame).group(0)[:90]
    return "other"


def leaf(frames):
    for kind in LEAF_KINDS:
        if kind in frames[0]:
            return kind
    return re.sub(r"\(.*", "", frames[0])[:50]


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    owners, pairs = collections.Counter(), collections.Counter()
    for frames in samples(sys.argv[1]):
        who = owner(frames)
        owners[who] += 1
        pairs[(who, leaf(frames))] += 1
    total = sum(owners.values()) or 1
    print(f"{total} samples")
    for who, count in owners.most_common(30):
        print(f"{100 * count / total:5.1f}% {who}")
    print()
    for (who, kind), count in pairs.most_common(40):
        print(f"{100 * count / total:5.1f}% {who} | {kind}")


if __name__ == "__main__":
    main()
