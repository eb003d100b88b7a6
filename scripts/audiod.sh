#!/usr/bin/env bash
# Runs a command next to a real sound server whose only output is a null
# sink, so that the desktop tests can record what the app sounds and
# measure it (the alarm tones of IEC 60601-1-8):
#   scripts/audiod.sh run -- CMD [ARG...]
# CMD runs with PULSE_SERVER pointing at a private PulseAudio (Debian's
# pulseaudio, no D-Bus, no hardware, anonymous clients on a private socket)
# whose default sink is `wardwatch_capture`; WARDWATCH_AUDIO_CAPTURE names
# its monitor source, which `parec` records. Everything started here is
# stopped when CMD exits, and the script exits with CMD's status.
# Needs Debian's pulseaudio, pulseaudio-utils and gstreamer1.0-pulseaudio
# (WebKitGTK plays Web Audio through GStreamer) — scripts/setup.sh.
set -euo pipefail

[ "${1:-}" = run ] && [ "${2:-}" = -- ] && [ $# -ge 3 ] || {
  echo "usage: scripts/audiod.sh run -- CMD [ARG...]" >&2
  exit 2
}
shift 2

work=$(mktemp -d "${TMPDIR:-/tmp}/wardwatch-audio.XXXXXX")
pa_pid=""
cleanup() {
  [ -n "$pa_pid" ] && kill "$pa_pid" 2>/dev/null && wait "$pa_pid" 2>/dev/null
  rm -rf "$work"
  true
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -m 700 "$work/runtime" "$work/state"
socket="$work/runtime/native"
# A private instance: its own runtime and state folders, no autospawn, no
# D-Bus, no hardware modules — a null sink and a socket, nothing else.
XDG_RUNTIME_DIR="$work/runtime" HOME="$work/state" PULSE_STATE_PATH="$work/state" \
  pulseaudio -n --daemonize=no --exit-idle-time=-1 --disallow-exit --use-pid-file=no \
    --disable-shm=true \
    -L "module-null-sink sink_name=wardwatch_capture rate=48000 channels=1" \
    -L "module-native-protocol-unix socket=$socket auth-anonymous=1" \
    >"$work/pulseaudio.log" 2>&1 &
pa_pid=$!
export PULSE_SERVER="unix:$socket"
# Up to a minute while it lives (a busy machine starts it slowly).
for _ in $(seq 600); do
  pactl info >/dev/null 2>&1 && break
  kill -0 "$pa_pid" 2>/dev/null || break
  sleep 0.1
done
if ! pactl info >/dev/null 2>&1; then
  echo "audiod: PulseAudio did not start:" >&2
  cat "$work/pulseaudio.log" >&2
  exit 1
fi
pactl set-default-sink wardwatch_capture
export WARDWATCH_AUDIO_CAPTURE=wardwatch_capture.monitor
status=0
"$@" || status=$?
exit "$status"
