#!/bin/bash
# Memory of a validator as deploy/ starts it, interleaved against the commit before (validators
# from the build both ways), closed loop n = 4, then this commit's open loops at 100 and 1,000
# tx/s. Usage: BASE=<checkout of the base, built> bash run.sh OUTDIR (after `pnpm build` here).
source "$(dirname "$0")/../ab.sh" "$@"
run() {
  local dir=$1 name=$2; shift 2
  log "start $name: $*"
  (cd "$dir" && timeout 600 pnpm -s bench "$@" --built --out "$OUT/$name" 2>&1 | tail -4 | tee -a "$OUT/run.log")
}
closed=(--validators 4 --find-max --window 1000 --duration 30s --clients 500)
run "$BASE" base-1 "${closed[@]}"
run "$HERE" after-1 "${closed[@]}"
run "$BASE" base-2 "${closed[@]}"
run "$HERE" after-2 "${closed[@]}"
run "$HERE" after-rate100 --validators 4 --rate 100 --duration 30s --clients 500
run "$HERE" after-rate1000 --validators 4 --rate 1000 --duration 30s --clients 500
log done
