#!/usr/bin/env bash
# Pingpong over the ofi (libfabric) transport beside rmpi's own transports:
# latency for 8-byte messages and bandwidth for 4 MiB messages, medians of
# REPS rounds (default 7). The rounds interleave the paths, so a busy
# machine slows them alike. Needs libfabric1 installed.
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
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

labels=("rmpi tcp (loopback)")
envs=("RMPI_TRANSPORT=tcp")
for p in $PROVIDERS; do
  labels+=("ofi $p" "ofi $p, no fi_read")
  envs+=("RMPI_TRANSPORT=ofi FI_PROVIDER=$p" "RMPI_TRANSPORT=ofi FI_PROVIDER=$p RMPI_OFI_RMA=0")
done
labels+=("rmpi shm")
envs+=("RMPI_TRANSPORT=shm")

field() { tr ' ' '\n' | awk -F= -v f="$1" '$1==f {print $2}'; }
median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

for _ in $(seq "$REPS"); do
  for i in "${!envs[@]}"; do
    # shellcheck disable=SC2086
    env ${envs[$i]} "$RUN" -n 2 "$PP" --size 8 --iters 20000 | field latency_us >>"$tmp/lat$i"
    # shellcheck disable=SC2086
    env ${envs[$i]} "$RUN" -n 2 "$PP" --size 4194304 --iters 100 | field bandwidth_MBps >>"$tmp/bw$i"
  done
done

printf '%-24s %16s %22s\n' path "latency 8 B (us)" "bandwidth 4 MiB (MB/s)"
for i in "${!envs[@]}"; do
  printf '%-24s %16s %22s\n' "${labels[$i]}" "$(median <"$tmp/lat$i")" "$(median <"$tmp/bw$i")"
done
echo "(medians of $REPS interleaved rounds, two ranks on one machine)"
