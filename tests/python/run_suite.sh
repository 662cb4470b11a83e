#!/usr/bin/env bash
# Run mpi4py 4.1.2's own test suite once, under one MPI, and summarize it.
#
#   tests/python/run_suite.sh IMPL NP OUTDIR [TIMEOUT_SECONDS [RUNTESTS ARGS...]]
#
# IMPL   rmpi:  build/venv-mpi4py (stock wheels), rmpi's build/prefix/bin/rmpirun,
#               LD_LIBRARY_PATH=build/prefix/lib first (rmpi's libmpi.so.12)
#        mpich: build/venv-mpich (the mpich 5.0.2 wheel), its own mpiexec
# NP     number of ranks
# OUTDIR emptied, then: output.txt (everything the ranks printed),
#        rank-R.log (per-test progress), summary.json
# RMPI_PREFIX  rmpi's install prefix (default build/prefix)
# TIMEOUT for the whole run (default 900 s); a run still going then is
#        killed and is incomplete (the tests it was in count as errors).
#        Also ended when no rank logs progress for RMPI_SUITE_STALL seconds
#        (default 180): one test hung.
# RUNTESTS ARGS go to mpi4py's test runner, e.g. -x testISSendAndRecv to
#        leave out tests matching a name, -e test_spawn to leave out a module.
#
# Prints the summary line of mpi4py_suite.py (np=.. passed=.. failed=..
# errors=.. skipped=.. complete=yes|no ranks=..), then
# "launcher: exit=N timed_out=yes|no seconds=S". Exits 0 when the run was
# complete (every rank finished the suite), 1 otherwise. Run venv.sh first.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
HERE=$ROOT/tests/python
IMPL=${1:?IMPL (rmpi|mpich)}
NP=${2:?NP}
OUT=${3:?OUTDIR}
TIMEOUT=${4:-900}
STALL=${RMPI_SUITE_STALL:-180}
shift $(($# < 4 ? $# : 4))
TESTDIR=$ROOT/build/mpi4py-src/mpi4py-4.1.2/test

case "$IMPL" in
  rmpi)
    VENV=$ROOT/build/venv-mpi4py
    PREFIX=${RMPI_PREFIX:-$ROOT/build/prefix}
    LAUNCH=("$PREFIX/bin/rmpirun" --timeout "$TIMEOUT" -n "$NP")
    export LD_LIBRARY_PATH="$PREFIX/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    [ -f "$PREFIX/lib/libmpi.so.12" ] || { echo "run_suite.sh: $PREFIX/lib/libmpi.so.12 is missing (make build stage)" >&2; exit 2; }
    # rmpi cannot spawn processes yet (MPI_Comm_spawn fails with
    # MPI_ERR_UNSUPPORTED_OPERATION): tell mpi4py's tests, as its own switch
    # allows, so they skip instead of waiting forever for workers (the
    # process-pool tests do not recover from a failed spawn).
    export MPI4PY_TEST_SPAWN=${MPI4PY_TEST_SPAWN:-0}
    ;;
  mpich)
    VENV=$ROOT/build/venv-mpich
    export MPIEXEC_TIMEOUT=$TIMEOUT
    LAUNCH=("$VENV/bin/mpiexec" -n "$NP")
    ;;
  *) echo "run_suite.sh: IMPL is rmpi or mpich, not $IMPL" >&2; exit 2 ;;
esac
[ -d "$TESTDIR" ] || { echo "run_suite.sh: $TESTDIR is missing: run tests/python/venv.sh" >&2; exit 2; }

rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
# Processes that mpi4py.futures spawns import the test modules by name.
export PYTHONPATH=$TESTDIR
export PYTHONDONTWRITEBYTECODE=1
start=$(date +%s)
# The launcher has its own timeout; this is the guard behind it.
cd "$OUT" || exit 2
timeout -k 10 $((TIMEOUT + 30)) "${LAUNCH[@]}" \
  "$VENV/bin/python" "$HERE/mpi4py_suite.py" run --testdir "$TESTDIR" --out "$OUT" -- -v "$@" \
  >"$OUT/output.txt" 2>&1 </dev/null &
job=$!
# Watchdog: a run whose ranks log nothing for STALL seconds is hung in one
# test; end it then rather than at the overall timeout.
stalled=no
while kill -0 "$job" 2>/dev/null; do
  newest=$(stat -c %Y "$OUT"/rank-*.log "$OUT/output.txt" 2>/dev/null | sort -n | tail -n 1)
  if [ -n "$newest" ] && [ $(( $(date +%s) - newest )) -gt "$STALL" ]; then
    stalled=yes
    echo "run_suite.sh: no progress for ${STALL}s; ending the run" >>"$OUT/output.txt"
    kill -TERM "$job" 2>/dev/null
    break
  fi
  sleep 2
done
wait "$job"
rc=$?
secs=$(( $(date +%s) - start ))
timed_out=no
[ $((secs)) -ge "$TIMEOUT" ] && timed_out=yes
[ "$stalled" = yes ] && timed_out=yes
"$VENV/bin/python" "$HERE/mpi4py_suite.py" summary "$OUT" --np "$NP" --json >"$OUT/summary.json"
"$VENV/bin/python" "$HERE/mpi4py_suite.py" summary "$OUT" --np "$NP"
echo "launcher: exit=$rc timed_out=$timed_out stalled=$stalled seconds=$secs"
"$VENV/bin/python" -c 'import json,sys; sys.exit(0 if json.load(open(sys.argv[1]))["complete"] else 1)' "$OUT/summary.json"
