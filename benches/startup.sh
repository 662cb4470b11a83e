#!/usr/bin/env bash
# Start-up cost: time from starting the launcher to the end of MPI_Init on
# the last rank (benches/init_time_ns.c), and the whole job's wall time, for
#   64 ranks on this host                     rmpirun -n 64 / MPICH mpiexec -n 64
#   3 namespace hosts x 8 ranks (as root)     rmpirun -hosts ... -ppn 8 --launcher-exec tests/netns/agent
#                                             MPICH mpiexec -hosts ... -ppn 8 -launcher-exec benches/netns-ssh-shim
# The same binary (built with MPICH's mpicc from build/venv-mpich) runs on
# both: on rmpi through LD_LIBRARY_PATH=build/prefix/lib. Medians of REPS
# runs (default 5).
#
#   benches/startup.sh          (after `make stage`; MPICH's wheel in build/venv-mpich, as the tests make it)
set -euo pipefail
cd "$(dirname "$0")/.."
REPS=${REPS:-5}
ROOT=$PWD
RUN=$ROOT/target/release/rmpirun
MPICH=$ROOT/build/venv-mpich
WORK=$(mktemp -d /tmp/rmpi-startup.XXXXXX)
BIN=$WORK/init_time
cleanup() {
  [ -n "${CLUSTER:-}" ] && tests/netns/cluster.sh down "$CLUSTER" 3 || true
  rm -rf "$WORK"
}
trap cleanup EXIT
[ -x "$RUN" ] && [ -f build/prefix/lib/libmpi.so.12 ] || { echo "build first: make stage" >&2; exit 1; }
[ -x "$MPICH/bin/mpicc" ] || { echo "no MPICH wheel in $MPICH (cargo test --release --test python_mpi4py makes it)" >&2; exit 1; }
"$MPICH/bin/mpicc" benches/init_time_ns.c -o "$BIN"

median() { sort -g | awk '{a[NR]=$1} END {if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# one LABEL CMD...: prints "init_ms total_ms" for one run
one() {
  local s e out
  s=$(date +%s%N)
  out=$("$@")
  e=$(date +%s%N)
  local init
  init=$(sed -n 's/.*init_end_ns=\([0-9]*\).*/\1/p' <<<"$out")
  [ -n "$init" ] || { echo "no init_end_ns in: $out" >&2; exit 1; }
  echo "$(( (init - s) / 1000 )) $(( (e - s) / 1000 ))"
}

case_() { # LABEL CMD...
  local label=$1
  shift
  local runs=()
  for _ in $(seq "$REPS"); do runs+=("$(one "$@")"); done
  local init total
  init=$(printf '%s\n' "${runs[@]}" | awk '{print $1/1000}' | median)
  total=$(printf '%s\n' "${runs[@]}" | awk '{print $2/1000}' | median)
  printf '%-44s %14s %14s\n' "$label" "$init" "$total"
}

printf '%-44s %14s %14s\n' case "to MPI_Init (ms)" "whole job (ms)"
case_ "rmpi rmpirun, 64 ranks, 1 host" env LD_LIBRARY_PATH="$ROOT/build/prefix/lib" "$RUN" -n 64 "$BIN"
case_ "MPICH 5.0.2 mpiexec, 64 ranks, 1 host" "$MPICH/bin/mpiexec" -n 64 "$BIN"

if [ "$(id -u)" = 0 ] && ip netns list >/dev/null 2>&1; then
  CLUSTER=rmst$$
  CLUSTER=${CLUSTER:0:9}
  tests/netns/cluster.sh down "$CLUSTER" 3 2>/dev/null || true
  tests/netns/cluster.sh up "$CLUSTER" 10.79.251 3
  H="${CLUSTER}1,${CLUSTER}2,${CLUSTER}3"
  case_ "rmpi rmpirun, 3 hosts x 8 (netns agent)" env LD_LIBRARY_PATH="$ROOT/build/prefix/lib" \
    "$RUN" -hosts "$H" -ppn 8 --launcher-exec "$ROOT/tests/netns/agent" "$BIN"
  case_ "MPICH mpiexec, 3 hosts x 8 (netns agent)" "$MPICH/bin/mpiexec" -hosts "$H" -ppn 8 \
    -launcher ssh -launcher-exec "$ROOT/benches/netns-ssh-shim" -iface "${CLUSTER}br" "$BIN"
else
  echo "(3-host cases skipped: they need root and ip netns)"
fi
echo "(medians of $REPS runs; 'to MPI_Init' = launcher start to the last rank leaving MPI_Init)"
