#!/bin/sh
# An ssh-like remote-start agent for launchers, used by benches/tcp_netns.sh:
#
#   netns_agent.sh [ssh options] HOST COMMAND...
#
# HOST is a network namespace (`ip netns`); COMMAND runs there through
# `sh -c`, in its own UTS namespace whose host name is HOST, so every
# namespace looks like a node of its own. Leading options (as launchers
# pass to ssh, e.g. -x, -q, -o X, -p N) are skipped.
while [ $# -gt 0 ]; do
  case "$1" in
    -o|-p|-l|-i|-F|-E|-b|-c|-m|-S|-L|-R|-D|-J) shift 2 ;;
    -*) shift ;;
    *) break ;;
  esac
done
host=$1
shift
exec ip netns exec "$host" unshare --uts sh -c 'hostname "$1"; shift; exec sh -c "$*"' agent "$host" "$*"
