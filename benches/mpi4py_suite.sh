#!/usr/bin/env bash
# mpi4py 4.1.2's own test suite at several numbers of ranks, on rmpi and on
# the mpich 5.0.2 wheel, one after the other on this machine; prints a table
# of passed / failed / errors / skipped per np per library.
#
#   benches/mpi4py_suite.sh [--np "1 2 4"] [--only rmpi|mpich] [--timeout S]
#                           [--baseline FILE] [--table-only]
#
# --baseline FILE  write the MPICH counts to FILE as JSON (what
#                  tests/python/mpich_baseline.json is made with:
#                  benches/mpi4py_suite.sh --only mpich --baseline tests/python/mpich_baseline.json)
#
# --table-only     run nothing: tabulate the runs already in bench-out/mpi4py
#
# Needs PyPI once (tests/python/venv.sh makes the venvs) and, for rmpi,
# `make build stage` (build/prefix/lib/libmpi.so.12). Each run's output and
# per-test results stay in bench-out/mpi4py/<lib>-np<N>/.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NPS="1 2 4"
LIBS="rmpi mpich"
TIMEOUT=1200
BASELINE=
RUN=1
while [ $# -gt 0 ]; do
  case "$1" in
    --np) NPS=$2; shift 2 ;;
    --only) LIBS=$2; shift 2 ;;
    --timeout) TIMEOUT=$2; shift 2 ;;
    --baseline) BASELINE=$2; shift 2 ;;
    --table-only) RUN=0; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "mpi4py_suite.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done

[ "$RUN" = 0 ] || "$ROOT/tests/python/venv.sh" || exit 1
OUT=$ROOT/bench-out/mpi4py
mkdir -p "$OUT"
PY=$ROOT/build/venv-mpich/bin/python

for lib in $LIBS; do
  [ "$RUN" = 1 ] || break
  if [ "$lib" = rmpi ] && [ ! -f "$ROOT/build/prefix/lib/libmpi.so.12" ]; then
    echo "mpi4py_suite.sh: build/prefix/lib/libmpi.so.12 is missing (make build stage); rmpi not run" >&2
    continue
  fi
  for np in $NPS; do
    echo "== $lib np=$np" >&2
    "$ROOT/tests/python/run_suite.sh" "$lib" "$np" "$OUT/$lib-np$np" "$TIMEOUT" >&2
  done
done

# The table, and the baseline file if asked for.
"$PY" - "$OUT" "$NPS" "$LIBS" "$BASELINE" "$ROOT/tests/python" <<'PYEOF'
import datetime, json, pathlib, platform, sys
out, nps, libs, baseline = pathlib.Path(sys.argv[1]), sys.argv[2].split(), sys.argv[3].split(), sys.argv[4]
sys.path.insert(0, sys.argv[5])
from mpi4py_suite import summarize
print(f"{'library':8} {'np':>3} {'passed':>7} {'failed':>7} {'errors':>7} {'skipped':>8}  complete  vs MPICH")
mpich = {}
for lib in ["mpich", "rmpi"]:
    if lib not in libs:
        continue
    for np in nps:
        d = out / f"{lib}-np{np}"
        if not (d / "rank-0.log").exists():
            print(f"{lib:8} {np:>3} {'-':>7} {'-':>7} {'-':>7} {'-':>8}  not run")
            continue
        s = summarize(d, int(np))
        if lib == "mpich":
            mpich[np] = s
        ratio = ""
        if lib == "rmpi" and np in mpich and mpich[np]["passed"]:
            ratio = f"{100.0 * s['passed'] / mpich[np]['passed']:.1f}% of passes"
        print(f"{lib:8} {np:>3} {s['passed']:>7} {s['failed']:>7} {s['errors']:>7} {s['skipped']:>8}  "
              f"{'yes' if s['complete'] else 'NO':8}  {ratio}")
if baseline:
    data = {
        "what": "mpi4py 4.1.2 test suite (sdist test/ folder) on the mpich 5.0.2 wheel with its own mpiexec, "
                "made by benches/mpi4py_suite.sh --only mpich --baseline; one outcome per test method, "
                "the worst over the ranks (see tests/python/mpi4py_suite.py)",
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": f"{platform.machine()}, {len(__import__('os').sched_getaffinity(0))} cores, Python {platform.python_version()}",
        "runs": {
            np: {k: s[k] for k in ("passed", "failed", "errors", "skipped", "complete")}
            | {"failed_tests": s["failed_tests"], "error_tests": s["error_tests"], "by_module": s["by_module"]}
            for np, s in mpich.items()
        },
    }
    pathlib.Path(baseline).write_text(json.dumps(data, indent=1) + "\n")
    print(f"baseline written to {baseline}")
PYEOF
