#!/bin/bash
# The state-cache changes interleaved against the commit before them (validators from the build
# both ways): closed loop n = 4 three times each, then open loop 100 tx/s once each. During each
# run, one validator's CPU is read per thread from /proc for 15 s (main JS thread, V8's GC helper
# threads, LevelDB's compaction thread, libuv's pool).
# Usage: BASE=<checkout of the base, built> bash run.sh OUTDIR (after `pnpm build` here).
source "$(dirname "$0")/../ab.sh" "$@"
threads() {
  local pid=$1 seconds=$2 task
  snap() { for task in /proc/"$pid"/task/*; do echo "${task##*/} $(cut -d' ' -f14,15 "$task/stat")"; done | sort; }
  snap >"$OUT/.a"; sleep "$seconds"; snap >"$OUT/.b"
  join "$OUT/.a" "$OUT/.b" | awk -v pid="$pid" '{ printf "%s %s %.2f\n", ($1 == pid ? "main" : "thread"), $1, ($4 + $5 - $2 - $3) / 100 }'
}
run() {
  local dir=$1 name=$2; shift 2
  log "start $name: $*"
  (sleep 38; pid=$(pgrep -f "main.js start --home .*hospital-b" | head -1); [ -n "$pid" ] && threads "$pid" 15 >"$OUT/$name.threads") &
  (cd "$dir" && timeout 600 pnpm -s bench "$@" --built --out "$OUT/$name" 2>&1 | tail -4 | tee -a "$OUT/run.log")
  wait
}
closed=(--validators 4 --find-max --window 1000 --duration 30s --clients 500)
for i in 1 2 3; do
  run "$BASE" base-$i "${closed[@]}"
  run "$HERE" after-$i "${closed[@]}"
done
run "$BASE" base-rate100 --validators 4 --rate 100 --duration 30s --clients 500
run "$HERE" after-rate100 --validators 4 --rate 100 --duration 30s --clients 500
rm -f "$OUT/.a" "$OUT/.b"
log done
