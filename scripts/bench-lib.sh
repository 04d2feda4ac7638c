# Shared by the bench scripts. measure CMD...: runs CMD $RUNS times (wall
# clock and peak memory by /usr/bin/time); prints "best_seconds max_rss_kb".
measure() {
  local best="" rss=0 t m out
  out=$(mktemp)
  for _ in $(seq "$RUNS"); do
    /usr/bin/time -o "$out" -f "%e %M" "$@" > /dev/null 2>&1 || true
    read -r t m < "$out"
    if [ -z "$best" ] || awk "BEGIN{exit !($t < $best)}"; then best=$t; fi
    if [ "$m" -gt "$rss" ]; then rss=$m; fi
  done
  rm -f "$out"
  echo "$best $rss"
}
