#!/bin/bash
# The chain database's write buffer (config memory.dbWriteBufferBytes), interleaved: for each
# round and each setting, a fresh 4-validator devnet from the build with the bench's manifest
# (block 2,000 transactions, batch wait 50 ms), its homes' config.json given the setting, then
# `medchain bench --dir` on it. Appends "== label round load" and the result row to
# OUT/summary.txt; reports under OUT/<label>-<round>/.
# Usage (after `pnpm build`): bash run.sh OUT ROUNDS label=BYTES ...
#   e.g. bash run.sh /tmp/wb 2 wb4=4194304 wb16=16777216
# BENCH_ARGS replaces the load (default: --find-max --window 1000), e.g. BENCH_ARGS="--rate 1000".
set -eu
out=$1 rounds=$2
shift 2
root=$(cd "$(dirname "$0")/../../../.." && pwd)
mkdir -p "$out"
manifest=$out/manifest.json
echo '{"chainId":"medchain-bench","validators":4,"logLevel":"warn","block":{"maxTxs":2000,"batchTimeMs":50}}' >"$manifest"
dir=$(mktemp -d)/devnet
cd "$root"
for round in $(seq 1 "$rounds"); do
  for setting in "$@"; do
    label=${setting%%=*} bytes=${setting#*=}
    rm -rf "$dir"
    pnpm -s medchain devnet up --built --manifest "$manifest" --base-port 0 --dir "$dir" >/dev/null
    pnpm -s medchain devnet down --dir "$dir" >/dev/null
    for config in "$dir"/*/config.json; do
      node -e 'const fs=require("fs");const [p,b]=process.argv.slice(1);const c=JSON.parse(fs.readFileSync(p,"utf8"));c.memory={...c.memory,dbWriteBufferBytes:Number(b)};fs.writeFileSync(p,JSON.stringify(c,null,2))' "$config" "$bytes"
    done
    pnpm -s medchain devnet up --dir "$dir" >/dev/null
    echo "== $label round $round load $(cut -d' ' -f1-3 /proc/loadavg)" >>"$out/summary.txt"
    # shellcheck disable=SC2086
    timeout 600 pnpm -s bench --dir "$dir" ${BENCH_ARGS:---find-max --window 1000} --clients 500 \
      --duration 30s --out "$out/$label-$round" >"$out/$label-$round.log" 2>&1 || true
    grep -A1 '^run ' "$out/$label-$round.log" | tail -1 >>"$out/summary.txt"
    pnpm -s medchain devnet down --dir "$dir" >/dev/null
  done
done
rm -rf "$(dirname "$dir")"
