#!/usr/bin/env bash
# Times the XLSX reader against bare calamine on a generated persons-like
# workbook (ROWS x 12 columns: ids, names, date cells, codes).
#
# usage: scripts/bench-sheet.sh [ROWS]     (default 200000)
#
# (a) bare calamine: open the workbook, iterate every cell of the sheet;
# (b) SheetSource: zip-bomb check, hash, every row with every column wanted
#     as text. Best wall time of 3 each, the ratio b/a (design target: 1.5),
#     and peak RSS (/usr/bin/time -v).
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-200000}
cargo build -q --release -p casebridge-sheet --example bench_sheet
BIN=target/release/examples/bench_sheet
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
FILE="$DIR/persons.xlsx"
"$BIN" gen "$FILE" "$ROWS" > /dev/null
echo "workbook: $ROWS rows x 12 columns, $(stat -c %s "$FILE") bytes"

best() { # mode -> "wall_s cpu_s rss_kb" (best wall, best CPU, highest RSS)
  local best_t="" best_cpu="" best_rss=0
  for _ in 1 2 3; do
    /usr/bin/time -v "$BIN" "$1" "$FILE" > "$DIR/out" 2> "$DIR/err"
    local t cpu rss
    t=$(cat "$DIR/out")
    cpu=$(awk -F': ' '/User time|System time/ {s += $2} END {print s}' "$DIR/err")
    rss=$(awk -F': ' '/Maximum resident set size/ {print $2}' "$DIR/err")
    if [ -z "$best_t" ] || awk -v a="$t" -v b="$best_t" 'BEGIN { exit !(a < b) }'; then best_t=$t; fi
    if [ -z "$best_cpu" ] || awk -v a="$cpu" -v b="$best_cpu" 'BEGIN { exit !(a < b) }'; then best_cpu=$cpu; fi
    [ "$rss" -gt "$best_rss" ] && best_rss=$rss
  done
  echo "$best_t $best_cpu $best_rss"
}
read -r CT CCPU CRSS < <(best calamine)
read -r ST SCPU SRSS < <(best source)
printf "bare calamine:  wall %6.3f s  CPU %6.3f s  peak RSS %5d MiB\n" "$CT" "$CCPU" $((CRSS / 1024))
printf "SheetSource:    wall %6.3f s  CPU %6.3f s  peak RSS %5d MiB\n" "$ST" "$SCPU" $((SRSS / 1024))
awk -v s="$ST" -v c="$CT" -v sc="$SCPU" -v cc="$CCPU" \
  'BEGIN { printf "ratio:          wall %.2fx, CPU %.2fx (target 1.5x)\n", s / c, sc / cc }'
