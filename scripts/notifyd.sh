#!/usr/bin/env bash
# Runs a command next to a real freedesktop notification daemon, so that
# wardwatch-notify's tests (and any other) reach a real `Notify` over D-Bus:
#   scripts/notifyd.sh run -- CMD [ARG...]
# CMD runs inside a private `dbus-run-session` with dunst owning
# org.freedesktop.Notifications; DBUS_SESSION_BUS_ADDRESS and DISPLAY are set
# for it. An existing DISPLAY is kept (test.sh's desktop tests need theirs);
# otherwise a private Xvfb is started on a free display in :130-:160, clear of
# the :90-:120 range test.sh uses. dunst reads a throwaway config that never
# drops, merges or limits notifications. Everything started here is stopped
# when CMD exits, and the script exits with CMD's status.
# Needs Debian's dbus, dbus-x11, dunst, libnotify-bin and xvfb (scripts/setup.sh).
set -euo pipefail

usage() {
  echo "usage: scripts/notifyd.sh run -- CMD [ARG...]" >&2
  exit 2
}

# The part that runs inside the private session bus.
inner() {
  local work xvfb_pid="" dunst_pid=""
  work=$(mktemp -d "${TMPDIR:-/tmp}/wardwatch-notifyd.XXXXXX")
  cleanup() {
    # dunst first: it holds a connection to the display.
    [ -n "$dunst_pid" ] && kill "$dunst_pid" 2>/dev/null && wait "$dunst_pid" 2>/dev/null
    [ -n "$xvfb_pid" ] && kill "$xvfb_pid" 2>/dev/null && wait "$xvfb_pid" 2>/dev/null
    rm -rf "$work"
    true
  }
  trap cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM

  if [ -z "${DISPLAY:-}" ]; then
    local n
    for n in $(seq 130 160); do
      # A display is taken if its socket or lock exists; Xvfb's -nolisten tcp
      # keeps us off the network either way.
      [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] && continue
      Xvfb ":$n" -screen 0 1280x800x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
      xvfb_pid=$!
      export DISPLAY=":$n"
      break
    done
    [ -n "$xvfb_pid" ] || { echo "notifyd: no free X display in :130-:160" >&2; exit 1; }
    # Up to a minute while it lives: on a busy machine (a cold build on two
    # cores) Xvfb and dunst have taken more than the 5 s once allowed.
    local ok=""
    for _ in $(seq 1200); do
      if [ -e "/tmp/.X11-unix/X${DISPLAY#:}" ]; then ok=1; break; fi
      kill -0 "$xvfb_pid" 2>/dev/null || break
      sleep 0.05
    done
    [ -n "$ok" ] || { echo "notifyd: Xvfb did not start on $DISPLAY (log: $(cat "$work/xvfb.log"))" >&2; exit 1; }
  fi
  # Services the bus activates (not dunst, which we start ourselves) should
  # see the same display.
  dbus-update-activation-environment DISPLAY >/dev/null 2>&1 || true

  # Defaults drop nothing silently except these: a cap on shown notifications,
  # idle detection (which freezes timeouts), and merging of identical ones.
  # Tests count every Notify, so none of that may happen.
  cat >"$work/dunstrc" <<'EOF'
[global]
    notification_limit = 0
    idle_threshold = 0
    stack_duplicates = false
    history_length = 1000
    sticky_history = yes
    show_indicators = no
EOF
  dunst -config "$work/dunstrc" >"$work/dunst.log" 2>&1 &
  dunst_pid=$!

  # Ready means the bus says someone owns the name. Asking dunstctl instead
  # could get a second dunst auto-started by the bus.
  local owned=""
  for _ in $(seq 1200); do
    if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:org.freedesktop.Notifications 2>/dev/null \
        | grep -q 'boolean true'; then
      owned=1
      break
    fi
    kill -0 "$dunst_pid" 2>/dev/null || break
    sleep 0.05
  done
  if [ -z "$owned" ]; then
    echo "notifyd: dunst did not take org.freedesktop.Notifications on $DISPLAY; its log:" >&2
    cat "$work/dunst.log" >&2
    exit 1
  fi
  echo "notifyd: dunst (pid $dunst_pid) on $DISPLAY, bus $DBUS_SESSION_BUS_ADDRESS" >&2

  local status=0
  "$@" || status=$?
  exit "$status"
}

case "${1:-}" in
  run)
    shift
    [ "${1:-}" = "--" ] && shift
    [ $# -gt 0 ] || usage
    for tool in dbus-run-session dbus-send dunst; do
      command -v "$tool" >/dev/null || { echo "notifyd: $tool is missing: run scripts/setup.sh" >&2; exit 1; }
    done
    [ -n "${DISPLAY:-}" ] || command -v Xvfb >/dev/null \
      || { echo "notifyd: Xvfb is missing: run scripts/setup.sh" >&2; exit 1; }
    # The session bus daemon logs each dbus-monitor a test attaches (two
    # lines apiece) and a harmless fd-limit refusal; drop just those from its
    # stderr. CMD keeps the real stderr (fd 3), unfiltered.
    exec 3>&2
    exec dbus-run-session -- bash "$0" __inner "$@" 2> >(
      grep --line-buffered -Ev '^dbus-daemon\[[0-9]+\]: \[session [^]]*\] (Connection .* became a monitor\.|Monitoring connection .* closed\.|org\.freedesktop\.DBus\.Error\.AccessDenied: Failed to set fd limit)' >&2
    )
    ;;
  __inner)
    shift
    exec 2>&3 3>&-
    inner "$@"
    ;;
  *)
    usage
    ;;
esac
