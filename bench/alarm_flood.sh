#!/usr/bin/env bash
# A flood of alarms on a real desktop: ALARMS technical alarms raised over
# SECONDS (a source's fault raising one on each of the ward's beds), shown
# through dunst on D-Bus (scripts/notifyd.sh), then resolved. Reports the
# notification daemon's and the X server's CPU, the deliveries, the summary
# notification's updates and the latency, with the summary changed for
# every alarm (the behaviour before, the baseline) and at most once a
# second, in the same run.
#
#   bash bench/alarm_flood.sh [ALARMS] [SECONDS]     (defaults: 500, 10)
set -euo pipefail
cd "$(dirname "$0")/.."
ALARMS=${1:-500}
SPAN=${2:-10}
cargo bench -q -p wardwatch-runtime --bench pipeline --no-run
# shellcheck disable=SC2016  # expanded by the inner shell
exec bash scripts/notifyd.sh run -- bash -c '
  DUNST_PID=$(pgrep -n -x dunst) XVFB_PID=$(pgrep -n -x Xvfb) \
    cargo bench -q -p wardwatch-runtime --bench pipeline -- alarm-flood "$0" "$1"' "$ALARMS" "$SPAN"
