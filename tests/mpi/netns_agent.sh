#!/bin/sh
# Open MPI's rsh agent for tests/mpi/netns.sh: called as `agent HOST
# COMMAND...` as ssh would be; runs COMMAND in the network namespace
# $NNMPI_NETNS with a UTS namespace whose host name is HOST.
host=$1
shift
exec ip netns exec "$NNMPI_NETNS" unshare --uts sh -c 'hostname "$1"; shift; exec sh -c "$*"' sh "$host" "$@"
