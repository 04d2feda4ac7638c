#!/usr/bin/env bash
# Runs every fuzz target (or those named) for SECONDS each, from seed corpora
# made of the shipped examples and mappings.
#
# usage: scripts/fuzz.sh [SECONDS] [TARGET...]     (default 600 s each)
#
# A crash leaves its input in fuzz/artifacts/TARGET/; copy it to
# fuzz/regressions/TARGET/ so `cargo test` replays it (tests/fuzz_regressions.rs).
set -euo pipefail
cd "$(dirname "$0")/.."
SECS=${1:-600}
shift || true
command -v cargo-fuzz > /dev/null || cargo install cargo-fuzz --locked
# cargo-fuzz passes -Z flags (sanitizers, coverage); the machine's one stable
# toolchain accepts them with RUSTC_BOOTSTRAP (no nightly can be fetched here).
export RUSTC_BOOTSTRAP=1
ALL="csv_reader mapping_loader template_loader codeset_loader jsonl_reader date_formats xlsx_check run_config_loader dedup_config_loader review_reader sheet_reader xml_reader xml_rewrite"
TARGETS=${*:-$ALL}

seed() { # target, files...
  local dir="fuzz/corpus/$1"
  shift
  mkdir -p "$dir"
  for f in "$@"; do
    [ -f "$f" ] || continue
    head -c 8192 "$f" > "$dir/$(echo "$f" | tr '/' '_')"
  done
}
seed csv_reader examples/*/*.csv
seed mapping_loader mappings/mosaic/*.toml
seed template_loader mappings/templates/*.toml
seed codeset_loader mappings/codesets/*.toml
seed jsonl_reader fuzz/seeds/jsonl_reader/*
seed date_formats fuzz/seeds/date_formats/*
seed xlsx_check fuzz/seeds/xlsx_check/*
seed xml_reader fuzz/seeds/xml_reader/*
seed sheet_reader fuzz/seeds/sheet_reader/*
seed run_config_loader examples/*/run.toml fuzz/seeds/run_config_loader/*
seed dedup_config_loader mappings/dedup.toml mappings/febrl/dedup.toml
seed review_reader fuzz/seeds/review_reader/*
seed xml_rewrite fuzz/seeds/xml_reader/* examples/cin/*.xml

(cd fuzz && cargo fuzz build -O)
STAMP=$(mktemp)
trap 'rm -f "$STAMP"' EXIT
for t in $TARGETS; do
  echo "== $t: ${SECS}s"
  mkdir -p "fuzz/corpus/$t"
  (cd fuzz && cargo fuzz run -O "$t" "corpus/$t" -- \
      -max_total_time="$SECS" -rss_limit_mb=2048 -max_len=65536 -print_final_stats=1 2>&1 \
    | grep -E "^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb|==|SUMMARY|Done)|ERROR|panicked" || true)
  # Any finding of this run fails it: a crash, a leak (LeakSanitizer), an
  # out-of-memory or a timeout; artifacts of earlier runs do not count.
  if [ -n "$(find "fuzz/artifacts/$t" -newer "$STAMP" -type f 2>/dev/null | head -1)" ]; then
    echo "FAILED in $t: see fuzz/artifacts/$t/" >&2
    exit 1
  fi
done
