#!/usr/bin/env bash
# Checks the Debian package scripts/package.sh built, on this machine (root):
#   scripts/package-check.sh install [DEB]
#                                      contents, install, the installed
#                                      binaries and unit, a store made by the
#                                      runtime's user, reinstall (upgrade path);
#                                      DEB defaults to the newest release package
#                                      (scripts/package.sh; --dev's is in
#                                      target/debug/bundle/deb)
#   scripts/package-check.sh remove    removal keeps the store; purge keeps
#                                      it and its user too and says so;
#                                      then cleans up
# The test command installs the package, runs the desktop tests against
# /usr/bin/wardwatch, then removes it. Only a package this script installed
# is ever removed (a marker in /var/lib/wardwatch-package-check): a machine
# with a real installation is refused, never touched.
set -euo pipefail
cd "$(dirname "$0")/.."

MARK=/var/lib/wardwatch-package-check
fail() { echo "package-check: $*" >&2; exit 1; }

install_check() {
  local deb=${1:-}
  if [ -z "$deb" ]; then
    deb=$(ls -t target/release/bundle/deb/*_amd64.deb 2>/dev/null | head -1)
    [ -n "$deb" ] || fail "no package in target/release/bundle/deb: run scripts/package.sh"
  fi
  [ -f "$deb" ] || fail "$deb: no such package"
  if dpkg-query -W -f='${Status}' wardwatch 2>/dev/null | grep -q "install ok installed" && [ ! -d "$MARK" ]; then
    fail "a wardwatch package is installed that this script did not install: not touching it"
  fi
  if [ -d /var/lib/wardwatch ] && [ ! -d "$MARK" ]; then
    fail "/var/lib/wardwatch exists (a real store?): not installing the test package over it"
  fi
  echo "package-check: contents of $(basename "$deb")"
  local listing
  listing=$(dpkg-deb -c "$deb" | awk '{print $6}')
  for f in usr/bin/wardwatch usr/bin/wardwatchctl \
    usr/lib/systemd/system/wardwatch.service \
    usr/share/applications/Wardwatch.desktop \
    usr/share/icons/hicolor/128x128/apps/wardwatch.png \
    usr/share/icons/hicolor/32x32/apps/wardwatch.png \
    usr/share/doc/wardwatch/README.md usr/share/doc/wardwatch/SECURITY.md; do
    grep -qx "\(\./\)\?$f" <<<"$listing" || fail "$f is missing from the package: $listing"
  done
  local control
  control=$(dpkg-deb -f "$deb" Package Version Depends Section)
  grep -q "^Package: wardwatch$" <<<"$control" || fail "package name: $control"
  grep -q "libwebkit2gtk-4.1-0" <<<"$control" || fail "no webkit dependency: $control"
  dpkg-deb -I "$deb" postinst >/dev/null || fail "no postinst"

  echo "package-check: installing"
  mkdir -p "$MARK"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$(realpath "$deb")" >/dev/null
  [ -x /usr/bin/wardwatch ] && [ -x /usr/bin/wardwatchctl ] || fail "binaries not installed"
  getent passwd wardwatch >/dev/null || fail "the runtime's user was not created"
  for d in /var/lib/wardwatch /var/lib/wardwatch-keys /etc/wardwatch; do
    [ "$(stat -c '%a %U' "$d")" = "700 wardwatch" ] || fail "$d is $(stat -c '%a %U' "$d"), not 700 wardwatch"
  done
  /usr/bin/wardwatchctl --version >/dev/null || fail "wardwatchctl does not start"
  systemd-analyze verify /usr/lib/systemd/system/wardwatch.service \
    || fail "the installed unit does not verify"
  grep -q '^Exec=wardwatch' /usr/share/applications/Wardwatch.desktop \
    || fail "the desktop entry does not start wardwatch: $(cat /usr/share/applications/Wardwatch.desktop)"

  echo "package-check: a store made by the runtime's user, kept across a reinstall"
  local home
  home=$(mktemp -d)
  echo "package check password" > "$home/pw"
  chown -R wardwatch "$home"
  chmod 600 "$home/pw"
  as_runtime() {
    runuser -u wardwatch -- env HOME="$home" WARDWATCH_KEY_DIR=/var/lib/wardwatch-keys \
      /usr/bin/wardwatchctl --data-dir /var/lib/wardwatch --user pkgcheck --password-file "$home/pw" "$@"
  }
  as_runtime demo load >/dev/null || fail "the installed wardwatchctl cannot make a store"
  local before
  before=$(as_runtime patients list | wc -l)
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --reinstall "$(realpath "$deb")" >/dev/null
  [ "$(as_runtime patients list | wc -l)" = "$before" ] || fail "the store changed across a reinstall"
  as_runtime store check >/dev/null || fail "the store does not check after a reinstall"
  rm -rf "$home"
  echo "package-check: installed"
}

remove_check() {
  [ -d "$MARK" ] || fail "nothing to remove: this script installed no package"
  echo "package-check: removing; the store stays"
  DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq wardwatch >/dev/null
  [ ! -e /usr/bin/wardwatch ] && [ ! -e /usr/bin/wardwatchctl ] || fail "binaries left after removal"
  [ -f /var/lib/wardwatch/wardwatch.db ] || fail "removal deleted the store"
  echo "package-check: purging; the store stays, and it says where"
  local said
  said=$(DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq wardwatch 2>&1 || true)
  [ -f /var/lib/wardwatch/wardwatch.db ] || fail "purge deleted the store"
  grep -q "/var/lib/wardwatch still holds data" <<<"$said" || fail "purge did not say where the store is: $said"
  getent passwd wardwatch >/dev/null || fail "purge deleted the user that owns the store"
  # The test's own leftovers: the store it made, the keys, the user.
  rm -rf /var/lib/wardwatch /var/lib/wardwatch-keys /etc/wardwatch
  deluser --system wardwatch >/dev/null 2>&1 || true
  rm -rf "$MARK"
  echo "package-check: removed"
}

case "${1:-}" in
  install) install_check "${2:-}" ;;
  remove) remove_check ;;
  *) echo "usage: scripts/package-check.sh install [DEB] | remove" >&2; exit 2 ;;
esac
