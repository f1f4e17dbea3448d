#!/usr/bin/env bash
# CI for data-parallel training over MPI (libnn_mpi, nn/ddp.h), called by
# .ci/run: installs Open MPI on a fresh Debian machine (as root), builds
# the MPI part with gcc and clang (warnings as errors), runs the MPI tests
# (tests/mpi/run.sh: every test under a timeout) and links a program
# against the installed libnn + libnn_mpi through pkg-config.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v mpicc >/dev/null || ! command -v mpirun >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "== installing openmpi-bin libopenmpi-dev"
        DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q openmpi-bin libopenmpi-dev >/dev/null
    else
        echo "missing: mpicc/mpirun (sudo apt-get install openmpi-bin libopenmpi-dev)" >&2
        exit 1
    fi
fi
jobs=$(nproc 2>/dev/null || echo 2)

echo "== make mpi, warnings as errors (gcc and clang under mpicc)"
make -j"$jobs" BUILD=build/mpi-gcc EXTRA_CFLAGS=-Werror mpi
OMPI_CC=clang MPICH_CC=clang make -j"$jobs" CC=clang BUILD=build/mpi-clang EXTRA_CFLAGS=-Werror mpi

echo "== the MPI tests (two ranks; kill and resume; a bad data path; network namespaces over TCP)"
make -j"$jobs" test-mpi

echo "== install-mpi into a temporary prefix and link through pkg-config nn-mpi"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
make install-mpi PREFIX="$tmp/prefix" >/dev/null
export PKG_CONFIG_PATH="$tmp/prefix/lib/pkgconfig"
cat >"$tmp/hello_ddp.c" <<'C'
#include <stdio.h>
#include <nn/ddp.h>
int main(int argc, char **argv)
{
    MPI_Init(&argc, &argv);
    nn_manual_seed(0);
    nn_module *net = nn_linear(3, 2, true);
    nn_optim *opt = nn_sgd(net, &(nn_sgd_opts){.lr = 0.1f});
    nn_ddp *d = nn_ddp_new(MPI_COMM_WORLD, net, opt, NULL);
    int ok = d && nn_ddp_agree(d, NN_OK) == -1;
    printf("rank %d of %d: %s\n", nn_ddp_rank(d), nn_ddp_world_size(d), ok ? "ok" : nn_last_error());
    nn_ddp_free(d);
    nn_optim_free(opt);
    nn_module_free(net);
    MPI_Finalize();
    return ok ? 0 : 1;
}
C
(cd "$tmp" && mpicc -std=c11 -Wall -Wextra -Wpedantic -Werror hello_ddp.c -o hello_ddp \
    $(pkg-config --cflags nn-mpi) $(pkg-config --libs nn-mpi))
root=""
[ "$(id -u)" = 0 ] && root="--allow-run-as-root"
# -lnn picked the installed libnn.so: the loader finds it through the prefix
export LD_LIBRARY_PATH="$tmp/prefix/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
timeout 60 mpirun $root --oversubscribe -x LD_LIBRARY_PATH -np 2 "$tmp/hello_ddp"
echo "-- and linked with libnn.a (pkg-config nn-static)"
(cd "$tmp" && mpicc -std=c11 -Wall -Wextra -Wpedantic -Werror hello_ddp.c -o hello_ddp_static \
    $(pkg-config --cflags nn-mpi) -L"$tmp/prefix/lib" -lnn_mpi $(pkg-config --libs nn-static))
timeout 60 mpirun $root --oversubscribe -np 2 "$tmp/hello_ddp_static"
echo "== MPI CI passed"
