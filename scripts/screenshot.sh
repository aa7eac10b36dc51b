#!/usr/bin/env bash
# Starts the real painter under Xvfb (Mesa's software renderer), drives it with xdotool as a
# user would and saves screenshots, for checking by eye:
#
#   scripts/screenshot.sh painter  [out.png]   the example scene, a painted rock on the trail,
#                                               and the default model's preview
#   scripts/screenshot.sh quit     [out.png]   a stroke, then Ctrl+Q: the unsaved-changes question
#   scripts/screenshot.sh save     [out.png]   a stroke, then Ctrl+S: the file dialog (run it
#                                               without zenity or a desktop portal to see the
#                                               in-app browser; SCENEPAINT_FILE_DIALOG=builtin
#                                               forces it)
#   scripts/screenshot.sh training DATASET [out.png]
#                                               the training panel on DATASET (a prepared copy,
#                                               e.g. `scenepaint dataset prepare ... --size 128x64`)
#                                               a few seconds after pressing Start
#
# Needs: xvfb, mesa-vulkan-drivers, imagemagick (import), xdotool. On Debian/Ubuntu:
#   apt-get install -y --no-install-recommends xvfb mesa-vulkan-drivers imagemagick xdotool
# Set SCENEPAINT_BIN to use an already built binary (default: cargo build --release).
set -euo pipefail
cd "$(dirname "$0")/.."
scene="${1:-painter}"
shift || true
dataset=""
if [ "$scene" = training ]; then
  dataset="${1:?usage: scripts/screenshot.sh training DATASET [out.png]}"
  shift
fi
out="${1:-target/screenshots/$scene.png}"
mkdir -p "$(dirname "$out")"

for tool in Xvfb xdotool; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y --no-install-recommends xvfb mesa-vulkan-drivers imagemagick xdotool" >&2; exit 1; }
done
# /usr/bin/import is ImageMagick's; other 'import' commands may shadow it on PATH.
import_cmd=/usr/bin/import
[ -x "$import_cmd" ] || import_cmd=$(command -v import)

bin="${SCENEPAINT_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --release --bin scenepaint
  bin=target/release/scenepaint
fi

display=":${SCREENSHOT_DISPLAY:-97}"
work=$(mktemp -d)
chmod 700 "$work"
cleanup() {
  [ -n "${app_pid:-}" ] && kill "$app_pid" 2>/dev/null || true
  # Wait for the server to go: the next run reuses the display number.
  [ -n "${xvfb_pid:-}" ] && { kill "$xvfb_pid" 2>/dev/null; wait "$xvfb_pid" 2>/dev/null; } || true
  rm -rf "$work"
}
trap cleanup EXIT

# SCREENSHOT_SIZE (default 1280x800) is the screen and the window size.
size="${SCREENSHOT_SIZE:-1280x800}"
number="${display#:}"
# A server of an earlier run that is still shutting down holds the display's lock.
for _ in $(seq 50); do [ -e "/tmp/.X${number}-lock" ] || break; sleep 0.1; done
Xvfb "$display" -screen 0 "${size}x24" -nolisten tcp >"$work/xvfb.log" 2>&1 &
xvfb_pid=$!
for _ in $(seq 100); do
  [ -S "/tmp/.X11-unix/X${number}" ] && break
  kill -0 "$xvfb_pid" 2>/dev/null || { echo "Xvfb did not start:" >&2; cat "$work/xvfb.log" >&2; exit 1; }
  sleep 0.1
done
export DISPLAY="$display"
unset WAYLAND_DISPLAY
# SCREENSHOT_DATA_HOME keeps autosaves between runs (to see the restore dialog).
export XDG_RUNTIME_DIR="$work/runtime" XDG_DATA_HOME="${SCREENSHOT_DATA_HOME:-$work/data}"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"

args=()
[ -n "$dataset" ] && args=(--dataset "$dataset")
"$bin" "${args[@]}" >"$work/app.log" 2>&1 &
app_pid=$!
win=""
for _ in $(seq 1 120); do
  win=$(xdotool search --name '^scenepaint$' 2>/dev/null | head -1 || true)
  [ -n "$win" ] && break
  kill -0 "$app_pid" 2>/dev/null || { cat "$work/app.log" >&2; echo "scenepaint exited" >&2; exit 1; }
  sleep 0.5
done
[ -n "$win" ] || { cat "$work/app.log" >&2; echo "no scenepaint window" >&2; exit 1; }
xdotool windowmove "$win" 0 0 windowsize "$win" "${size%x*}" "${size#*x}" 2>/dev/null || true
sleep 8 # the default model loads and the first preview arrives
eval "$(xdotool getwindowgeometry --shell "$win")" # X, Y, WIDTH, HEIGHT
xdotool windowfocus --sync "$win" 2>/dev/null || true

# The canvas is the top half of the area beside the side panel (290 points wide), below the
# toolbar and its name row: the wide example scene (512x256) stacks painting above preview,
# fitted and centred.
cx0=$X; cy0=$((Y + 52)); cw=$((WIDTH - 290)); ch=$(((HEIGHT - 60) / 2 - 28))
at() { # at FX FY: absolute screen position of fractions of the canvas area
  echo "$((cx0 + cw * $1 / 100)) $((cy0 + ch * $2 / 100))"
}
key() { xdotool key --window "$win" "$@"; sleep 0.3; }
drag() { # drag X1 Y1 X2 Y2 ... in canvas percentages, moving in small steps
  local x=$1 y=$2; shift 2
  xdotool mousemove $(at "$x" "$y"); sleep 0.2; xdotool mousedown 1; sleep 0.1
  while [ $# -ge 2 ]; do
    local nx=$1 ny=$2; shift 2
    for s in 1 2 3 4 5 6 7 8; do
      xdotool mousemove $(at $((x + (nx - x) * s / 8)) $((y + (ny - y) * s / 8))); sleep 0.04
    done
    x=$nx; y=$ny
  done
  xdotool mouseup 1; sleep 0.3
}

case "$scene" in
  painter)
    key b; for _ in $(seq 1 6); do key bracketright; done
    key 6; drag 45 62 52 62 50 68 46 66        # brush, class 6 (obstacle): a rock on the trail
    key 8; drag 8 48 20 44 30 50               # class 8 (high vegetation): a bush on the left
    xdotool mousemove $(at 60 30); sleep 4      # the preview catches up
    ;;
  quit)
    key b; key 6; drag 45 62 52 62 50 68       # an unsaved stroke, then Ctrl+Q: the question
    key ctrl+q; sleep 1
    ;;
  save)
    key b; key 6; drag 45 62 52 62 50 68       # an unsaved stroke, then Ctrl+S: where to?
    key ctrl+s; sleep 2
    ;;
  training)
    # The training panel is docked at the left; Start is found by its
    # position below the options (measured on a 1280x800 screen).
    xdotool mousemove $((X + ${START_X:-30})) $((Y + ${START_Y:-401})); sleep 0.3
    xdotool click 1
    sleep "${TRAIN_SECONDS:-25}"
    ;;
  *) echo "unknown scene $scene (painter, quit, save, training)" >&2; exit 1 ;;
esac

"$import_cmd" -display "$display" -window root "$out"
echo "saved $out"
# SCENEPAINT_FRAME_STATS=1: the UI thread's frame times the painter reported meanwhile.
grep '^frame ms' "$work/app.log" | tail -2 || true
