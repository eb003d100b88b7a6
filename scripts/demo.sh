#!/usr/bin/env bash
# Runs the Wardwatch desktop app with its built-in demo ward, from a fresh
# Debian 12 machine (as root): installs what is missing, builds, starts.
#   scripts/demo.sh
# The demo's store lives in ${WARDWATCH_DEMO_DIR:-$HOME/.local/share/wardwatch-demo}.
# With no X display (a headless server) the window opens on a virtual Xvfb
# display and a screenshot is written to target/demo-screenshot.png.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/setup.sh
cargo build --locked -p wardwatch -p wardwatchctl

DEMO_DIR="${WARDWATCH_DEMO_DIR:-${XDG_DATA_HOME:-$HOME/.local/share}/wardwatch-demo}"
APP=(target/debug/wardwatch --demo --data-dir "$DEMO_DIR")

if [ -n "${DISPLAY:-}" ]; then
  exec "${APP[@]}"
fi

echo "demo: no DISPLAY; running the window on a virtual display (Xvfb :77)"
Xvfb :77 -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
XVFB_PID=$!
export DISPLAY=:77
trap 'kill $XVFB_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do xdpyinfo >/dev/null 2>&1 && break; sleep 0.1; done
"${APP[@]}" &
APP_PID=$!
sleep 8
import -window root target/demo-screenshot.png && echo "demo: screenshot in target/demo-screenshot.png"
echo "demo: the app is running (pid $APP_PID); press Ctrl-C to stop"
wait "$APP_PID"
