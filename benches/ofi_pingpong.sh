#!/usr/bin/env bash
# Pingpong over the ofi (libfabric) transport beside rmpi's own transports:
# latency for 8-byte messages and bandwidth for 4 MiB messages, medians of
# REPS runs (default 7). Needs libfabric1 installed.
#
#   benches/ofi_pingpong.sh                  (after `make`)
#   PROVIDERS="tcp shm" REPS=11 benches/ofi_pingpong.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-7}
PROVIDERS=${PROVIDERS:-"tcp shm"}
RUN=target/release/rmpirun
PP=target/release/examples/pingpong
[ -x "$RUN" ] && [ -x "$PP" ] || { echo "build first: make" >&2; exit 1; }

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

measure() { # "ENV=.. ENV=.." size iters field
  local envs=$1 size=$2 iters=$3 field=$4
  for _ in $(seq "$REPS"); do
    env $envs "$RUN" -n 2 "$PP" --size "$size" --iters "$iters" |
      tr ' ' '\n' | awk -F= -v f="$field" '$1==f {print $2}'
  done | median
}

row() { # label envs
  local lat bw
  lat=$(measure "$2" 8 20000 latency_us)
  bw=$(measure "$2" 4194304 100 bandwidth_MBps)
  printf '%-28s %16s %20s\n' "$1" "$lat" "$bw"
}

printf '%-28s %16s %20s\n' path "latency 8 B (us)" "bandwidth 4 MiB (MB/s)"
row "rmpi tcp (loopback)" "RMPI_TRANSPORT=tcp"
for p in $PROVIDERS; do
  row "ofi $p" "RMPI_TRANSPORT=ofi FI_PROVIDER=$p"
  row "ofi $p, no fi_read" "RMPI_TRANSPORT=ofi FI_PROVIDER=$p RMPI_OFI_RMA=0"
done
row "rmpi shm" "RMPI_TRANSPORT=shm"
echo "(medians of $REPS runs each, two ranks on one machine)"
