#!/bin/bash
# The issue-15 target sweep: with BASE, interleaved before/after closed loops first; then the
# targets on AFTER: n = 1 and n = 4 closed loops in one sweep, open loops at 1,000, 2,500
# (overload: the chain must keep committing) and 100 tx/s.
# Usage: [BASE=<checkout of the base commit>] AFTER=<this checkout> bash sweep.sh OUTDIR [bench flags]
#   e.g. AFTER=$PWD bash devnet/bench/targets/sweep.sh /tmp/sweep --built
# The checkouts need `pnpm install` (and `pnpm build` for --built); run on a quiet machine
# (each line records the load).
set -u
: "${AFTER:?checkout under test}"
OUT=${1:?output directory}
shift
flags=("$@")
mkdir -p "$OUT"
log() { echo "$(date -u +%H:%M:%S) $* | load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/sweep.log"; }
run() {
  local dir=$1; shift
  log "start $dir: $*"
  (cd "$dir" && timeout 600 pnpm -s bench "$@" "${flags[@]}" 2>&1 | tail -4 | tee -a "$OUT/sweep.log")
}
closed=(--validators 4 --find-max --window 1000 --duration 30s --clients 500)
if [ -n "${BASE:-}" ]; then
  run "$BASE" "${closed[@]}" --out "$OUT/ab/base1"
  run "$AFTER" "${closed[@]}" --out "$OUT/ab/after1"
  run "$BASE" "${closed[@]}" --out "$OUT/ab/base2"
  run "$AFTER" "${closed[@]}" --out "$OUT/ab/after2"
fi
run "$AFTER" --sweep validators --sweep-values 1,4 --find-max --window 1000 --duration 30s \
  --clients 500 --out "$OUT/closed-loop-n1-n4"
run "$AFTER" --validators 4 --rate 1000 --duration 30s --clients 500 --out "$OUT/open-loop-1000"
run "$AFTER" --validators 4 --rate 2500 --duration 30s --clients 500 --out "$OUT/open-loop-2500"
run "$AFTER" --validators 4 --rate 100 --duration 30s --clients 500 --out "$OUT/open-loop-100"
log done
