#!/usr/bin/env bash
# Make (or reuse) the Python environments the mpi4py tests run in.
#
#   tests/python/venv.sh [DIR]
#
# DIR (default build/venv-mpi4py): the stock wheels mpi4py 4.1.2 and numpy,
# plus ipyparallel; run against rmpi's libmpi.so.12 through LD_LIBRARY_PATH.
# Its sibling DIR/../venv-mpich: the same plus the mpich 5.0.2 wheel (MPICH's
# libmpi.so.12 and mpiexec), for comparison runs.
# Also downloads and unpacks mpi4py 4.1.2's source (for its test/ folder) into
# build/mpi4py-src.
#
# RMPI_VENV_SKIP_MPICH=1 skips the MPICH venv (the CI tests need only DIR).
# Concurrent callers wait for each other (flock on build/.venv.lock).
#
# Only binary wheels are installed (mpi4py is never built here). Each step
# leaves a stamp naming its versions; a complete environment is not touched
# again. Quiet unless something fails. Needs python3 (3.11) with venv and pip,
# and PyPI.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
MPI4PY_VERSION=4.1.2
MPICH_VERSION=5.0.2
PYTHON=${PYTHON:-python3}

DIR=${1:-$ROOT/build/venv-mpi4py}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
MPICH_DIR=$(dirname "$DIR")/venv-mpich
SRC_DIR=$ROOT/build/mpi4py-src

mkdir -p "$ROOT/build"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$ROOT/build/.venv.lock"
  flock 9
fi

log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run CMD...: quiet, but show everything it printed if it fails.
run() {
  if ! "$@" >"$log" 2>&1; then
    echo "venv.sh: failed: $*" >&2
    cat "$log" >&2
    exit 1
  fi
}

# make_venv DIR STAMP PACKAGES...
make_venv() {
  local dir=$1 stamp=$2
  shift 2
  if [ -f "$dir/.rmpi-stamp" ] && [ "$(cat "$dir/.rmpi-stamp")" = "$stamp" ] && [ -x "$dir/bin/python" ]; then
    return 0
  fi
  rm -f "$dir/.rmpi-stamp"
  [ -x "$dir/bin/python" ] || run "$PYTHON" -m venv "$dir"
  run "$dir/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: "$@"
  # The wheels must import (mpi4py's MPI module is loaded lazily, so only
  # the package here: which libmpi it finds depends on the caller).
  run "$dir/bin/python" -c "import mpi4py, numpy, ipyparallel; assert mpi4py.__version__ == '$MPI4PY_VERSION', mpi4py.__version__"
  echo "$stamp" >"$dir/.rmpi-stamp"
}

make_venv "$DIR" "mpi4py==$MPI4PY_VERSION numpy ipyparallel" \
  "mpi4py==$MPI4PY_VERSION" numpy ipyparallel
[ "${RMPI_VENV_SKIP_MPICH:-0}" = 1 ] || make_venv "$MPICH_DIR" "mpich==$MPICH_VERSION mpi4py==$MPI4PY_VERSION numpy ipyparallel" \
  "mpich==$MPICH_VERSION" "mpi4py==$MPI4PY_VERSION" numpy ipyparallel

# mpi4py's own test suite, from its source distribution (never installed).
stamp="mpi4py-$MPI4PY_VERSION sdist"
if ! { [ -f "$SRC_DIR/.rmpi-stamp" ] && [ "$(cat "$SRC_DIR/.rmpi-stamp")" = "$stamp" ]; }; then
  rm -rf "$SRC_DIR"
  mkdir -p "$SRC_DIR/dl"
  run "$DIR/bin/python" -m pip download --quiet --disable-pip-version-check --no-binary :all: --no-deps \
    -d "$SRC_DIR/dl" "mpi4py==$MPI4PY_VERSION"
  run tar -xzf "$SRC_DIR/dl/mpi4py-$MPI4PY_VERSION.tar.gz" -C "$SRC_DIR"
  test -f "$SRC_DIR/mpi4py-$MPI4PY_VERSION/test/runtests.py"
  echo "$stamp" >"$SRC_DIR/.rmpi-stamp"
fi
