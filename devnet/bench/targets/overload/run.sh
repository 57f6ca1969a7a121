#!/bin/bash
# Open loop 1,000 tx/s (overload), validators from the build, with a mempool of 20,000
# transactions (10 blocks) and of 4,000 (2 blocks), interleaved. Usage: bash run.sh OUTDIR
set -u
OUT=${1:?output directory}
mkdir -p "$OUT"
CLI=(node --import tsx packages/cli/src/main.ts)
export TSX_TSCONFIG_PATH=tsconfig.test.json
log() { echo "$(date -u +%H:%M:%S) $* | load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/run.log"; }
run() {
  local name=$1 pool=$2 dir=/tmp/overload-devnet
  rm -rf "$dir"
  "${CLI[@]}" devnet up --built --dir "$dir" --validators 4 --base-port 0 > /dev/null
  "${CLI[@]}" devnet down --dir "$dir" > /dev/null
  for config in "$dir"/hospital-*/config.json; do
    node -e 'const fs=require("fs");const [f,n]=process.argv.slice(1);const c=JSON.parse(fs.readFileSync(f));c.mempool={...c.mempool,maxTxs:Number(n)};fs.writeFileSync(f,JSON.stringify(c,null,2))' "$config" "$pool"
  done
  "${CLI[@]}" devnet up --dir "$dir" > /dev/null
  log "start $name (mempool.maxTxs $pool)"
  timeout 600 "${CLI[@]}" bench --dir "$dir" --rate 1000 --duration 30s --clients 500 --out "$OUT/$name" 2>&1 | tail -3 | tee -a "$OUT/run.log"
  "${CLI[@]}" devnet down --dir "$dir" > /dev/null
}
run pool20k-1 20000
run pool4k-1 4000
run pool20k-2 20000
run pool4k-2 4000
log done
