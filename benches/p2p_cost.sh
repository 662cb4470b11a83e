#!/usr/bin/env bash
# Instructions per small blocking MPI_Send and MPI_Recv (callgrind), on
# both ranks: repeatable whatever the machine's load.
#
#   benches/p2p_cost.sh [SIZE] [ITERATIONS]      (defaults 8 and 100)
#
# Needs valgrind and a staged install (make stage). A line's "progress
# calls" above the iteration count means a receive had to wait (a loaded
# machine delayed a rank by tens of milliseconds): its figure then
# includes spinning, so run it again.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
SIZE=${1:-8}
N=${2:-100}
OUT=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$OUT"' EXIT
"$ROOT/build/prefix/bin/rmpicc" -O2 -o "$OUT/p2p_cost" "$ROOT/benches/p2p_cost.c"
"$ROOT/build/prefix/bin/rmpirun" -n 2 valgrind --tool=callgrind "--callgrind-out-file=$OUT/cg.%q{PMI_RANK}" \
  "$OUT/p2p_cost" "$SIZE" "$N" >"$OUT/log" 2>&1 || { cat "$OUT/log" >&2; exit 1; }
for r in 0 1; do
  incl=$(callgrind_annotate --inclusive=yes --threshold=100 "$OUT/cg.$r" 2>/dev/null)
  # The largest inclusive count of the entry point (its name appears once per source file it inlines).
  most() { echo "$incl" | awk -v f="$1" '$0 ~ ":" f "( |$)" {gsub(",", "", $1); if ($1 + 0 > m) m = $1 + 0} END {print m + 0}'; }
  s=$(most PMPI_Send)
  v=$(most PMPI_Recv)
  pc=$(callgrind_annotate --tree=calling "$OUT/cg.$r" 2>/dev/null | grep -m1 '>.*Runtime::progress (' |
    sed 's/.*(\([0-9,]*\)x).*/\1/')
  echo "rank $r size $SIZE: MPI_Send $((s / N)) MPI_Recv $((v / N)) instructions per call (progress calls $pc for $N receives)"
done
