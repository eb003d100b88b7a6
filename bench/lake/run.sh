#!/usr/bin/env bash
# The data lake's figures (issue 13): bytes per record per zone against the
# raw JSON, gzip -6 and zstd -3; sealing; sync throughput to SeaweedFS on
# loopback (started here by scripts/peers.sh) in MB/s and CPU s per GB.
#   bash bench/lake/run.sh [PATIENTS [SECONDS [BATCH]]]     (default 24 3600 500;
#   a BATCH of 50 makes the small spool rows a seal compresses again)
set -euo pipefail
cd "$(dirname "$0")/../.."
ENVFILE="$PWD/target/bench-peers.env"
bash scripts/peers.sh start "$ENVFILE"
trap 'bash scripts/peers.sh stop "$ENVFILE" >/dev/null 2>&1 || true' EXIT
# shellcheck disable=SC1090
. "$ENVFILE"
export WARDWATCH_LAKE_BENCH_BUCKET="lake-bench"
cargo bench -p wardwatch-sync --bench lake -- "${1:-24}" "${2:-3600}" "${3:-500}"
