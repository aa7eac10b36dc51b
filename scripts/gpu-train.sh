#!/usr/bin/env bash
# Training runs on a lent GPU machine (no Rust there; PyTorch with CUDA), in three steps:
#
#   scripts/gpu-train.sh prepare        # here: fills target/gpu-train/ (< 64 MiB with the tree)
#   scripts/gpu-train.sh run            # there, with target/gpu-train carried: trains, packs $OUT
#   scripts/gpu-train.sh collect NAME   # there, in a second call while the machine is warm:
#                                       # packs the run NAME left in /tmp/gpu-runs into $OUT
#   scripts/gpu-train.sh unpack DIR     # here: joins what came back into DIR/<run>/
#
# `prepare` takes the CUDA binary of scripts/build-cuda.sh (xz-compressed) and all ycor pairs
# resized to the runs' load size (280x149) with `scenepaint dataset prepare`.
#
# The device tool sends the working tree (tracked files too) and the carried folder, 64 MiB in
# all; the tracked model bundles alone are over 100 MB. For the call, leave only what `run`
# reads in git's view, and put the index back after:
#   cp .git/index /tmp/index.bak && git rm -r --cached -q . && git add scripts assets weights/vgg16
#   printf '/*\n!/scripts/\n!/assets/\n!/weights/\n/weights/*\n!/weights/vgg16/\n' > .git/info/exclude
#   ... run(command="OUT=$OUT scripts/gpu-train.sh run", carry=["target/gpu-train"]) ...
#   cp /tmp/index.bak .git/index && rm .git/info/exclude
#
# `run` trains the runs listed in RUNS below side by side on one GPU (small networks leave an
# H200 mostly idle, so three processes cost little more than one). It fits a wall-clock
# budget (BUDGET_S) while keeping each run's linear learning-rate decay: a probe phase trains
# each run for PROBE_S with an unreachable total, stops it (SIGINT: checkpoint + bundle), reads
# its iterations per second from losses.jsonl, and resumes it with the total it can reach in
# the time left, so its rates decay to 0 by the end. The first run's bundle comes back whole;
# the others' float weights are rounded to f16 for the trip (the return limit is 64 MiB), and
# `collect` brings one of them back whole. Nothing is evaluated there (the FID network does not
# fit the carry limit): `scenepaint evaluate` runs here on what came back.
set -uo pipefail
cd "$(dirname "$0")/.."
mode="${1:?usage: scripts/gpu-train.sh prepare|run|collect NAME|unpack DIR}"
carry=target/gpu-train
runs_dir=/tmp/gpu-runs
# name:net:config, the first is the one that comes back whole from `run`.
# GPU_TRAIN_RUNS (space-separated entries) replaces the list, e.g. for a trial on the CPU.
if [ -n "${GPU_TRAIN_RUNS:-}" ]; then
  read -r -a RUNS <<<"$GPU_TRAIN_RUNS"
else
  RUNS=(
    "spade-b16:spade:assets/train/ycor-spade-256-b16.json"
    "spade-b8:spade:assets/train/ycor-spade-256-b8.json"
    "pix2pix-b4:pix2pix:assets/train/ycor-pix2pix-256.json"
  )
fi

prepare() {
  set -e
  local cuda_bin="${CUDA_BIN:-target/cuda/release/scenepaint}"
  local cpu_bin="${CPU_BIN:-target/release/scenepaint}"
  [ -x "$cuda_bin" ] || { echo "no CUDA binary at $cuda_bin: run scripts/build-cuda.sh" >&2; exit 1; }
  [ -x "$cpu_bin" ] || { echo "no CPU binary at $cpu_bin: cargo build --release" >&2; exit 1; }
  rm -rf "$carry" && mkdir -p "$carry"
  xz -T0 -6 -c "$cuda_bin" >"$carry/scenepaint.xz"
  "$cpu_bin" dataset prepare ../shared/datasets/ycor --size 280x149 --palette ycor \
    --out "$carry/ycor-280x149" >/dev/null
  echo "prepared $carry: $(du -sm "$carry" | cut -f1) MiB"
}

runtime() { # the CUDA binary unpacked, CUDA's runtime libraries found (scripts/gpu-runtime.sh)
  bin="${BIN:-/tmp/scenepaint-cuda}"
  # shellcheck source=scripts/gpu-runtime.sh
  . scripts/gpu-runtime.sh
  cuda_runtime "$carry/scenepaint.xz" "$bin"
}

last_field() { # last_field FILE FIELD: FIELD of losses.jsonl's last iteration line
  python3 - "$1" "$2" <<'EOF'
import json, sys
value = 0
for line in open(sys.argv[1]):
    record = json.loads(line)
    if "iters_per_s" in record:
        value = record[sys.argv[2]]
print(value)
EOF
}

pack() { # pack NAME f32|f16: the run's bundle, log and last sample as tar parts in $OUT
  local name=$1 precision=$2 run="$runs_dir/$1" staging
  staging=$(mktemp -d)/"$name"
  mkdir -p "$staging"
  cp -r "$run/model" "$staging/" 2>/dev/null || { echo "$name: no bundle" | tee -a "$OUT/summary.txt"; return; }
  cp "$run/losses.jsonl" "$run/config.json" "$runs_dir/$name".*.log "$staging/" 2>/dev/null
  local sample
  sample=$(ls "$run/samples/"*.png 2>/dev/null | sort | tail -1)
  [ -n "$sample" ] && cp "$sample" "$staging/"
  if [ "$precision" = f16 ]; then
    python3 - "$staging/model" <<'EOF'
import glob, sys
import numpy as np
from safetensors.numpy import load_file, save_file
for path in glob.glob(sys.argv[1] + "/*.safetensors"):
    tensors = load_file(path)
    save_file({k: (v.astype(np.float16) if v.dtype == np.float32 and "running_" not in k else v)
               for k, v in tensors.items()}, path)
EOF
  fi
  tar -C "$(dirname "$staging")" -cf - "$name" | split -b 15M -d - "$OUT/$name.$precision.tar."
}

run() {
  : "${OUT:?set OUT to the folder for the results}"
  local budget_s="${BUDGET_S:-470}" probe_s="${PROBE_S:-70}" device="${DEVICE:-cuda:0}"
  local started=$SECONDS
  runtime
  export RAYON_NUM_THREADS="${RAYON_NUM_THREADS:-4}"
  { nvidia-smi -L; ldd "$bin" | grep -E 'cuda|cublas|curand|not found'; } 2>&1 | tee "$OUT/summary.txt"
  if ldd "$bin" | grep -q 'not found'; then echo "missing libraries" | tee -a "$OUT/summary.txt"; return 3; fi
  rm -rf "$runs_dir" && mkdir -p "$runs_dir"
  local entry name net config
  for entry in "${RUNS[@]}"; do
    IFS=: read -r name net config <<<"$entry"
    timeout -s INT "$probe_s" "$bin" train --data "$carry/ycor-280x149" --net "$net" \
      --preset "$net-compact" --config "$config" --iters 1000000 --device "$device" \
      --out "$runs_dir/$name" >"$runs_dir/$name.probe.log" 2>&1 &
  done
  wait
  local left=$((budget_s - (SECONDS - started)))
  for entry in "${RUNS[@]}"; do
    IFS=: read -r name net config <<<"$entry"
    local losses="$runs_dir/$name/losses.jsonl" done_iters rate total
    done_iters=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["training"]["iterations"])' \
      "$runs_dir/$name/model/model.json" 2>/dev/null || echo 0)
    rate=$(last_field "$losses" iters_per_s 2>/dev/null || echo 0)
    total=$(python3 -c "print(int($done_iters + $rate * 0.92 * ($left - 25)))")
    echo "$name: probe reached iteration $done_iters at $rate it/s; resuming to $total" | tee -a "$OUT/summary.txt"
    timeout -s INT "$((left - 5))" "$bin" train --data "$carry/ycor-280x149" --net "$net" \
      --out "$runs_dir/$name" --resume --iters "$total" --device "$device" \
      >"$runs_dir/$name.train.log" 2>&1 &
  done
  wait
  for entry in "${RUNS[@]}"; do
    IFS=: read -r name net config <<<"$entry"
    echo "$name: $(tail -1 "$runs_dir/$name.train.log")" | tee -a "$OUT/summary.txt"
  done
  local first="${RUNS[0]%%:*}"
  pack "$first" f32
  for entry in "${RUNS[@]:1}"; do
    [ "${entry%%:*}" = pix2pix-b4 ] || pack "${entry%%:*}" f16
  done
  tar -C "$runs_dir" -cf "$OUT/logs.tar" $(cd "$runs_dir" && ls *.log)
  echo "finished after $((SECONDS - started)) s" | tee -a "$OUT/summary.txt"
}

collect() {
  : "${OUT:?set OUT to the folder for the results}"
  mkdir -p "$OUT"
  pack "${1:?collect needs a run name}" f32
  ls -la "$OUT"
}

unpack() { # joins the parts in the device tool's folder FROM into DIR
  local dir="${1:?unpack needs DIR}" from="${2:?and the folder the files came back to}"
  mkdir -p "$dir"
  local first
  for first in "$from"/*.tar.00; do
    cat "${first%.00}".* | tar -C "$dir" -xf -
  done
  ls "$dir"
}

case "$mode" in
  prepare) prepare ;;
  run) run ;;
  collect) collect "${2:-}" ;;
  unpack) unpack "${2:-}" "${3:-}" ;;
  *) echo "usage: scripts/gpu-train.sh prepare|run|collect NAME|unpack DIR FROM" >&2; exit 2 ;;
esac
