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
# 4. p200k: about 200,000 generated persons (47,300 families): wall time and
#    peak memory (`/usr/bin/time -v`), target under 500 MB.
# 5. cluster: a cluster of identical persons under distinct ids (25k, 50k
#    and 100k copies, with 5,000 generated families around them so the
#    model has people to learn from): time and memory must grow linearly.
#
# SECTIONS (environment) picks the parts: default "main febrl rates p200k
# cluster". Pairs files list the links that joined each cluster (a
# spanning set); they are scored on their transitive closure.
set -euo pipefail
cd "$(dirname "$0")/.."
FAMILIES=${1:-230000}
DIR=${2:-bench-data/dedup}
SECTIONS=${SECTIONS:-main febrl rates p200k cluster}
has() { case " $SECTIONS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }

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

# Every pair of each merged cluster (the closure of the spanning links),
# then the pairwise score.
score() {
  python3 - "$1" "$1.closure.csv" <<'PY'
import csv, sys
parent = {}
def find(x):
    while parent.get(x, x) != x:
        parent[x] = parent.get(parent[x], parent[x])
        x = parent[x]
    return x
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
nodes = set()
for r in rows:
    if r["decision"] == "merge":
        nodes.update((r["id_l"], r["id_r"]))
        a, b = find(r["id_l"]), find(r["id_r"])
        if a != b:
            parent[a] = b
groups = {}
for x in nodes:
    groups.setdefault(find(x), []).append(x)
with open(sys.argv[2], "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(["id_l", "id_r", "decision"])
    for g in groups.values():
        g.sort()
        for i, a in enumerate(g):
            for b in g[i + 1:]:
                w.writerow([a, b, "merge"])
PY
  python3 ../shared/tools/score_pairs.py "$1.closure.csv" "$2" 0 || true
}

# Runs a command under /usr/bin/time -v; prints wall time and peak memory.
measure() {
  local label=$1; shift
  /usr/bin/time -v "$@" > /dev/null 2> "$DIR/time.txt" || true
  python3 - "$label" "$DIR/time.txt" <<'PY'
import sys
label, f = sys.argv[1], sys.argv[2]
wall = peak = "?"
for line in open(f):
    line = line.strip()
    if line.startswith("Elapsed (wall clock) time"):
        t = line.rsplit(" ", 1)[-1].split(":")
        wall = "%.2f s" % sum(float(x) * 60 ** i for i, x in enumerate(reversed(t)))
    elif line.startswith("Maximum resident set size"):
        peak = "%.0f MB" % (int(line.rsplit(" ", 1)[-1]) / 1024)
print("%s: wall %s, peak memory %s" % (label, wall, peak))
PY
}

mkdir -p "$DIR"
if has main; then
if [ ! -f "$DIR/DM_PERSONS.csv" ] || [ "$(cat "$DIR/.families" 2>/dev/null)" != "$FAMILIES" ]; then
  target/release/casebridge-gen --out "$DIR" --only DM_PERSONS --families "$FAMILIES" \
    --duplicate-rate 0.05 --seed 1 --as-of 2026-11-01
  truth_pairs "$DIR"
  echo "$FAMILIES" > "$DIR/.families"
fi
PERSONS=$(($(wc -l < "$DIR/DM_PERSONS.csv") - 1))
cat "$DIR/DM_PERSONS.csv" > /dev/null
echo "== $PERSONS generated persons (duplicate rate 0.05)"
/usr/bin/time -f "time %e s, peak memory %M KB" target/release/casebridge --no-audit dedup \
  "$DIR/DM_PERSONS.csv" --mapping mappings/mosaic/persons.toml \
  --pairs "$DIR/pairs.csv" --out "$DIR/survivors.jsonl" -q -v > "$DIR/report.txt" || true
score "$DIR/pairs.csv" "$DIR/truth_pairs.csv"
fi

if has febrl && [ -d ../shared/data/febrl ]; then
  for n in febrl1 febrl2; do
    echo "== $n (mappings/febrl/persons.toml, mappings/febrl/dedup.toml)"
    /usr/bin/time -f "time %e s, peak memory %M KB" target/release/casebridge --no-audit dedup \
      "../shared/data/febrl/$n.csv" -m mappings/febrl/persons.toml -c mappings/febrl/dedup.toml \
      --pairs "$DIR/$n-pairs.csv" -q > /dev/null || true
    score "$DIR/$n-pairs.csv" "../shared/data/febrl/${n}_truth_pairs.csv"
    echo "== $n with the default configuration (guards on)"
    target/release/casebridge --no-audit dedup "../shared/data/febrl/$n.csv" -m mappings/febrl/persons.toml \
      --pairs "$DIR/$n-pairs-default.csv" -q > /dev/null || true
    score "$DIR/$n-pairs-default.csv" "../shared/data/febrl/${n}_truth_pairs.csv"
  done
fi

if has rates; then
for rates in "0.02 0" "0.05 0.05" "0.1 0.1" "0.2 0.2" "0.3 0.05"; do
  set -- $rates
  d="$DIR/gen-$1-$2"
  rm -rf "$d"
  target/release/casebridge-gen --out "$d" --only DM_PERSONS --families 5000 \
    --duplicate-rate "$1" --error-rate "$2" --seed 7 --as-of 2026-11-01 2> /dev/null
  truth_pairs "$d"
  echo "== generator, 5000 families, duplicate rate $1, error rate $2"
  target/release/casebridge --no-audit dedup "$d/DM_PERSONS.csv" -m mappings/mosaic/persons.toml \
    --pairs "$d/pairs.csv" -q > /dev/null || true
  score "$d/pairs.csv" "$d/truth_pairs.csv"
done
fi

if has p200k; then
  d="$DIR/p200k"
  mkdir -p "$d"
  if [ ! -f "$d/DM_PERSONS.csv" ]; then
    target/release/casebridge-gen --out "$d" --only DM_PERSONS --families 47300 \
      --duplicate-rate 0.05 --seed 1 --as-of 2026-11-01 2> /dev/null
    truth_pairs "$d"
  fi
  cat "$d/DM_PERSONS.csv" > /dev/null
  echo "== $(($(wc -l < "$d/DM_PERSONS.csv") - 1)) generated persons (target: peak under 500 MB)"
  measure "dedup, pairs and survivors written" target/release/casebridge --no-audit dedup \
    "$d/DM_PERSONS.csv" -m mappings/mosaic/persons.toml \
    --pairs "$d/pairs.csv" --out "$d/survivors.jsonl" -q
  score "$d/pairs.csv" "$d/truth_pairs.csv"
fi

if has cluster; then
  d="$DIR/cluster"
  mkdir -p "$d"
  if [ ! -f "$d/DM_PERSONS.csv" ]; then
    target/release/casebridge-gen --out "$d" --only DM_PERSONS --families 5000 \
      --duplicate-rate 0.05 --seed 3 --as-of 2026-11-01 2> /dev/null
  fi
  for n in 25000 50000 100000; do
    python3 - "$n" "$d/DM_PERSONS_copies.csv" <<'PY'
import sys
n, path = int(sys.argv[1]), sys.argv[2]
with open(path, "w", newline="") as f:
    f.write("PERSON_ID,FIRST_NAME,LAST_NAME,FULL_NAME,DATE_OF_BIRTH,AGE_ESTIMATED,"
            "DATE_OF_DEATH,GENDER,NHS_ID,UPN_ID,FULL_ETHNICITY_CODE,IS_CHILD_LEGACY\r\n")
    for i in range(n):
        f.write("%d,Amara,Okonkwo-Test,Amara Okonkwo-Test,14/02/2016,N,,F,9990001234,,BAFR,Y\r\n"
                % (5000000 + i))
PY
    echo "== $n identical persons under distinct ids, with 5,000 generated families"
    measure "dedup" target/release/casebridge --no-audit dedup "$d/DM_PERSONS.csv" "$d/DM_PERSONS_copies.csv" \
      -m mappings/mosaic/persons.toml --pairs "$d/pairs-$n.csv" --out "$d/survivors-$n.jsonl" -q
    python3 - "$d/pairs-$n.csv" "$d/survivors-$n.jsonl" <<'PY'
import csv, json, sys
rows = list(csv.DictReader(open(sys.argv[1], newline="")))
links = sum(1 for r in rows if r["decision"] == "merge" and r["id_l"].startswith("5") and r["id_r"].startswith("5"))
review = sum(1 for r in rows if r["decision"] == "review")
big = max(len(json.loads(l)["source_keys"]) for l in open(sys.argv[2]))
print("  largest survivor: %d source keys; links among the copies: %d; review pairs: %d" % (big, links, review))
PY
  done
fi
