#!/usr/bin/env bash
# Benchmark and quality check of `casebridge dedup`.
#
# usage: scripts/bench-dedup.sh [FAMILIES] [DIR]
#   FAMILIES  families to generate (default 230000: 973,591 persons with
#             --duplicate-rate 0.05; the generator stops making progress a
#             little above that, when the test range of NHS numbers, 999
#             followed by six digits, runs out)
#   DIR       where to put the export (default bench-data/dedup, git-ignored)
#
# 1. Times `casebridge dedup` (pairs file and survivors JSON Lines written)
#    on the generated persons, with peak memory, and scores its pairs
#    against the generator's ground truth.
# 2. Links each FEBRL set in ../shared/data/febrl (when present), training
#    included, and scores it with ../shared/tools/score_pairs.py.
# 3. Scores smaller generated sets at several duplicate and fault rates.
set -euo pipefail
cd "$(dirname "$0")/.."
FAMILIES=${1:-230000}
DIR=${2:-bench-data/dedup}

cargo build --release --quiet --bin casebridge --bin casebridge-gen

# Ground-truth pairs (copy PERSON_ID, original PERSON_ID) of a generated set.
truth_pairs() {
  python3 - "$1" <<'PY'
import csv, sys
d = sys.argv[1]
ids, line = {}, 1
with open(d + "/DM_PERSONS.csv", newline="", encoding="cp1252") as f:
    for i, row in enumerate(csv.reader(f)):
        if i:
            ids[i + 1] = row[0]   # persons have no multi-line fields
with open(d + "/truth_pairs.csv", "w") as out:
    out.write("id_l,id_r\n")
    for r in csv.DictReader(open(d + "/ground_truth.csv")):
        if r["rule"] == "duplicate.person":
            out.write("%s,%s\n" % (ids[int(r["line"])], r["detail"].split()[-1]))
PY
}

score() { python3 ../shared/tools/score_pairs.py "$1" "$2" 0 || true; }

mkdir -p "$DIR"
if [ ! -f "$DIR/DM_PERSONS.csv" ] || [ "$(cat "$DIR/.families" 2>/dev/null)" != "$FAMILIES" ]; then
  target/release/casebridge-gen --out "$DIR" --only DM_PERSONS --families "$FAMILIES" \
    --duplicate-rate 0.05 --seed 1 --as-of 2026-11-01
  truth_pairs "$DIR"
  echo "$FAMILIES" > "$DIR/.families"
fi
PERSONS=$(($(wc -l < "$DIR/DM_PERSONS.csv") - 1))
cat "$DIR/DM_PERSONS.csv" > /dev/null
echo "== $PERSONS generated persons (duplicate rate 0.05)"
/usr/bin/time -f "time %e s, peak memory %M KB" target/release/casebridge dedup \
  "$DIR/DM_PERSONS.csv" --mapping mappings/mosaic/persons.toml \
  --pairs "$DIR/pairs.csv" --out "$DIR/survivors.jsonl" -q -v > "$DIR/report.txt" || true
score "$DIR/pairs.csv" "$DIR/truth_pairs.csv"

if [ -d ../shared/data/febrl ]; then
  for n in febrl1 febrl2; do
    echo "== $n (mappings/febrl/persons.toml, mappings/febrl/dedup.toml)"
    /usr/bin/time -f "time %e s, peak memory %M KB" target/release/casebridge dedup \
      "../shared/data/febrl/$n.csv" -m mappings/febrl/persons.toml -c mappings/febrl/dedup.toml \
      --pairs "$DIR/$n-pairs.csv" -q > /dev/null || true
    score "$DIR/$n-pairs.csv" "../shared/data/febrl/${n}_truth_pairs.csv"
    echo "== $n with the default configuration (guards on)"
    target/release/casebridge dedup "../shared/data/febrl/$n.csv" -m mappings/febrl/persons.toml \
      --pairs "$DIR/$n-pairs-default.csv" -q > /dev/null || true
    score "$DIR/$n-pairs-default.csv" "../shared/data/febrl/${n}_truth_pairs.csv"
  done
fi

for rates in "0.02 0" "0.05 0.05" "0.1 0.1" "0.2 0.2" "0.3 0.05"; do
  set -- $rates
  d="$DIR/gen-$1-$2"
  rm -rf "$d"
  target/release/casebridge-gen --out "$d" --only DM_PERSONS --families 5000 \
    --duplicate-rate "$1" --error-rate "$2" --seed 7 --as-of 2026-11-01 2> /dev/null
  truth_pairs "$d"
  echo "== generator, 5000 families, duplicate rate $1, error rate $2"
  target/release/casebridge dedup "$d/DM_PERSONS.csv" -m mappings/mosaic/persons.toml \
    --pairs "$d/pairs.csv" -q > /dev/null || true
  score "$d/pairs.csv" "$d/truth_pairs.csv"
done
