#!/bin/sh
# Two ranks in two network namespaces (and UTS namespaces: two host names)
# joined by a veth pair, Open MPI restricted to TCP (btl tcp,self: no
# shared memory, no other interface). mpirun runs in the first namespace;
# its rsh launcher's agent is tests/mpi/netns_agent.sh, which starts the
# remote daemon in the second one. Exit 0: passed; 77: skipped (the
# machine does not allow namespaces: not root, no `ip netns`, no veth);
# anything else: failed. Usage: sh tests/mpi/netns.sh BUILD_DIR TMPDIR
set -u
bin=$1
tmp=$2
a=nnmpi_a_$$
b=nnmpi_b_$$
skip() { echo "SKIPPED: $* (the network-namespace test needs root, iproute2 and veth support)"; exit 77; }

[ "$(id -u)" = 0 ] || skip "not root"
command -v ip >/dev/null && command -v unshare >/dev/null || skip "no ip or unshare"
cleanup() {
    ip netns del $a 2>/dev/null
    ip netns del $b 2>/dev/null
    rm -rf /etc/netns/$a /etc/netns/$b
}
trap cleanup EXIT
ip netns add $a 2>/dev/null || skip "ip netns add failed"
ip netns add $b 2>/dev/null || skip "ip netns add failed"
ip link add veth_$$a netns $a type veth peer name veth_$$b netns $b 2>/dev/null || skip "cannot make a veth pair"
ip -n $a addr add 10.231.7.1/24 dev veth_$$a && ip -n $b addr add 10.231.7.2/24 dev veth_$$b &&
    ip -n $a link set lo up && ip -n $b link set lo up &&
    ip -n $a link set veth_$$a up && ip -n $b link set veth_$$b up || skip "cannot configure the veth pair"
ip netns exec $a unshare --uts true 2>/dev/null || skip "no UTS namespaces"
# the host names resolve in both namespaces (ip netns exec mounts /etc/netns/NS/hosts on /etc/hosts)
for ns in $a $b; do
    mkdir -p /etc/netns/$ns
    printf '127.0.0.1 localhost\n10.231.7.1 nnmpi-a\n10.231.7.2 nnmpi-b\n' >/etc/netns/$ns/hosts
done

printf 'nnmpi-a slots=1\nnnmpi-b slots=1\n' >"$tmp/hostfile"
agent="$(pwd)/tests/mpi/netns_agent.sh"
export NNMPI_NETNS=$b
export OMPI_ALLOW_RUN_AS_ROOT=1 OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1
start=$(date +%s)
timeout 120 ip netns exec $a unshare --uts sh -c '
    hostname nnmpi-a
    exec mpirun --allow-run-as-root -np 2 --hostfile "$1" --map-by node \
        --mca plm_rsh_agent "$2" --mca btl tcp,self --mca btl_tcp_if_include 10.231.7.0/24 \
        --mca oob_tcp_if_include 10.231.7.0/24 -x NN_NUM_THREADS=1 "$3/test_ddp"' \
    sh "$tmp/hostfile" "$agent" "$(cd "$bin" && pwd)" >"$tmp/netns.out" 2>&1
rc=$?
took=$(( $(date +%s) - start ))
cat "$tmp/netns.out"
if [ $rc -ne 0 ]; then
    echo "FAILED: two ranks across network namespaces (exit $rc after ${took} s)"
    exit 1
fi
grep -q "ranks on: nnmpi-a nnmpi-b" "$tmp/netns.out" || { echo "FAILED: the ranks did not run on the two hosts"; exit 1; }
bytes=$(cat /proc/net/dev 2>/dev/null >/dev/null; ip netns exec $a cat /proc/net/dev | awk -v d="veth_$$a:" '$1 == d { print $2 + $10 }')
echo "ok two ranks in two network namespaces over TCP (veth pair, btl tcp,self) in ${took} s; ${bytes:-?} bytes crossed the veth pair"
