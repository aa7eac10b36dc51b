#!/usr/bin/env bash
# Starts the real painter under Xvfb, paints a small landscape with xdotool (keyboard shortcuts,
# clicks and drags, exactly as a user would) and saves a screenshot.
#
#   scripts/screenshot.sh [out.png]        (default: target/screenshots/painter.png)
#
# Needs: xvfb, mesa-vulkan-drivers, imagemagick (import), xdotool. On Debian/Ubuntu:
#   apt-get install -y --no-install-recommends xvfb mesa-vulkan-drivers imagemagick xdotool
# Set SCENEPAINT_BIN to use an already built binary (default: cargo build, debug profile).
set -euo pipefail
cd "$(dirname "$0")/.."
out="${1:-target/screenshots/painter.png}"
mkdir -p "$(dirname "$out")"

for tool in Xvfb xdotool; do
  command -v "$tool" >/dev/null || { echo "missing $tool: apt-get install -y --no-install-recommends xvfb mesa-vulkan-drivers imagemagick xdotool" >&2; exit 1; }
done
# /usr/bin/import is ImageMagick's; other 'import' commands may shadow it on PATH.
import_cmd=/usr/bin/import
[ -x "$import_cmd" ] || import_cmd=$(command -v import)

bin="${SCENEPAINT_BIN:-}"
if [ -z "$bin" ]; then
  cargo build --bin scenepaint
  bin=target/debug/scenepaint
fi

display=":${SCREENSHOT_DISPLAY:-97}"
work=$(mktemp -d)
chmod 700 "$work"
cleanup() {
  [ -n "${app_pid:-}" ] && kill "$app_pid" 2>/dev/null || true
  [ -n "${xvfb_pid:-}" ] && kill "$xvfb_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
xvfb_pid=$!
sleep 1
export DISPLAY="$display"
unset WAYLAND_DISPLAY
export XDG_RUNTIME_DIR="$work/runtime" XDG_DATA_HOME="$work/data"
mkdir -p -m 700 "$XDG_RUNTIME_DIR"

"$bin" >"$work/app.log" 2>&1 &
app_pid=$!
win=""
for _ in $(seq 1 120); do
  win=$(xdotool search --name '^scenepaint$' 2>/dev/null | head -1 || true)
  [ -n "$win" ] && break
  kill -0 "$app_pid" 2>/dev/null || { cat "$work/app.log" >&2; echo "scenepaint exited" >&2; exit 1; }
  sleep 0.5
done
[ -n "$win" ] || { cat "$work/app.log" >&2; echo "no scenepaint window" >&2; exit 1; }
sleep 3
eval "$(xdotool getwindowgeometry --shell "$win")" # X, Y, WIDTH, HEIGHT
xdotool windowfocus --sync "$win" 2>/dev/null || true

# The canvas is the area left of the preview and palette panels (320 + 230 points wide),
# below the toolbar; a fresh 512x512 canvas is fitted and centred in it.
cx0=$X; cy0=$((Y + 40)); cw=$((WIDTH - 560)); ch=$((HEIGHT - 70))
at() { # at FX FY: absolute screen position of fractions of the canvas area
  echo "$((cx0 + cw * $1 / 100)) $((cy0 + ch * $2 / 100))"
}
key() { xdotool key --window "$win" "$@"; sleep 0.3; }
click() { xdotool mousemove $(at "$1" "$2"); sleep 0.2; xdotool click 1; sleep 0.3; }
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

key g; key 1; click 50 20                      # fill: sky everywhere
key o; key 2; drag 22 18 42 28; drag 55 12 70 20   # ellipses: clouds
key b; for _ in $(seq 1 14); do key bracketright; done
key 4; drag 12 62 25 38 35 55 50 30 62 52 75 40 88 62   # brush: mountain ridge
key g; key 4; click 50 60                      # fill under the ridge
key r; key 5; drag 10 62 90 75                 # rectangle: hill band
key 9; drag 10 75 90 92                        # rectangle: sea
key b; key 6; drag 30 70 32 70                 # a rock dab
xdotool mousemove $(at 60 45); sleep 1.5       # hover: status bar shows the class

"$import_cmd" -display "$display" -window root "$out"
echo "saved $out"
