#!/usr/bin/env bash
# Benchmark: `casebridge export` of the generated case-notes export to
# canonical JSON Lines and to Mosaic CSV (the same mapping in reverse),
# against `openssl dgst -sha256` of the same file in the same run.
#
# usage: scripts/bench-export.sh [ROWS] [DIR]
#   ROWS  case notes to generate (default 1000000, about 1 GB)
#   DIR   where to put the export (default bench-data/, git-ignored)
#   KEY_MEMORY  (env) `--key-memory` of the runs, e.g. 8MiB (default: the
#         tool's, 64 MiB): memory's ceiling, for the peak-memory figures
#
# Prints the best of RUNS (default 3) runs of each: seconds, MB/s of input,
# the throughput ratio (openssl time / export time) and peak memory. Run it
# on a quiet machine: the commands are timed by wall clock.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-1000000}
DIR=${2:-bench-data}
RUNS=${RUNS:-3}

cargo build --release --quiet --bin casebridge --bin casebridge-gen
BIN="${CARGO_TARGET_DIR:-target}/release"
mkdir -p "$DIR"
if [ ! -f "$DIR/CASE_NOTES.csv" ] || [ "$(cat "$DIR/.rows" 2>/dev/null)" != "$ROWS" ]; then
  "$BIN/casebridge-gen" --out "$DIR" --only CASE_NOTES,DM_PERSONS \
    --case-notes "$ROWS" --families 2000 --seed 1 --as-of 2026-11-01
  echo "$ROWS" > "$DIR/.rows"
fi
FILE="$DIR/CASE_NOTES.csv"
BYTES=$(stat -c %s "$FILE")
OUT=$(mktemp -d "${TMPDIR:-/tmp}/bench-export.XXXXXX")
trap 'rm -rf "$OUT"' EXIT
cat "$FILE" > /dev/null # warm the page cache

. scripts/bench-lib.sh

CB=("$BIN/casebridge" --no-audit -q export "$FILE" "$DIR/DM_PERSONS.csv"
    --mapping mappings/mosaic --as-of 2026-11-01 --replace
    ${KEY_MEMORY:+--key-memory "$KEY_MEMORY"})

read -r T_SSL RSS_SSL < <(measure openssl dgst -sha256 "$FILE")
read -r T_J RSS_J < <(measure "${CB[@]}" --to jsonl --out "$OUT/jsonl")
read -r T_M RSS_M < <(measure "${CB[@]}" --to mosaic --out "$OUT/mosaic")

awk -v b="$BYTES" -v rows="$ROWS" -v ts="$T_SSL" -v tj="$T_J" -v tm="$T_M" \
    -v rj="$RSS_J" -v rm="$RSS_M" -v rs="$RSS_SSL" 'BEGIN {
  mb = b / 1e6
  printf "file             %s rows, %.0f MB\n", rows, mb
  printf "openssl sha256   %.2f s  %6.0f MB/s  peak %d KB\n", ts, mb / ts, rs
  printf "export jsonl     %.2f s  %6.0f MB/s  peak %d KB  ratio %.2fx\n", tj, mb / tj, rj, ts / tj
  printf "export mosaic    %.2f s  %6.0f MB/s  peak %d KB  ratio %.2fx\n", tm, mb / tm, rm, ts / tm
}'
