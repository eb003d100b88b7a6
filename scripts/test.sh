#!/usr/bin/env bash
# Runs every Wardwatch check from a fresh Debian 12 machine (as root):
# installs what is missing, then format, lints, the no-tauri rule for the
# shared crates, and the whole workspace's tests (the desktop tests on Xvfb).
#   scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

bash scripts/setup.sh

# Reference recordings (PhysioNet) are read in place, never copied here.
export WARDWATCH_TESTDATA="${WARDWATCH_TESTDATA:-$ROOT/../shared/data}"
for f in mitdb/100.hea mitdb/100.dat mitdb/100.atr challenge2015/a103l.hea challenge2015/a103l.mat; do
  if [ ! -f "$WARDWATCH_TESTDATA/$f" ]; then
    echo "test: missing reference recording $WARDWATCH_TESTDATA/$f" >&2
    echo "test: set WARDWATCH_TESTDATA to a folder holding PhysioNet's mitdb/ and challenge2015/ records (see README)" >&2
    exit 1
  fi
done

echo "== UI: type-check, lint, unit tests (ui/)"
(cd ui && npm run --silent check)

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "== shared crates never depend on tauri or webkit"
for crate in wardwatch-core wardwatch-runtime wardwatch-sync wardwatch-catalog wardwatch-score wardwatch-wfdb wardwatchctl; do
  if cargo tree --locked -p "$crate" -e normal,build --prefix none | grep -Eq '^(tauri|webkit2gtk|wry|gtk) '; then
    echo "test: $crate depends on tauri/webkit:" >&2
    cargo tree -p "$crate" -i tauri >&2 || true
    exit 1
  fi
done

echo "== wardwatch-core stays synchronous (no tokio, reqwest, zbus, notify-rust)"
if cargo tree --locked -p wardwatch-core -e normal --prefix none | grep -Eq '^(tokio|reqwest|zbus|notify-rust) '; then
  echo "test: wardwatch-core depends on an async/network/D-Bus crate; that belongs in wardwatch-runtime:" >&2
  cargo tree --locked -p wardwatch-core -e normal -i tokio >&2 || true
  exit 1
fi

echo "== cloud peers (kinesalite, moto, SeaweedFS) on loopback"
mkdir -p target
PEERS_ENV="$ROOT/target/peers.env"
XVFB_PID=""
# The audit keys of every store the tests make: a fresh owner-only folder
# per run (never the user's own ~/.config/wardwatch/keys), inherited by the
# binaries under test, removed at the end.
WARDWATCH_KEY_DIR="$(mktemp -d -t wardwatch-test-keys.XXXXXX)"
export WARDWATCH_KEY_DIR
cleanup() {
  rm -rf "$WARDWATCH_KEY_DIR"
  # A failed test must not leave a runtime of this checkout behind (it would
  # hold the output pipe open and keep its store locked).
  pkill -f "^$ROOT/target/debug/wardwatch" 2>/dev/null || true
  pkill -f "^/usr/bin/wardwatch " 2>/dev/null || true
  if [ -n "$XVFB_PID" ]; then kill "$XVFB_PID" 2>/dev/null || true; fi
  bash scripts/peers.sh stop "$PEERS_ENV" >/dev/null 2>&1 || true
  # The package this run installed, if a failure left it installed.
  if [ -d /var/lib/wardwatch-package-check ]; then
    bash scripts/package-check.sh remove >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

echo "== the test build and the Debian package from it (the desktop tests drive the installed app)"
# The package from the dev profile (scripts/package.sh --dev): its binaries
# are built together with every test target, with the features `cargo test`
# gets below, so the tests and the package share one build (a release build
# would compile every crate a third time, beside clippy's check: half of a
# cold run on a slow day). The release
# package is `scripts/package.sh`; the same bundler, files and scripts.
# A failure here is reported at the end; the other tests still run.
package_status=0
{ bash scripts/package.sh --dev \
  && bash scripts/package-check.sh install "$(ls -t target/debug/bundle/deb/*_amd64.deb | head -1)"; } \
  || package_status=$?
export WARDWATCH_APP=/usr/bin/wardwatch

bash scripts/peers.sh start "$PEERS_ENV"
# shellcheck disable=SC1090
. "$PEERS_ENV"

echo "== cargo test (desktop tests on a private Xvfb display)"
if [ -z "${DISPLAY:-}" ]; then
  for n in $(seq 90 120); do
    [ -e "/tmp/.X11-unix/X$n" ] || [ -e "/tmp/.X$n-lock" ] && continue
    Xvfb ":$n" -screen 0 1280x800x24 -nolisten tcp >/dev/null 2>&1 &
    XVFB_PID=$!
    export DISPLAY=":$n"
    break
  done
  # Up to a minute while it lives: a busy machine starts it slowly.
  for _ in $(seq 600); do
    xdpyinfo >/dev/null 2>&1 && break
    kill -0 "$XVFB_PID" 2>/dev/null || break
    sleep 0.1
  done
  xdpyinfo >/dev/null 2>&1 || { echo "test: Xvfb did not start on $DISPLAY" >&2; exit 1; }
fi
# Under a private session bus with a real notification daemon (dunst), so
# the alarm tests see real Notify calls, and beside a private sound server
# whose null sink the desktop tests record the alarm sounds from.
# Output goes through tee by process substitution, so the exit status is
# cargo's and nothing a test left running can keep the script waiting.
status=0
bash scripts/notifyd.sh run -- bash scripts/audiod.sh run -- \
  cargo test --workspace --locked --features wardwatch/custom-protocol --no-fail-fast -- --test-threads=1 \
  > >(tee target/test-output.txt) 2>&1 || status=$?

echo "== the Debian package: removal keeps the store"
if [ "$package_status" -ne 0 ]; then
  echo "test: building or installing the Debian package failed (see above)" >&2
  status=1
fi
if [ -d /var/lib/wardwatch-package-check ]; then
  bash scripts/package-check.sh remove || status=1
fi
exit "$status"
