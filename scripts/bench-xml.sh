#!/usr/bin/env bash
# Throughput of the XML reader (casebridge-xml's XmlSource) on a generated
# CIN-Census-like file, against sha256sum and a bare quick-xml event loop.
#
# usage: scripts/bench-xml.sh [MB]      (default 200; the file goes to /tmp)
set -euo pipefail
cd "$(dirname "$0")/.."
MB=${1:-200}
FILE=${TMPDIR:-/tmp}/casebridge-bench-cin-${MB}mb.xml

if [ ! -f "$FILE" ]; then
  echo "generating $FILE (~${MB} MB)"
  python3 - "$FILE" "$MB" <<'PY'
import random, sys
path, mb = sys.argv[1], int(sys.argv[2])
rnd = random.Random(42)
eth = ["WBRI", "WIRI", "MWBC", "AIND", "BAFR", "CHNE", "OOTH", "REFU", "NOBT"]
dis = ["NONE", "MOB", "HAND", "PC", "INC", "COMM", "LD", "HEAR", "VIS", "BEH", "CON", "AUT", "DDA"]
src = ["1A", "1B", "1C", "1D", "2A", "2B", "3A", "3B", "3C", "4", "5A", "5B", "5C", "6", "7", "8", "9", "10"]
factors = ["1A", "1B", "1C", "2A", "2B", "2C", "3A", "3B", "3C", "4A", "4B", "5A", "6A", "7A", "8B", "21"]
def date(y):
    return f"{y}-{rnd.randint(1, 12):02d}-{rnd.randint(1, 28):02d}"
with open(path, "w", newline="\n") as out:
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n<Message>\n  <Header>\n'
              '    <CollectionDetails>\n      <Collection>CIN</Collection>\n      <Year>2024</Year>\n'
              '      <ReferenceDate>2024-03-31</ReferenceDate>\n    </CollectionDetails>\n'
              '    <Source>\n      <SourceLevel>L</SourceLevel>\n      <LEA>201</LEA>\n'
              '      <SoftwareCode>Bench</SoftwareCode>\n      <Release>1</Release>\n'
              '      <SerialNo>1</SerialNo>\n      <DateTime>2024-04-01T00:00:00</DateTime>\n'
              '    </Source>\n  </Header>\n  <Children>\n')
    size, i, target = 0, 0, mb * 1_000_000
    while size < target:
        i += 1
        parts = [f'    <Child>\n      <ChildIdentifiers>\n        <LAchildID>DfEX{i:07d}</LAchildID>\n'
                 f'        <UPN>A{rnd.randrange(10**12):012d}</UPN>\n'
                 f'        <PersonBirthDate>{date(rnd.randint(2006, 2023))}</PersonBirthDate>\n'
                 f'        <GenderCurrent>{rnd.choice("129")}</GenderCurrent>\n      </ChildIdentifiers>\n'
                 f'      <ChildCharacteristics>\n        <Ethnicity>{rnd.choice(eth)}</Ethnicity>\n'
                 f'        <Disabilities>\n']
        for d in rnd.sample(dis, rnd.randint(1, 3)):
            parts.append(f'          <Disability>{d}</Disability>\n')
        parts.append('        </Disabilities>\n      </ChildCharacteristics>\n')
        for _ in range(rnd.randint(1, 3)):
            parts.append(f'      <CINdetails>\n        <CINreferralDate>{date(2023)}</CINreferralDate>\n'
                         f'        <ReferralSource>{rnd.choice(src)}</ReferralSource>\n'
                         f'        <PrimaryNeedCode>N{rnd.randint(0, 9)}</PrimaryNeedCode>\n'
                         f'        <CINclosureDate>{date(2024)}</CINclosureDate>\n'
                         f'        <ReasonForClosure>RC{rnd.randint(1, 9)}</ReasonForClosure>\n'
                         f'        <Assessments>\n          <AssessmentActualStartDate>{date(2023)}</AssessmentActualStartDate>\n'
                         f'          <AssessmentAuthorisationDate>{date(2023)}</AssessmentAuthorisationDate>\n'
                         f'          <FactorsIdentifiedAtAssessment>\n')
            for f in rnd.sample(factors, rnd.randint(1, 4)):
                parts.append(f'            <AssessmentFactors>{f}</AssessmentFactors>\n')
            parts.append('          </FactorsIdentifiedAtAssessment>\n        </Assessments>\n'
                         f'        <CINPlanDates>\n          <CINPlanStartDate>{date(2023)}</CINPlanStartDate>\n'
                         f'          <CINPlanEndDate>{date(2024)}</CINPlanEndDate>\n        </CINPlanDates>\n'
                         '      </CINdetails>\n')
        parts.append('    </Child>\n')
        chunk = "".join(parts)
        out.write(chunk)
        size += len(chunk)
    out.write('  </Children>\n</Message>\n')
PY
fi
ls -l "$FILE"
cargo build --release -q -p casebridge-xml --example xml_bench
BIN=${CARGO_TARGET_DIR:-target}/release/examples/xml_bench
cat "$FILE" > /dev/null # warm the page cache
for _ in 1 2; do
  start=$(date +%s.%N)
  sha256sum "$FILE" > /dev/null
  end=$(date +%s.%N)
  awk -v s="$start" -v e="$end" -v f="$(stat -c %s "$FILE")" \
    'BEGIN { printf "sha256sum: %.1f MB in %.2f s = %.0f MB/s\n", f / 1e6, e - s, f / 1e6 / (e - s) }'
  for mode in quick-xml quick-xml-hash source details; do
    "$BIN" "$mode" "$FILE" 2> /dev/null
  done
done
