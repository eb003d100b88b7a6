#!/usr/bin/env bash
# Installs what Wardwatch needs on a fresh Debian 12 machine (run as root).
# Skips what is already present, so running it again is cheap.
#   scripts/setup.sh            build + test dependencies
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  # building the desktop shell (Tauri 2 on webkit2gtk-4.1)
  build-essential pkg-config curl file libssl-dev
  libwebkit2gtk-4.1-dev libgtk-3-dev libsoup-3.0-dev libjavascriptcoregtk-4.1-dev
  librsvg2-dev libayatana-appindicator3-dev libxdo-dev
  # running it headless and driving it in tests
  xvfb xauth x11-utils imagemagick webkit2gtk-driver dbus dbus-x11 dunst libnotify-bin
  xdotool at-spi2-core fonts-dejavu-core
  # verifying the systemd unit of supervised operation (deploy/)
  systemd
  # python tools (reference detectors, cloud peers)
  python3-venv
  # a test CA for the HTTPS peer, and an HTTP proxy (scripts/peers.sh)
  openssl tinyproxy-bin
  # the OS keyring: libdbus for the keyring crate's Secret Service client,
  # gnome-keyring as the real Secret Service the keyring tests talk to
  libdbus-1-dev gnome-keyring libsecret-tools
  # the hospital directory the LDAP login tests bind to (scripts/peers.sh)
  slapd ldap-utils
  # the alarm sounds: a private sound server with a null sink the desktop
  # tests record from (scripts/audiod.sh), WebKit's GStreamer output to it,
  # and sox to measure the recording
  pulseaudio pulseaudio-utils gstreamer1.0-pulseaudio sox
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${#missing[@]} Debian packages: ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install Debian packages (run as root or install them yourself)" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# Node.js runs kinesalite (the Kinesis peer of the tests); machines of this
# kind ship it, a bare Debian 12 gets Debian's.
if ! command -v npm >/dev/null 2>&1; then
  echo "setup: installing nodejs and npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

# The window's TypeScript toolchain (Vite, TypeScript, ESLint, Vitest) and
# its bundled libraries (uPlot), from the npm registry, as package-lock.json
# pins them. `cargo build` of the app runs the UI build itself (build.rs).
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 18 ]; then
  echo "setup: Node.js $(node --version) is too old for the UI build (Vite 6 needs 18 or newer)" >&2
  exit 1
fi
if [ ! -f ui/node_modules/.package-lock.json ] || [ ui/package-lock.json -nt ui/node_modules/.package-lock.json ]; then
  echo "setup: installing the UI's npm packages (ui/node_modules)"
  (cd ui && npm ci --no-audit --no-fund --loglevel=error)
fi

if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: cargo not found: install the Rust toolchain (rustup) first" >&2
  exit 1
fi
rustup component list --installed 2>/dev/null | grep -q '^clippy' || rustup component add clippy rustfmt
echo "setup: system packages present"
