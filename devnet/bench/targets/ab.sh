# Sourced by the interleaved A/B scripts under this directory, with their arguments: checks
# BASE (a built checkout of the base commit), takes OUT (the output directory) from $1, sets
# HERE (this checkout) and `log` (a timestamped line with the load average, into OUT/run.log).
set -u
: "${BASE:?checkout of the base commit, built}"
OUT=${1:?output directory}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)
mkdir -p "$OUT"
log() { echo "$(date -u +%H:%M:%S) $* | load $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$OUT/run.log"; }
