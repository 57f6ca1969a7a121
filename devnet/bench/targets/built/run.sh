#!/bin/bash
# Validators from source (tsx) against the build (plain node), interleaved, closed loop n = 4,
# then the open loop at 100 tx/s each way. Usage: bash run.sh OUTDIR (after `pnpm build`).
set -u
OUT=${1:?output directory}
mkdir -p "$OUT"
log() { echo "$(date -u +%H:%M:%S) $* | load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/run.log"; }
run() {
  local name=$1; shift
  log "start $name: $*"
  timeout 600 pnpm -s bench "$@" --out "$OUT/$name" 2>&1 | tail -4 | tee -a "$OUT/run.log"
}
closed=(--validators 4 --find-max --window 1000 --duration 30s --clients 500)
run source-1 "${closed[@]}"
run built-1 "${closed[@]}" --built
run source-2 "${closed[@]}"
run built-2 "${closed[@]}" --built
run source-rate100 --validators 4 --rate 100 --duration 30s --clients 500
run built-rate100 --validators 4 --rate 100 --duration 30s --clients 500 --built
log done
