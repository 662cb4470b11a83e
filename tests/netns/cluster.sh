#!/bin/sh
# A tiny "cluster" of network namespaces for rmpirun's multi-host tests.
#
#   cluster.sh up PREFIX SUBNET N   creates namespaces PREFIX1..PREFIXN, each
#                                   with a veth into bridge PREFIXbr; the
#                                   bridge gets SUBNET.1/24 (this host), node
#                                   I gets SUBNET.(10+I)/24 and lo.
#   cluster.sh down PREFIX N        removes them again (idempotent).
#
# PREFIX must be short (interface names have at most 15 characters).
# SUBNET is three octets of a private /24 that exists only on this machine,
# e.g. 10.78.3. Traffic stays on the bridge: no route leaves it.
set -eu
cmd=$1 prefix=$2
case $cmd in
up)
  subnet=$3 n=$4
  ip link add "${prefix}br" type bridge
  ip addr add "${subnet}.1/24" dev "${prefix}br"
  ip link set "${prefix}br" up
  i=1
  while [ "$i" -le "$n" ]; do
    ns="${prefix}$i"
    ip netns add "$ns"
    ip link add "${prefix}v$i" type veth peer name "${prefix}p$i"
    ip link set "${prefix}p$i" netns "$ns"
    ip link set "${prefix}v$i" master "${prefix}br" up
    ip -n "$ns" link set lo up
    ip -n "$ns" link set "${prefix}p$i" name eth0
    ip -n "$ns" addr add "${subnet}.$((10 + i))/24" dev eth0
    ip -n "$ns" link set eth0 up
    i=$((i + 1))
  done
  ;;
down)
  n=$3
  i=1
  while [ "$i" -le "$n" ]; do
    ns="${prefix}$i"
    # Whatever still runs in the namespace goes with it.
    for pid in $(ip netns pids "$ns" 2>/dev/null); do kill -9 "$pid" 2>/dev/null || true; done
    ip netns del "$ns" 2>/dev/null || true
    ip link del "${prefix}v$i" 2>/dev/null || true
    i=$((i + 1))
  done
  ip link del "${prefix}br" 2>/dev/null || true
  ;;
*)
  echo "usage: $0 up PREFIX SUBNET N | down PREFIX N" >&2
  exit 2
  ;;
esac
