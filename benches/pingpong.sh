#!/usr/bin/env bash
# Pingpong between two ranks over shared memory and over TCP: latency for
# 8-byte messages and bandwidth for 4 MiB messages. Each case runs REPS
# times (default 7) and the median is printed; the machine is noisy.
#
#   benches/pingpong.sh            (after `make`)
#   REPS=11 benches/pingpong.sh
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-7}
RUN=target/release/rmpirun
PP=target/release/examples/pingpong
[ -x "$RUN" ] && [ -x "$PP" ] || { echo "build first: make" >&2; exit 1; }

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# field NAME from the pingpong example's "size=.. latency_us=.. bandwidth_MBps=.." line
measure() { # transport size iters field
  local transport=$1 size=$2 iters=$3 field=$4
  for _ in $(seq "$REPS"); do
    RMPI_TRANSPORT=$transport "$RUN" -n 2 "$PP" --size "$size" --iters "$iters" |
      tr ' ' '\n' | awk -F= -v f="$field" '$1==f {print $2}'
  done | median
}

printf '%-8s %16s %20s\n' transport "latency 8 B (us)" "bandwidth 4 MiB (MB/s)"
for t in shm tcp; do
  lat=$(measure "$t" 8 20000 latency_us)
  bw=$(measure "$t" 4194304 200 bandwidth_MBps)
  printf '%-8s %16s %20s\n' "$t" "$lat" "$bw"
done
echo "(medians of $REPS runs each; RMPI_TRANSPORT=shm means the default: shared memory on one node)"
