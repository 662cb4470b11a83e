#!/usr/bin/env bash
# Start-up time: from launching the job to the moment the last rank has
# finished MPI_Init, for 64 ranks on one node and 3 nodes x 8 ranks, with
# srun --mpi=pmi2 (direct launch) and with the MPI's own launcher, for rmpi
# and for MPICH 5.0.2 (the wheel in build/venv-mpich). The same C program
# (benches/init_time.c, built with rmpicc) runs on both libraries: MPICH's
# libmpi.so.12 is picked through LD_LIBRARY_PATH.
#
#   benches/slurm_startup.sh            (root; after `make stage`)
#   REPS=9 benches/slurm_startup.sh
#
# Stands up its own 3-node Slurm cluster (tests/slurm/cluster.sh) and takes it
# down at the end. Each case runs REPS times (default 5); medians are printed:
# "init" is launch to end of MPI_Init (last rank), "total" launch to exit;
# the /bin/true rows are Slurm's own cost of starting and ending the tasks.
# The 3-node launcher rows use the namespace agent as remote shell (Hydra's
# -launcher-exec; rmpirun's --launcher-exec once it has one).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
REPS=${REPS:-5}
PREFIX=$ROOT/build/prefix
MPICH=$ROOT/build/venv-mpich
WORK=$(mktemp -d /tmp/rmpi-startup.XXXXXX)
[ "$(id -u)" = 0 ] || { echo "needs root (it stands up a Slurm cluster)" >&2; exit 1; }
[ -x "$PREFIX/bin/rmpicc" ] || { echo "run make stage first" >&2; exit 1; }
if [ ! -x "$MPICH/bin/mpiexec" ]; then
  tests/python/venv.sh >/dev/null || echo "no MPICH venv: MPICH rows skipped" >&2
fi

"$PREFIX/bin/rmpicc" -O2 benches/init_time.c -o "$WORK/init_time"
CL=$WORK/cluster
trap 'tests/slurm/cluster.sh down "$CL" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
RMPI_SLURM_QUIET=1 tests/slurm/cluster.sh up --nodes 3 --owner $$ "$CL"
export SLURM_CONF=$CL/slurm.conf
AGENT=$CL/agent
BRIDGE=$(cat "$CL/bridge")

median() { sort -g | awk '{a[NR]=$1} END {if (NR == 0) print "-"; else if (NR%2) print a[(NR+1)/2]; else print (a[NR/2]+a[NR/2+1])/2}'; }

# run LIB CMD...: one job; prints "init total" in seconds, or nothing on failure.
run() {
  local lib=$1
  shift
  local t0 t1 out end
  t0=$(date +%s.%N)
  out=$(LD_LIBRARY_PATH=$lib timeout 120 "$@" 2>"$WORK/err") || { echo "failed: $* ($(tail -1 "$WORK/err"))" >&2; return 0; }
  t1=$(date +%s.%N)
  end=$(awk '$1 == "init_end" {print $2}' <<<"$out")
  [ -n "$end" ] || { echo "no init_end from: $*" >&2; return 0; }
  awk -v a="$t0" -v b="$end" -v c="$t1" 'BEGIN {printf "%.3f %.3f\n", b - a, c - a}'
}

# case LABEL LIB CMD...: REPS runs, medians.
case_() {
  local label=$1 lib=$2
  shift 2
  local res i
  res=$(for i in $(seq "$REPS"); do run "$lib" "$@"; done)
  printf '%-40s %8s %8s\n' "$label" "$(awk '{print $1}' <<<"$res" | median)" "$(awk '{print $2}' <<<"$res" | median)"
}

# baseline LABEL CMD...: a job of /bin/true (no MPI): the launcher's own cost.
baseline() {
  local label=$1 i t0 t1
  shift
  for i in $(seq "$REPS"); do
    t0=$(date +%s.%N)
    timeout 120 "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; continue; }
    t1=$(date +%s.%N)
    awk -v a="$t0" -v c="$t1" 'BEGIN {printf "%.3f\n", c - a}'
  done | median | xargs printf '%-40s %8s %8s\n' "$label" "-"
}

P=$WORK/init_time
printf '%-40s %8s %8s\n' "case (median of $REPS)" "init s" "total s"
baseline "srun /bin/true 1 node x 64 (no MPI)" srun -O -N1 -n64 -w n1 /bin/true
case_ "rmpi  srun --mpi=pmi2 1 node x 64" "$PREFIX/lib" srun --mpi=pmi2 -O -N1 -n64 -w n1 "$P"
case_ "rmpi  rmpirun -n 64 (one host)" "$PREFIX/lib" "$PREFIX/bin/rmpirun" -n 64 "$P"
if [ -x "$MPICH/bin/mpiexec" ]; then
  case_ "mpich srun --mpi=pmi2 1 node x 64" "$MPICH/lib" srun --mpi=pmi2 -O -N1 -n64 -w n1 "$P"
  case_ "mpich mpiexec -n 64 (one host)" "$MPICH/lib" "$MPICH/bin/mpiexec" -n 64 "$P"
fi
baseline "srun /bin/true 3 nodes x 8 (no MPI)" srun -N3 -n24 --ntasks-per-node=8 /bin/true
case_ "rmpi  srun --mpi=pmi2 3 nodes x 8" "$PREFIX/lib" srun --mpi=pmi2 -N3 -n24 --ntasks-per-node=8 "$P"
if "$PREFIX/bin/rmpirun" --help 2>&1 | grep -q -- --launcher-exec; then
  case_ "rmpi  rmpirun 3 hosts x 8 (agent)" "$PREFIX/lib" "$PREFIX/bin/rmpirun" --launcher-exec "$AGENT" \
    -hosts n1,n2,n3 -ppn 8 -n 24 "$P"
fi
if [ -x "$MPICH/bin/mpiexec" ]; then
  case_ "mpich srun --mpi=pmi2 3 nodes x 8" "$MPICH/lib" srun --mpi=pmi2 -N3 -n24 --ntasks-per-node=8 "$P"
  case_ "mpich mpiexec 3 hosts x 8 (agent)" "$MPICH/lib" "$MPICH/bin/mpiexec" -launcher ssh -launcher-exec "$AGENT" \
    -iface "$BRIDGE" -hosts n1,n2,n3 -ppn 8 -n 24 "$P"
fi
echo "(2 cores; 64 ranks are oversubscribed 32x. Slurm nodes are namespaces of this machine joined by TCP.)"
