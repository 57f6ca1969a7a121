#!/bin/bash
# The issue-15 target sweep: interleaved before/after closed loops, then the targets on AFTER.
# Usage: BASE=<checkout of the base commit> AFTER=<this checkout> bash sweep.sh OUTDIR
# Both checkouts need `pnpm install`; run on a quiet machine (each line records the load).
set -u
: "${BASE:?checkout of the base commit}" "${AFTER:?checkout under test}"
OUT=${1:?output directory}
mkdir -p "$OUT/ab"
log() { echo "$(date -u +%H:%M:%S) $* | load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/sweep.log"; }
run() {
  local dir=$1; shift
  log "start $dir: $*"
  (cd "$dir" && timeout 600 pnpm -s bench "$@" 2>&1 | tail -4 | tee -a "$OUT/sweep.log")
}
closed=(--validators 4 --find-max --window 1000 --duration 30s --clients 500)
run "$BASE" "${closed[@]}" --out "$OUT/ab/base1"
run "$AFTER" "${closed[@]}" --out "$OUT/ab/after1"
run "$BASE" "${closed[@]}" --out "$OUT/ab/base2"
run "$AFTER" "${closed[@]}" --out "$OUT/ab/after2"
run "$AFTER" --sweep validators --sweep-values 1,4 --find-max --window 1000 --duration 30s \
  --clients 500 --out "$OUT/closed-loop-n1-n4"
run "$AFTER" --validators 4 --rate 1000 --duration 30s --clients 500 --out "$OUT/open-loop-1000"
run "$AFTER" --validators 4 --rate 100 --duration 30s --clients 500 --out "$OUT/open-loop-100"
log done
