#!/bin/bash
# Interleaved pairs of one change: for each round and each load, the base commit's validators
# then this checkout's (both from the build, four validators, 500 clients), each on a fresh
# devnet. Reports in OUT/<round>-<base|after>-<load index>/, results with load averages in
# OUT/run.log.
# Usage: BASE=<checkout of the base, built> bash pairs.sh OUT ROUNDS DURATION 'LOAD' ...
#   e.g. BASE=/tmp/base bash pairs.sh /tmp/ab 2 45s '--rate 2500' '--find-max --window 1000'
source "$(dirname "$0")/ab.sh" "$@"
rounds=${2:?rounds} duration=${3:?duration}
shift 3
for round in $(seq 1 "$rounds"); do
  load=0
  for args in "$@"; do
    load=$((load + 1))
    for side in base after; do
      dir=$HERE name=$round-$side-$load
      [ "$side" = base ] && dir=$BASE
      log "start $name: $args"
      # shellcheck disable=SC2086
      (cd "$dir" && timeout 600 pnpm -s bench --validators 4 $args --clients 500 \
        --duration "$duration" --built --out "$OUT/$name" >"$OUT/$name.log" 2>&1)
      # The result row, or why there is none (a stale build, say).
      { grep -E '^n[0-9]+-[a-z0-9-]+ +[0-9.]+ +[0-9]+ +[0-9]+%' "$OUT/$name.log" || tail -3 "$OUT/$name.log"; } | tee -a "$OUT/run.log"
    done
  done
done
log done
