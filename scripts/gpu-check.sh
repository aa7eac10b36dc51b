#!/usr/bin/env bash
# The GPU check, in two halves:
#
#   scripts/gpu-check.sh prepare      # here (Rust, ../shared): fills target/gpu-check/ (< 64 MiB)
#   scripts/gpu-check.sh run          # on the GPU machine (no Rust; PyTorch with CUDA), from the
#                                     # repository root, with target/gpu-check carried; writes $OUT
#
# `prepare` takes the CUDA binary of scripts/build-cuda.sh (xz-compressed), the reference cases
# of ../shared/reference (without their .pth twins, which the CPU tests already compare), and
# 64 ycor pairs shrunk to 256x128 with `scenepaint dataset prepare`.
#
# `run` finds CUDA's runtime libraries in PyTorch's site-packages (nvidia/*/lib), then, each step
# with its own time limit and its output under $OUT (a failing step does not stop the others):
#   nvidia-smi and ldd of the binary; the reference cases on cuda:0 (`scenepaint reference`);
#   `scenepaint bench --device cuda:0` and scripts/bench_pytorch.py --device cuda (the same
#   networks in PyTorch on the same GPU); `bench --train` on cuda:0; a 200-iteration spade-compact
#   run on the prepared ycor pairs (VGG loss off: its weights would not fit the carry limit);
#   and, for the fallback, `translate` on the CPU from the same binary. The limits add up to
#   the device tool's 600 s per command; on an H200 each step needs a fraction of its limit.
#
# On this project's device tool: run(command="OUT=$OUT scripts/gpu-check.sh run",
#   carry=["target/gpu-check"], timeout_s=600).
set -uo pipefail
cd "$(dirname "$0")/.."
mode="${1:?usage: scripts/gpu-check.sh prepare|run}"
carry=target/gpu-check

prepare() {
  set -e
  local cuda_bin="${CUDA_BIN:-target/cuda/release/scenepaint}"
  local cpu_bin="${CPU_BIN:-target/release/scenepaint}"
  [ -x "$cuda_bin" ] || { echo "no CUDA binary at $cuda_bin: run scripts/build-cuda.sh" >&2; exit 1; }
  [ -x "$cpu_bin" ] || cargo build --release --bin scenepaint
  rm -rf "$carry" && mkdir -p "$carry/reference"
  xz -T0 -6 -c "$cuda_bin" >"$carry/scenepaint.xz"
  for case_json in ../shared/reference/*.json; do
    [ "$(basename "$case_json")" = MANIFEST.json ] && continue
    python3 - "$case_json" "$carry/reference" <<'EOF'
import json, os, shutil, sys
path, out = sys.argv[1], sys.argv[2]
case = json.load(open(path))
case.pop("weights_pth", None)
json.dump(case, open(os.path.join(out, os.path.basename(path)), "w"))
stem = os.path.splitext(path)[0]
for suffix in (".io.safetensors", ".weights.safetensors"):
    if os.path.exists(stem + suffix):
        shutil.copy(stem + suffix, out)
EOF
  done
  local pairs="$carry/ycor-source"
  mkdir -p "$pairs/images" "$pairs/labels"
  for photo in $(ls ../shared/datasets/ycor/train/images | head -64); do
    ln -s "$PWD/../shared/datasets/ycor/train/images/$photo" "$pairs/images/$photo"
    ln -s "$PWD/../shared/datasets/ycor/train/labels/${photo%.*}.png" "$pairs/labels/${photo%.*}.png"
  done
  "$cpu_bin" dataset prepare "$pairs" --size 256x128 --palette ycor --out "$carry/ycor-256x128" >/dev/null
  rm -rf "$pairs"
  local total
  total=$(du -sm "$carry" | cut -f1)
  echo "prepared $carry: $total MiB (the device tool carries 64 MiB)"
  [ "$total" -lt 64 ] || { echo "error: $carry is over 64 MiB" >&2; exit 1; }
}

step() { # step NAME SECONDS COMMAND...: runs COMMAND with a time limit, output to $OUT/NAME.txt
  local name=$1 seconds=$2; shift 2
  echo "== $name"
  local started=$SECONDS
  timeout "$seconds" "$@" >"$OUT/$name.txt" 2>&1
  local rc=$?
  echo "$name: exit $rc after $((SECONDS - started)) s" | tee -a "$OUT/summary.txt"
}

run() {
  : "${OUT:?set OUT to the folder for the results}"
  mkdir -p "$OUT"
  local bin
  bin="$(mktemp -d)/scenepaint-cuda"
  # shellcheck source=scripts/gpu-runtime.sh
  . scripts/gpu-runtime.sh
  cuda_runtime "$carry/scenepaint.xz" "$bin"
  export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-16}"
  step nvidia-smi 15 nvidia-smi
  step ldd 15 ldd "$bin"
  step reference-cuda 90 "$bin" reference --dir "$carry/reference" --device cuda:0
  step bench-cuda 90 "$bin" bench --device cuda:0 --runs 5
  step bench-pytorch-cuda 90 python3 scripts/bench_pytorch.py --device cuda --runs 5
  step bench-train-cuda 90 "$bin" bench --train-only --filter spade-compact --train-steps 20 --device cuda:0
  cat >"$OUT/train-config.json" <<'EOF'
{"lambda_vgg": 0.0, "load_width": 256, "load_height": 128, "crop_width": 256, "crop_height": 128,
 "log_every": 10, "sample_every": 100, "checkpoint_every": 100, "holdout_every": 10, "seed": 1}
EOF
  step train-200-cuda 170 "$bin" train --data "$carry/ycor-256x128" --net spade --preset spade-compact \
    --palette ycor --config "$OUT/train-config.json" --iters 200 --device cuda:0 --out "$OUT/run"
  step cpu-fallback-translate 30 "$bin" translate --model weights/ycor-spade \
    --input assets/examples/ycor-trail.png --output "$OUT/translated-on-cpu.png"
  rm -f "$OUT/run/checkpoint.safetensors" "$bin"
  cat "$OUT/summary.txt"
}

case "$mode" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: scripts/gpu-check.sh prepare|run" >&2; exit 2 ;;
esac
