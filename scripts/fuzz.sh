#!/usr/bin/env bash
# Fuzzes every parser of outside input (fuzz/fuzz_targets: the SSE framing,
# the Observation decoder, the WFDB reader, the CSV and FHIR imports, the
# ECG codec) with libFuzzer through cargo-fuzz on the nightly toolchain,
# SECONDS each (default 300), growing the corpora kept in fuzz/corpus.
# Installs cargo-fuzz from crates.io when missing. Exits 1 on the first
# crash, naming the input kept in fuzz/artifacts/TARGET/.
#   scripts/fuzz.sh [SECONDS] [TARGET...]
set -euo pipefail
cd "$(dirname "$0")/.."
EACH="${1:-300}"
shift || true
if ! cargo +nightly fuzz --version >/dev/null 2>&1; then
  echo "== installing cargo-fuzz (crates.io)"
  cargo install cargo-fuzz --locked
fi
TARGETS=("$@")
if [ "${#TARGETS[@]}" -eq 0 ]; then
  mapfile -t TARGETS < <(cargo +nightly fuzz list)
fi
mkdir -p target
for t in "${TARGETS[@]}"; do
  mkdir -p "fuzz/corpus/$t"
  echo "== fuzz $t for ${EACH}s"
  log="target/fuzz-$t.log"
  status=0
  cargo +nightly fuzz run "$t" "fuzz/corpus/$t" -- \
    -max_total_time="$EACH" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
    >"$log" 2>&1 || status=$?
  execs=$(grep -Eo 'stat::number_of_executed_units: *[0-9]+' "$log" | grep -Eo '[0-9]+$' || echo "?")
  echo "   $t: $execs executions, exit $status (log $log)"
  if [ "$status" -ne 0 ]; then
    grep -E 'panicked|ERROR|SUMMARY|Test unit written' "$log" | head -20 >&2
    exit 1
  fi
done
