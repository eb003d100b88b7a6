#!/usr/bin/env bash
# Builds the Debian package with Tauri's bundler:
#   scripts/package.sh        release: the package to ship
#                             -> target/release/bundle/deb/wardwatch_VERSION_amd64.deb
#   scripts/package.sh --dev  the same package from the dev profile, for the
#                             test command (not to ship)
#                             -> target/debug/bundle/deb/wardwatch_VERSION_amd64.deb
# The package holds the desktop app (/usr/bin/wardwatch, its desktop entry
# and icons), wardwatchctl, the runtime's systemd unit and the docs; its
# maintainer scripts create the `wardwatch` system user and keep the store
# on removal (deploy/debian/). Needs scripts/setup.sh first.
#
# --dev exists for the test command's cold time: a release build of the app
# and wardwatchctl is a third compilation of every crate (beside clippy's
# check and the test build), 33 minutes of a cold CI run on a slow day.
# --dev builds the binaries together with every test target, with the same
# features (`cargo test --workspace --features wardwatch/custom-protocol`
# then compiles nothing again): the same bundler, maintainer scripts, files
# and install path, with unoptimised binaries.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  "")
    # One cargo invocation for both binaries, so the crates they share are
    # compiled once (with `custom-protocol`, as `tauri build` would: the app
    # serves its embedded UI); the UI builds inside it (src-tauri/build.rs).
    cargo build --release --locked -p wardwatch -p wardwatchctl --features wardwatch/custom-protocol
    # Tauri's CLI (npm, ui/node_modules) bundles what was built.
    ui/node_modules/.bin/tauri bundle --bundles deb
    ls target/release/bundle/deb/*.deb
    ;;
  --dev)
    cargo build --locked --workspace --bins --tests --features wardwatch/custom-protocol
    # tauri.conf.json names the release wardwatchctl; the bundler finds the
    # app itself in the profile's folder.
    ui/node_modules/.bin/tauri bundle --debug --bundles deb \
      --config '{"bundle":{"linux":{"deb":{"files":{"/usr/bin/wardwatchctl":"target/debug/wardwatchctl"}}}}}'
    ls target/debug/bundle/deb/*.deb
    ;;
  *)
    echo "usage: scripts/package.sh [--dev]" >&2
    exit 2
    ;;
esac
