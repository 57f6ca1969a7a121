#!/bin/bash
# Bytes promoted to the old generation, this checkout against BASE (here: StateStore's staged
# copies against none; ../batch/: the byte-slab write batch against 9cf1290): closed loop
# n = 4 (validators from the build), interleaved base, after, base, after, with V8's sampling
# heap profiler in every validator from 25 s to 45 s after it starts, keeping only what survived
# the young generation (devnet/bench/heap-sampling.mjs). Per validator: NAME/heap/<pid>.heapprofile.
# Usage: BASE=<checkout of the base, built> bash run.sh OUTDIR (after `pnpm build` here).
source "$(dirname "$0")/../../ab.sh" "$@"
run() {
  local dir=$1 name=$2
  log "start $name"
  (cd "$dir" && NODE_OPTIONS="--import=$HERE/devnet/bench/heap-sampling.mjs" \
    HEAP_SAMPLING_DIR="$OUT/$name/heap" HEAP_SAMPLING_PROMOTED=1 \
    timeout 600 pnpm -s bench --validators 4 --find-max --window 1000 --duration 30s --clients 500 \
    --built --out "$OUT/$name" 2>&1 | tail -4 | tee -a "$OUT/run.log")
}
run "$BASE" base-1
run "$HERE" after-1
run "$BASE" base-2
run "$HERE" after-2
log done
