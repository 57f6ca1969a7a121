#!/bin/bash
# Interleaved A/B of `bench:ledger growth`: OLD is a checkout of a50d19f (bench chain on a
# MemoryStore, pnpm install done), run from this repo's root for the SlabStore side.
#   git clone -q . /tmp/abold && (cd /tmp/abold && git checkout -q a50d19f && pnpm install --offline)
#   bash devnet/bench/targets/growth-slab/run.sh /tmp/abold > log
set -eu
old=$1
new=$(pwd)
export TSX_TSCONFIG_PATH=tsconfig.test.json
run() {
  echo "== $1 $3 $(date -u +%H:%M:%S) load $(cut -d' ' -f1-3 /proc/loadavg)"
  (cd "$2" && LEDGER_GROWTH_PATIENTS=$3 node --max-old-space-size=20000 --import tsx packages/ledger/bench/index.ts growth)
}
run old "$old" 1000,100000
run new "$new" 1000,100000
run old "$old" 1000,100000
run new "$new" 1000,100000
run new "$new" 1000,1000000
run old "$old" 1000,1000000
echo "== done $(date -u +%H:%M:%S)"
