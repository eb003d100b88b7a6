#!/usr/bin/env bash
# Builds the Debian package with Tauri's bundler (release):
#   scripts/package.sh        -> target/release/bundle/deb/wardwatch_VERSION_amd64.deb
# The package holds the desktop app (/usr/bin/wardwatch, its desktop entry
# and icons), wardwatchctl, the runtime's systemd unit and the docs; its
# maintainer scripts create the `wardwatch` system user and keep the store
# on removal (deploy/debian/). Needs scripts/setup.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."
# One cargo invocation for both binaries, so the crates they share are
# compiled once (with `custom-protocol`, as `tauri build` would: the app
# serves its embedded UI); the UI builds inside it (src-tauri/build.rs).
cargo build --release --locked -p wardwatch -p wardwatchctl --features wardwatch/custom-protocol
# Tauri's CLI (npm, ui/node_modules) bundles what was built.
ui/node_modules/.bin/tauri bundle --bundles deb
ls target/release/bundle/deb/*.deb
