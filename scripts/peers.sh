#!/usr/bin/env bash
# Installs and runs the cloud peers that wardwatch-cloud's integration tests
# talk to: kinesalite (a Kinesis Data Streams server, npm) and moto's server
# (Kinesis and S3, PyPI), both bound to 127.0.0.1 only on free ports.
# Run as root on Debian 12; every step skips what is already there.
#
#   scripts/peers.sh install          install both into .tools/ (no servers)
#   scripts/peers.sh start ENVFILE    install if needed, start both, wait until
#                                     they answer, write ENVFILE (export lines)
#   scripts/peers.sh stop ENVFILE     stop the servers named in ENVFILE
#
# ENVFILE holds:
#   export WARDWATCH_KINESALITE_URL=http://127.0.0.1:P1
#   export WARDWATCH_MOTO_URL=http://127.0.0.1:P2
#   export WARDWATCH_KINESALITE_PID=N1
#   export WARDWATCH_MOTO_PID=N2
# so a caller does `scripts/peers.sh start F && . F` and later
# `scripts/peers.sh stop F`. Server logs go beside ENVFILE (F.kinesalite.log,
# F.moto.log).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"
NODE_PREFIX="$TOOLS/node"
MOTO_SPEC='moto[server]==5.2.5'
MOTO_VERSION='5.2.5'
KINESALITE_SPEC='kinesalite@3.3.3'
KINESALITE_VERSION='3.3.3'
PYTHON="${PYTHON:-python3}"

die() { echo "peers: $*" >&2; exit 1; }

install_moto() {
  if [ -x "$VENV/bin/moto_server" ] &&
     [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("moto"))' 2>/dev/null)" = "$MOTO_VERSION" ]; then
    return
  fi
  command -v "$PYTHON" >/dev/null || die "$PYTHON not found: install python3 and python3-venv (scripts/setup.sh)"
  echo "peers: installing $MOTO_SPEC into $VENV" >&2
  [ -x "$VENV/bin/pip" ] || "$PYTHON" -m venv "$VENV" ||
    die "could not create $VENV: install python3-venv (scripts/setup.sh)"
  "$VENV/bin/pip" install -q --disable-pip-version-check "$MOTO_SPEC" >&2
}

install_kinesalite() {
  local pkg="$NODE_PREFIX/node_modules/kinesalite/package.json"
  if [ -f "$pkg" ] && node -e "process.exit(require('$pkg').version === '$KINESALITE_VERSION' ? 0 : 1)" 2>/dev/null; then
    return
  fi
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    [ "$(id -u)" -eq 0 ] || die "node and npm are missing: install Debian's nodejs and npm packages"
    echo "peers: installing Debian packages nodejs npm" >&2
    DEBIAN_FRONTEND=noninteractive apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
  fi
  echo "peers: installing $KINESALITE_SPEC into $NODE_PREFIX" >&2
  mkdir -p "$NODE_PREFIX"
  npm install --silent --no-audit --no-fund --prefix "$NODE_PREFIX" "$KINESALITE_SPEC" >&2
}

need_curl() {
  command -v curl >/dev/null && return
  [ "$(id -u)" -eq 0 ] || die "curl is missing: install it (scripts/setup.sh)"
  DEBIAN_FRONTEND=noninteractive apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl >/dev/null
}

# A port the kernel just handed out and released. Another process could take it
# before the server binds, so start_* retries with a new port when that happens.
free_port() {
  "$VENV/bin/python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Waits up to ~15 s for any HTTP answer on PORT while PID lives.
wait_http() {
  local port=$1 pid=$2
  for _ in $(seq 150); do
    kill -0 "$pid" 2>/dev/null || return 1
    # Any status code means the server is up; curl fails only without an answer.
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/" && return 0
    sleep 0.1
  done
  return 1
}

# Each start_* sets PORT and PID. setsid keeps the servers running after this
# script (and the shell that called it) exits; `stop` ends them by PID.
start_kinesalite() {
  local log=$1
  for _ in 1 2 3; do
    PORT=$(free_port)
    # createStreamMs etc. shortened so CREATING/UPDATING → ACTIVE takes 50 ms.
    KINESALITE_DIR="$NODE_PREFIX/node_modules/kinesalite" KPORT=$PORT setsid node -e \
      "require(process.env.KINESALITE_DIR)({createStreamMs:50,deleteStreamMs:50,updateStreamMs:50,shardLimit:50}).listen(+process.env.KPORT,'127.0.0.1')" \
      >>"$log" 2>&1 </dev/null &
    PID=$!
    wait_http "$PORT" "$PID" && return 0
    kill "$PID" 2>/dev/null || true
  done
  die "kinesalite did not start: see $log"
}

start_moto() {
  local log=$1
  for _ in 1 2 3; do
    PORT=$(free_port)
    setsid "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >>"$log" 2>&1 </dev/null &
    PID=$!
    wait_http "$PORT" "$PID" && return 0
    kill "$PID" 2>/dev/null || true
  done
  die "moto_server did not start: see $log"
}

stop_from() {
  local envfile=$1
  [ -f "$envfile" ] || return 0
  local k m
  k=$(sed -n 's/^export WARDWATCH_KINESALITE_PID=//p' "$envfile")
  m=$(sed -n 's/^export WARDWATCH_MOTO_PID=//p' "$envfile")
  for pid in $k $m; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $k $m; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
}

cmd=${1:-}
case "$cmd" in
  install)
    install_moto
    install_kinesalite
    ;;
  start)
    envfile=${2:-}
    [ -n "$envfile" ] || die "usage: scripts/peers.sh start ENVFILE"
    install_moto
    install_kinesalite
    need_curl
    mkdir -p "$(dirname "$envfile")"
    # A second `start` with the same file replaces the servers it started before.
    stop_from "$envfile"
    start_kinesalite "$envfile.kinesalite.log"
    k_port=$PORT k_pid=$PID
    if ! start_moto "$envfile.moto.log"; then
      kill "$k_pid" 2>/dev/null || true
      exit 1
    fi
    m_port=$PORT m_pid=$PID
    cat >"$envfile" <<EOF
export WARDWATCH_KINESALITE_URL=http://127.0.0.1:$k_port
export WARDWATCH_MOTO_URL=http://127.0.0.1:$m_port
export WARDWATCH_KINESALITE_PID=$k_pid
export WARDWATCH_MOTO_PID=$m_pid
EOF
    echo "peers: kinesalite on 127.0.0.1:$k_port (pid $k_pid), moto on 127.0.0.1:$m_port (pid $m_pid); wrote $envfile" >&2
    ;;
  stop)
    envfile=${2:-}
    [ -n "$envfile" ] || die "usage: scripts/peers.sh stop ENVFILE"
    stop_from "$envfile"
    ;;
  *)
    die "usage: scripts/peers.sh install | start ENVFILE | stop ENVFILE"
    ;;
esac
