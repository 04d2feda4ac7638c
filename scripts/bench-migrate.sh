#!/usr/bin/env bash
# Benchmark: `casebridge migrate` of a generated council export (case notes
# and persons) to canonical JSON Lines with the ledger, against
# `openssl dgst -sha256` of the same files in the same run; then the
# no-change nightly re-run.
#
# usage: scripts/bench-migrate.sh [NOTES] [DIR]
#   NOTES     case notes to generate (default 1000000, about 1 GB)
#   DIR       where to put the export (default bench-data/migrate, git-ignored)
#   FAMILIES  (env) families to generate (default 25000: about 100k persons)
#   RUNS      (env) runs of the no-change re-run and of openssl (default 3);
#             the first run is timed once, on a fresh ledger.
#   KEY_MEMORY (env) `[limits] key_memory` of the run, e.g. "8 MiB"
#             (default: the tool's, 64 MiB), for the peak-memory figures
#
# Then a nightly run whose notes file changed in one record (one letter of
# one note's text), on a copy of the notes in the work folder.
#
# Prints seconds, MB/s of input, the throughput ratio (openssl time /
# migrate time), peak memory, the ledger's size and each re-run's share of
# the first run's time. Run it on a quiet machine: wall-clock timings.
set -euo pipefail
cd "$(dirname "$0")/.."
NOTES=${1:-1000000}
DIR=${2:-bench-data/migrate}
FAMILIES=${FAMILIES:-25000}
RUNS=${RUNS:-3}

cargo build --release --quiet --bin casebridge --bin casebridge-gen
mkdir -p "$DIR"
if [ ! -f "$DIR/CASE_NOTES.csv" ] || [ "$(cat "$DIR/.rows" 2>/dev/null)" != "$NOTES $FAMILIES" ]; then
  target/release/casebridge-gen --out "$DIR" --only CASE_NOTES,DM_PERSONS \
    --case-notes "$NOTES" --families "$FAMILIES" --seed 1 --as-of 2026-11-01
  echo "$NOTES $FAMILIES" > "$DIR/.rows"
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/bench-migrate.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
# A copy: the nightly with one changed record edits it.
cp "$DIR/CASE_NOTES.csv" "$WORK/CASE_NOTES.csv"
NOTES_FILE="$WORK/CASE_NOTES.csv"
PERSONS_FILE=$(realpath "$DIR/DM_PERSONS.csv")
BYTES=$(( $(stat -c %s "$NOTES_FILE") + $(stat -c %s "$PERSONS_FILE") ))
PERSONS=$(( $(wc -l < "$PERSONS_FILE") - 1 ))
cat > "$WORK/run.toml" <<TOML
[run]
name = "bench"
as_of = "2026-11-01"
[inputs]
paths = ["$PERSONS_FILE", "$NOTES_FILE"]
mappings = "$(realpath mappings/mosaic)"
[limits]
key_memory = "${KEY_MEMORY:-64 MiB}"
[output]
dir = "out"
to = "jsonl"
[ledger]
path = "ledger.sqlite"
TOML
cat "$NOTES_FILE" "$PERSONS_FILE" > /dev/null # warm the page cache

. scripts/bench-lib.sh

CB=(target/release/casebridge --no-audit -q migrate --config "$WORK/run.toml")
read -r T_SSL RSS_SSL < <(measure openssl dgst -sha256 "$NOTES_FILE" "$PERSONS_FILE")
rm -rf "$WORK/out" "$WORK"/ledger.sqlite*
read -r T_FIRST RSS_FIRST < <(RUNS=1 measure "${CB[@]}")
[ -d "$WORK/out/run-000001" ] || { echo "the first run wrote no run folder" >&2; exit 1; }
LEDGER=$(stat -c %s "$WORK/ledger.sqlite")
OUTPUT=$(du -sb "$WORK/out" | cut -f1)
read -r T_AGAIN RSS_AGAIN < <(measure "${CB[@]}")
[ ! -d "$WORK/out/run-000002" ] || { echo "the re-run wrote a run folder" >&2; exit 1; }

# One letter of one note's text, half-way through the file, is changed:
# the lowercase letter after the first space found there.
OFF=$(( $(stat -c %s "$NOTES_FILE") / 2 ))
dd if="$NOTES_FILE" of="$WORK/chunk" bs=100000 skip="$OFF" iflag=skip_bytes count=1 2>/dev/null
OFF=$(( OFF + $(grep -abo -m1 ' [a-y]' "$WORK/chunk" | cut -d: -f1) + 1 ))
C=$(dd if="$NOTES_FILE" bs=1 skip="$OFF" count=1 2>/dev/null)
printf "\\$(printf %03o $(( $(printf %d "'$C") + 1 )))" | dd of="$NOTES_FILE" bs=1 seek="$OFF" conv=notrunc 2>/dev/null
read -r T_ONE RSS_ONE < <(RUNS=1 measure "${CB[@]}")
ONE=$(ls -d "$WORK"/out/run-* | tail -1)
[ "$(tail -n +2 "$ONE/changes.csv" | wc -l)" = 1 ] || { echo "the one-change run wrote $(tail -n +2 "$ONE/changes.csv" | wc -l) changes" >&2; exit 1; }

awk -v b="$BYTES" -v notes="$NOTES" -v persons="$PERSONS" -v ts="$T_SSL" -v tf="$T_FIRST" \
    -v ta="$T_AGAIN" -v rf="$RSS_FIRST" -v ra="$RSS_AGAIN" -v rs="$RSS_SSL" \
    -v to="$T_ONE" -v ro="$RSS_ONE" \
    -v led="$LEDGER" -v out="$OUTPUT" 'BEGIN {
  mb = b / 1e6
  printf "input            %s case notes, %s persons, %.0f MB\n", notes, persons, mb
  printf "openssl sha256   %.2f s  %6.0f MB/s  peak %d KB\n", ts, mb / ts, rs
  printf "migrate (first)  %.2f s  %6.0f MB/s  peak %d KB  ratio %.2fx\n", tf, mb / tf, rf, ts / tf
  printf "  ledger         %.0f MB; outputs %.0f MB\n", led / 1e6, out / 1e6
  printf "re-run, no change %.2f s  peak %d KB  (%.3f of the first run)\n", ta, ra, ta / tf
  printf "nightly, 1 record changed %.2f s  peak %d KB  (%.3f of the first run)\n", to, ro, to / tf
}'
