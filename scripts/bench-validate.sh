#!/usr/bin/env bash
# Benchmark: `casebridge validate` against `openssl dgst -sha256` on the same
# generated case-notes export, in the same run.
#
# usage: scripts/bench-validate.sh [ROWS] [DIR]
#   ROWS  case notes to generate (default 1000000, about 1 GB)
#   DIR   where to put the export (default bench-data/, git-ignored)
#
# Prints the best of three runs of each, the throughput ratio
# (openssl time / validate time), validate's MB/s and its peak memory.
# Run it on a quiet machine: both commands are timed by wall clock.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
DIR=${2:-bench-data}
RUNS=${RUNS:-3}

cargo build --release --quiet --bin casebridge --bin casebridge-gen
mkdir -p "$DIR"
if [ ! -f "$DIR/CASE_NOTES.csv" ] || [ "$(cat "$DIR/.rows" 2>/dev/null)" != "$ROWS" ]; then
  target/release/casebridge-gen --out "$DIR" --only CASE_NOTES,DM_PERSONS \
    --case-notes "$ROWS" --families 2000 --seed 1 --as-of 2026-11-01
  echo "$ROWS" > "$DIR/.rows"
fi
FILE="$DIR/CASE_NOTES.csv"
BYTES=$(stat -c %s "$FILE")
cat "$FILE" > /dev/null # warm the page cache for both

. scripts/bench-lib.sh

read -r T_SSL RSS_SSL < <(measure openssl dgst -sha256 "$FILE")
read -r T_CB RSS_CB < <(measure target/release/casebridge --no-audit validate "$FILE" "$DIR/DM_PERSONS.csv" \
  --mapping mappings/mosaic --as-of 2026-11-01 --format json -q)

awk -v b="$BYTES" -v rows="$ROWS" -v ts="$T_SSL" -v tc="$T_CB" -v rc="$RSS_CB" -v rs="$RSS_SSL" 'BEGIN {
  mb = b / 1e6
  printf "file           %s rows, %.0f MB\n", rows, mb
  printf "openssl sha256 %.2f s  %6.0f MB/s  peak %d KB\n", ts, mb / ts, rs
  printf "validate       %.2f s  %6.0f MB/s  peak %d KB\n", tc, mb / tc, rc
  printf "ratio          %.2fx openssl throughput\n", ts / tc
}'
