#!/usr/bin/env bash
# A real Slurm test cluster on one machine (Debian 12, root, no systemd).
#
#   cluster.sh up [--nodes 1|3] [--owner PID] DIR
#   cluster.sh down DIR
#   cluster.sh status DIR
#   cluster.sh check [NODES]    # root and namespaces? exit 0, or 3 with the reason
#
# `up` installs Debian's munge and Slurm packages (munge slurmctld slurmd
# slurm-client, and iproute2 for several nodes) if they are missing, writes
# a munge key and slurm.conf under DIR (created if needed, must be empty or
# absent), starts munged, slurmctld and one slurmd per node, and waits until
# every node is idle. Then `. DIR/env` (or SLURM_CONF=DIR/slurm.conf) makes
# srun, sbatch, salloc, sinfo use it. `down` stops exactly what `up` started
# (recorded pids under DIR/pids) and removes the bridge; DIR itself stays.
# With --owner PID, a watcher tears the cluster down once PID is gone (a test
# binary that dies without cleaning up leaves nothing running).
#
# --nodes 1 (default): one slurmd in this machine's own namespaces, node name
# = `hostname -s`, everything on 127.0.0.1.
# --nodes 3: nodes n1..n3, each a slurmd in its own network, UTS (hostname
# nI), mount (own /dev/shm tmpfs, DIR/hosts over /etc/hosts), IPC and pid
# namespace (a shell is pid 1 and reaps orphans). Each node has eth0 with
# 10.77.S.1I on a bridge rmpibrS (10.77.S.1, where slurmctld listens), so
# only TCP joins two nodes. DIR/agent HOST "command" runs a command inside a
# node, like ssh (see ns-agent).
#
# Several clusters may run at once (different DIRs): each takes a free slot S
# (0..7) under /run/rmpi-slurm, which fixes its ports, subnet and bridge.
#
# Exit codes: 0 ok, 1 failure, 3 cannot run here (not root, no namespaces,
# packages not installable); the reason is printed on stderr.
set -eEuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SELF=$HERE/$(basename "${BASH_SOURCE[0]}")
REGISTRY=/run/rmpi-slurm
# Daemons and ip live in sbin, which a test's PATH may lack.
export PATH=$PATH:/usr/sbin:/sbin
UP_DEADLINE=${RMPI_SLURM_UP_SECS:-90}

die() { echo "cluster.sh: $*" >&2; exit 1; }
cannot() { echo "cluster.sh: cannot run a Slurm cluster here: $*" >&2; exit 3; }
log() { [ -n "${RMPI_SLURM_QUIET:-}" ] || echo "cluster.sh: $*" >&2; }

# wait_for SECONDS DESCRIPTION CMD...: run CMD every 0.1 s until it succeeds.
wait_for() {
  local secs=$1 what=$2
  shift 2
  local end=$(($(date +%s%N) + secs * 1000000000))
  until "$@" >/dev/null 2>&1; do
    if [ "$(date +%s%N)" -gt "$end" ]; then
      echo "cluster.sh: timed out after ${secs}s waiting for $what" >&2
      return 1
    fi
    sleep 0.1
  done
}

alive() { [ -n "${1:-}" ] && kill -0 "$1" 2>/dev/null; }

check_root() {
  [ "$(id -u)" = 0 ] || cannot "not root (Slurm daemons and namespaces need root)"
}

check_namespaces() {
  command -v unshare >/dev/null && command -v nsenter >/dev/null || cannot "unshare/nsenter missing (util-linux)"
  [ "$1" = 1 ] && return 0
  command -v ip >/dev/null || cannot "ip missing (iproute2)"
  unshare --net --uts --mount --ipc --pid --fork --mount-proc true 2>/dev/null ||
    cannot "cannot create network/uts/mount/ipc/pid namespaces"
  local probe=rmpichk$$
  if ! ip link add "$probe" type veth peer name "${probe}p" 2>/dev/null; then
    cannot "cannot create veth pairs"
  fi
  ip link del "$probe" 2>/dev/null || true
  if ! ip link add "$probe" type bridge 2>/dev/null; then
    cannot "cannot create bridges"
  fi
  ip link del "$probe" 2>/dev/null || true
}

# install_packages NODES: the Debian packages whose commands are missing.
install_packages() {
  local want=() cmd pkg
  for cmd in munged:munge slurmctld:slurmctld slurmd:slurmd srun:slurm-client; do
    command -v "${cmd%%:*}" >/dev/null 2>&1 || want+=("${cmd#*:}")
  done
  ls /usr/lib/*/slurm-wlm/mpi_pmi2.so >/dev/null 2>&1 || want+=(slurm-wlm-basic-plugins)
  if [ "$1" != 1 ]; then command -v ip >/dev/null 2>&1 || want+=(iproute2); fi
  [ ${#want[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || cannot "${want[*]} missing and no apt-get to install them"
  log "installing ${want[*]}"
  local out
  out=$(mktemp)
  # Another apt may hold the lock (CI installs things too): wait for it.
  local apt=(apt-get -y -qq -o DPkg::Lock::Timeout=300)
  if ! DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends "${want[@]}" >"$out" 2>&1; then
    if ! { "${apt[@]}" update && DEBIAN_FRONTEND=noninteractive "${apt[@]}" install --no-install-recommends \
      "${want[@]}"; } >>"$out" 2>&1; then
      tail -5 "$out" >&2
      rm -f "$out"
      cannot "apt-get could not install ${want[*]}"
    fi
  fi
  rm -f "$out"
}

# Take a free slot: /run/rmpi-slurm/slot-S holds the DIR of the cluster using it.
take_slot() {
  local dir=$1 s owner
  mkdir -p "$REGISTRY"
  exec 8>"$REGISTRY/lock"
  flock 8
  for s in 0 1 2 3 4 5 6 7; do
    owner=$(cat "$REGISTRY/slot-$s" 2>/dev/null || true)
    if [ -n "$owner" ] && [ "$owner" != "$dir" ] && [ -d "$owner/pids" ] && slot_in_use "$owner"; then
      continue
    fi
    # A stale slot (its cluster died without `down`): clear its bridge.
    ip link del "rmpibr$s" 2>/dev/null || true
    echo "$dir" >"$REGISTRY/slot-$s"
    flock -u 8
    exec 8>&-
    echo "$s"
    return 0
  done
  flock -u 8
  exec 8>&-
  die "all 8 slots under $REGISTRY are in use"
}

slot_in_use() {
  local f
  for f in "$1"/pids/*; do
    [ -e "$f" ] || continue
    alive "$(cat "$f")" && return 0
  done
  return 1
}

write_conf() {
  local dir=$1 slot=$2 nodes=$3 ctl_host ctl_addr
  local ctl_port=$((16817 + 2 * slot)) slurmd_port=$((16818 + 2 * slot))
  ctl_host=$(hostname -s)
  if [ "$nodes" = 1 ]; then ctl_addr=127.0.0.1; else ctl_addr=10.77.$slot.1; fi
  cat >"$dir/slurm.conf" <<EOF
# Written by tests/slurm/cluster.sh (slot $slot, $nodes node(s)).
ClusterName=rmpitest$slot
SlurmctldHost=$ctl_host($ctl_addr)
SlurmctldPort=$ctl_port
SlurmdPort=$slurmd_port
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/ctld
SlurmdSpoolDir=$dir/spool/%n
SlurmctldPidFile=$dir/run/slurmctld.pid
SlurmdPidFile=$dir/run/slurmd-%n.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd-%n.log
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SlurmdParameters=config_overrides
SwitchType=switch/none
JobCompType=jobcomp/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
ReturnToService=2
MailProg=/bin/true
KillWait=2
MinJobAge=5
InactiveLimit=0
SlurmdTimeout=60
MessageTimeout=20
EOF
  if [ "$nodes" = 1 ]; then
    echo "NodeName=$ctl_host NodeAddr=127.0.0.1 CPUs=8 State=UNKNOWN" >>"$dir/slurm.conf"
  else
    local i
    for i in $(seq 1 "$nodes"); do
      echo "NodeName=n$i NodeHostname=n$i NodeAddr=10.77.$slot.1$i CPUs=8 State=UNKNOWN" >>"$dir/slurm.conf"
    done
  fi
  echo "PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP" >>"$dir/slurm.conf"
  {
    echo "127.0.0.1 localhost"
    echo "$ctl_addr $ctl_host"
    if [ "$nodes" != 1 ]; then
      for i in $(seq 1 "$nodes"); do echo "10.77.$slot.1$i n$i"; done
    fi
  } >"$dir/hosts"
  {
    echo "export SLURM_CONF=$dir/slurm.conf"
  } >"$dir/env"
}

start_munge() {
  local dir=$1
  mkdir -p "$dir/munge"
  chmod 0700 "$dir/munge"
  dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
  chmod 0400 "$dir/munge/munge.key"
  nohup munged -F --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munge/munged.pid" --log-file="$dir/munge/munged.log" \
    --seed-file="$dir/munge/munged.seed" </dev/null >"$dir/log/munged.out" 2>&1 &
  echo $! >"$dir/pids/munged"
  wait_for 20 "munged" sh -c "munge -n -S '$dir/munge/munge.socket' | unmunge -S '$dir/munge/munge.socket'" ||
    { cat "$dir/log/munged.out" >&2; return 1; }
}

start_slurmctld() {
  local dir=$1
  mkdir -p "$dir/ctld"
  SLURM_CONF=$dir/slurm.conf nohup slurmctld -D -i -f "$dir/slurm.conf" </dev/null >"$dir/log/slurmctld.out" 2>&1 &
  echo $! >"$dir/pids/slurmctld"
  wait_for 30 "slurmctld" env SLURM_CONF="$dir/slurm.conf" scontrol ping ||
    { tail -20 "$dir/log/slurmctld.log" "$dir/log/slurmctld.out" >&2; return 1; }
}

# The body of a namespace node (pid 1 of its pid namespace): set the node up,
# start slurmd, reap orphans until told to stop.
node_main() {
  local dir=$1 name=$2 addr=$3
  hostname "$name"
  mount -t tmpfs -o mode=1777,size=50% tmpfs /dev/shm
  mount --bind "$dir/hosts" /etc/hosts
  ip link set lo up
  wait_for 20 "eth0 in node $name" ip link show eth0
  ip addr add "$addr/24" dev eth0
  ip link set eth0 up
  local slurmd_pid=
  trap 'kill -TERM $slurmd_pid 2>/dev/null; wait $slurmd_pid 2>/dev/null; exit 0' TERM INT
  SLURM_CONF=$dir/slurm.conf slurmd -D -N "$name" -f "$dir/slurm.conf" </dev/null >"$dir/log/slurmd-$name.out" 2>&1 &
  slurmd_pid=$!
  echo "$slurmd_pid" >"$dir/run/slurmd-$name.nspid"
  # As pid 1, bash reaps every orphan that exits (its SIGCHLD handler waits
  # for any child); sleep in short pieces so the TERM trap runs promptly.
  while :; do
    sleep 1 &
    wait $! 2>/dev/null || true
  done
}

start_ns_node() {
  local dir=$1 slot=$2 i=$3
  local name=n$i addr=10.77.$slot.1$i holder pid1
  nohup unshare --net --uts --mount --ipc --pid --fork --mount-proc --propagation private --kill-child \
    bash "$SELF" _node "$dir" "$name" "$addr" </dev/null >"$dir/log/node-$name.out" 2>&1 &
  holder=$!
  echo "$holder" >"$dir/pids/holder-$name"
  wait_for 10 "node $name's pid 1" grep -q . "/proc/$holder/task/$holder/children"
  pid1=$(awk '{print $1}' "/proc/$holder/task/$holder/children")
  echo "$pid1" >"$dir/pids/node-$name"
  ip link add "rmpi$slot-$name" type veth peer name eth0 netns "$pid1"
  ip link set "rmpi$slot-$name" master "rmpibr$slot"
  ip link set "rmpi$slot-$name" up
}

nodes_idle() {
  local dir=$1 want=$2 states
  states=$(SLURM_CONF=$dir/slurm.conf sinfo -h -N -o '%T' 2>/dev/null) || return 1
  [ "$(grep -c '^idle$' <<<"$states")" = "$want" ]
}

up() {
  local nodes=1 owner= dir=
  while [ $# -gt 0 ]; do
    case $1 in
      --nodes) nodes=$2; shift 2 ;;
      --nodes=*) nodes=${1#*=}; shift ;;
      --owner) owner=$2; shift 2 ;;
      --owner=*) owner=${1#*=}; shift ;;
      -*) die "unknown option $1" ;;
      *) dir=$1; shift ;;
    esac
  done
  [ -n "$dir" ] || die "usage: cluster.sh up [--nodes 1|3] [--owner PID] DIR"
  case $nodes in 1 | 2 | 3 | 4 | 5 | 6 | 7 | 8) ;; *) die "--nodes must be 1..8" ;; esac
  check_root
  install_packages "$nodes"
  check_namespaces "$nodes"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  [ ! -e "$dir/pids" ] || die "$dir already holds a cluster (run down first, or use a fresh DIR)"
  mkdir -p "$dir/pids" "$dir/log" "$dir/run" "$dir/spool"
  local slot start
  start=$(date +%s%N)
  slot=$(take_slot "$dir")
  echo "$slot" >"$dir/slot"
  echo "$nodes" >"$dir/nodes"
  # From here on, a failure tears down what was started.
  trap 'echo "cluster.sh: up failed; logs in $dir/log" >&2; down "$dir" >/dev/null 2>&1 || true' ERR
  write_conf "$dir" "$slot" "$nodes"
  if [ "$nodes" != 1 ]; then
    ip link add "rmpibr$slot" type bridge
    echo "rmpibr$slot" >"$dir/bridge"
    ip addr add "10.77.$slot.1/24" dev "rmpibr$slot"
    ip link set "rmpibr$slot" up
  fi
  start_munge "$dir"
  start_slurmctld "$dir"
  if [ "$nodes" = 1 ]; then
    SLURM_CONF=$dir/slurm.conf nohup slurmd -D -N "$(hostname -s)" -f "$dir/slurm.conf" </dev/null \
      >"$dir/log/slurmd.out" 2>&1 &
    echo $! >"$dir/pids/slurmd"
  else
    local i
    for i in $(seq 1 "$nodes"); do start_ns_node "$dir" "$slot" "$i"; done
  fi
  if ! wait_for "$UP_DEADLINE" "$nodes idle node(s)" nodes_idle "$dir" "$nodes"; then
    SLURM_CONF=$dir/slurm.conf sinfo -N >&2 || true
    tail -n 5 "$dir"/log/*.log >&2 || true
    false
  fi
  trap - ERR
  cat >"$dir/agent" <<EOF
#!/bin/sh
# Run a command inside a node of the cluster in $dir, like ssh: agent HOST "command".
RMPI_CLUSTER_DIR=$dir exec "$HERE/ns-agent" "\$@"
EOF
  chmod 0755 "$dir/agent"
  if [ -n "$owner" ]; then
    setsid nohup bash "$SELF" _watch "$dir" "$owner" </dev/null >>"$dir/log/watch.out" 2>&1 &
    echo $! >"$dir/pids/watcher"
  fi
  log "up: $nodes node(s), slot $slot, in $(( ($(date +%s%N) - start) / 1000000 )) ms; SLURM_CONF=$dir/slurm.conf"
}

# stop_pids SECS PID...: SIGTERM to all at once, wait up to SECS for all to
# exit, then SIGKILL whatever is left.
stop_pids() {
  local secs=$1 p live=()
  shift
  for p in "$@"; do
    if alive "$p"; then
      live+=("$p")
      kill -TERM "$p" 2>/dev/null || true
    fi
  done
  [ ${#live[@]} -eq 0 ] && return 0
  if ! wait_for "$secs" "pids ${live[*]} to exit" sh -c "! kill -0 ${live[*]} 2>/dev/null"; then
    kill -KILL "${live[@]}" 2>/dev/null || true
    wait_for 5 "pids ${live[*]} to die" sh -c "! kill -0 ${live[*]} 2>/dev/null" || true
  fi
}

# The pids recorded under DIR/pids for these names (missing ones skipped).
pids_of() {
  local dir=$1 f
  shift
  for f in "$@"; do
    for f in "$dir"/pids/$f; do [ -e "$f" ] && cat "$f"; done
  done
  return 0
}

down() {
  local dir=${1:?usage: cluster.sh down DIR}
  [ -d "$dir/pids" ] || die "$dir holds no cluster"
  dir=$(cd "$dir" && pwd)
  # The watcher may be the one calling us: do not kill ourselves.
  if [ -e "$dir/pids/watcher" ] && [ "$(cat "$dir/pids/watcher")" != "${RMPI_WATCHER_SELF:-}" ]; then
    stop_pids 2 "$(cat "$dir/pids/watcher")"
  fi
  # Jobs first, so slurmstepds end their tasks while slurmd still runs.
  if [ -e "$dir/slurm.conf" ] && alive "$(cat "$dir/pids/slurmctld" 2>/dev/null)"; then
    SLURM_CONF=$dir/slurm.conf timeout 10 scancel --full --quiet --user=root 2>/dev/null || true
  fi
  # Nodes: TERM to the namespace's pid 1 stops slurmd, then pid 1 exits and
  # the kernel kills whatever else is left in that pid namespace. slurmctld
  # stops at the same time; munged last (the others may still use it).
  # shellcheck disable=SC2046
  stop_pids 8 $(pids_of "$dir" 'node-*' slurmd slurmctld)
  # shellcheck disable=SC2046
  stop_pids 3 $(pids_of "$dir" 'holder-*')
  # shellcheck disable=SC2046
  stop_pids 8 $(pids_of "$dir" munged)
  if [ -e "$dir/bridge" ]; then
    ip link del "$(cat "$dir/bridge")" 2>/dev/null || true
    rm -f "$dir/bridge"
  fi
  if [ -e "$dir/slot" ]; then
    local slot
    slot=$(cat "$dir/slot")
    if [ "$(cat "$REGISTRY/slot-$slot" 2>/dev/null)" = "$dir" ]; then rm -f "$REGISTRY/slot-$slot"; fi
  fi
  rm -rf "$dir/pids"
  log "down: $dir"
}

status() {
  local dir=${1:?usage: cluster.sh status DIR}
  [ -d "$dir/pids" ] || { echo "no cluster in $dir"; return 1; }
  local f
  for f in "$dir"/pids/*; do
    if alive "$(cat "$f")"; then echo "${f##*/} $(cat "$f") running"; else echo "${f##*/} $(cat "$f") gone"; fi
  done
  SLURM_CONF=$dir/slurm.conf sinfo -N
}

# Tear the cluster down when the owner process is gone.
watch_owner() {
  local dir=$1 owner=$2
  while alive "$owner" && [ -d "$dir/pids" ]; do sleep 1; done
  [ -d "$dir/pids" ] || exit 0
  RMPI_WATCHER_SELF=$$ down "$dir"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case $cmd in
  up) up "$@" ;;
  down) down "$@" ;;
  status) status "$@" ;;
  check)
    check_root
    check_namespaces "${1:-3}"
    echo ok
    ;;
  _node) node_main "$@" ;;
  _watch) watch_owner "$@" ;;
  *)
    sed -n '2,/^set -e/p' "$SELF" | sed '$d; s/^# \{0,1\}//' >&2
    exit 1
    ;;
esac
