#!/bin/sh
# The data-parallel (MPI) tests: two ranks on this machine, each test under
# a timeout so that nothing can hang CI. Usage: sh tests/mpi/run.sh BUILD_DIR
# (make test-mpi passes build/mpi). Needs mpirun (Open MPI or MPICH).
set -u
cd "$(dirname "$0")/../.."
bin=${1:-build/mpi}
data=tests/fixtures/data/mnist_gz
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failed=0

if mpirun --version 2>&1 | grep -qi "open mpi"; then
    # as root (containers, CI) Open MPI wants the flags; more ranks than cores is fine
    MPIRUN="mpirun --oversubscribe"
    [ "$(id -u)" = 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
    OPENMPI=1
else
    MPIRUN=mpirun
    OPENMPI=0
fi
export NN_NUM_THREADS=1
# under `make SANITIZE=1`: the MPI library's own allocations at exit are not ours to report
export ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0"

fail() { echo "FAILED: $*"; failed=$((failed + 1)); }

echo "== two ranks: bit-identical parameters every step, 20 steps equal to one process (tests/mpi/test_ddp.c)"
if timeout 120 $MPIRUN -np 2 "$bin/test_ddp" >"$tmp/ddp.out" 2>&1; then
    cat "$tmp/ddp.out"
else
    cat "$tmp/ddp.out"
    fail "test_ddp"
fi

# The ResNet recipe (BatchNorm buffers, augmentation, a cosine schedule)
# on the tiny fixture set: 20 images, 2 per rank, 5 steps an epoch.
ex() { "$bin/ddp_fashion_mnist" --model resnet --data $data --batch-size 2 --threads 1 --svg "$tmp/s.svg" "$@"; }

echo "== a two-rank run killed mid-epoch resumes from its checkpoint to the uninterrupted run's bits"
timeout 120 $MPIRUN -np 2 "$bin/ddp_fashion_mnist" --model resnet --data $data --batch-size 2 --threads 1 \
    --svg "$tmp/s.svg" --epochs 3 --save "$tmp/whole" >"$tmp/whole.out" 2>&1 || { cat "$tmp/whole.out"; fail "uninterrupted run"; }
start=$(date +%s)
# rank 1 dies with SIGKILL at its 8th step: epoch 2, step 3 of 5
NN_DDP_KILL=1:8 timeout 60 $MPIRUN -np 2 "$bin/ddp_fashion_mnist" --model resnet --data $data --batch-size 2 \
    --threads 1 --svg "$tmp/s.svg" --epochs 3 --save "$tmp/cut" >"$tmp/cut.out" 2>&1
rc=$?
took=$(( $(date +%s) - start ))
if [ $rc -eq 0 ] || [ $rc -eq 124 ]; then
    cat "$tmp/cut.out"; fail "the killed run exited $rc (expected a failure, not a timeout)"
elif ! grep -q "epoch 1" "$tmp/cut.state" 2>/dev/null; then
    fail "the killed run's checkpoint is not the one of epoch 1"
else
    echo "killed at epoch 2 step 3: every rank stopped, exit $rc after ${took} s; checkpoint of epoch 1 kept"
fi
timeout 120 $MPIRUN -np 2 "$bin/ddp_fashion_mnist" --model resnet --data $data --batch-size 2 --threads 1 \
    --svg "$tmp/s.svg" --epochs 3 --resume "$tmp/cut" --save "$tmp/cut" >"$tmp/resumed.out" 2>&1 || { cat "$tmp/resumed.out"; fail "resumed run"; }
if cmp "$tmp/whole" "$tmp/cut" && cmp "$tmp/whole.optim" "$tmp/cut.optim" && cmp "$tmp/whole.state" "$tmp/cut.state"; then
    echo "ok resumed run ends bit-identical to the uninterrupted one (model with BatchNorm buffers, AdamW state, generator)"
else
    fail "the resumed run differs from the uninterrupted one"
fi
grep "test accuracy" "$tmp/whole.out" | tail -1 >"$tmp/a1"
grep "test accuracy" "$tmp/resumed.out" | tail -1 >"$tmp/a2"
cmp -s "$tmp/a1" "$tmp/a2" || fail "the final accuracy lines differ"

echo "== one rank given a bad data path: all ranks exit non-zero within 10 s, naming the rank and the cause"
start=$(date +%s)
timeout 30 $MPIRUN -np 1 "$bin/ddp_fashion_mnist" --data $data --threads 1 --svg "$tmp/s.svg" : \
    -np 1 "$bin/ddp_fashion_mnist" --data "$tmp/no-such-dir" --threads 1 --svg "$tmp/s.svg" >"$tmp/bad.out" 2>&1
rc=$?
took=$(( $(date +%s) - start ))
if [ $rc -eq 0 ] || [ $rc -eq 124 ] || [ $took -gt 10 ]; then
    cat "$tmp/bad.out"; fail "bad data path: exit $rc after ${took} s"
elif ! grep -q "rank 1: cannot load the dataset: .*no-such-dir" "$tmp/bad.out" ||
     ! grep -q "rank 0: stopping: rank 1 failed loading the data" "$tmp/bad.out"; then
    cat "$tmp/bad.out"; fail "bad data path: the messages do not name rank 1 and the cause"
else
    echo "ok exit $rc after ${took} s:"
    grep "^rank" "$tmp/bad.out" | sed 's/^/    /'
fi

echo "== a NaN loss on every rank (--lr 1e30): all stop within 10 s with the step named"
start=$(date +%s)
timeout 30 $MPIRUN -np 2 "$bin/ddp_fashion_mnist" --data $data --batch-size 2 --threads 1 --lr 1e30 --epochs 3 \
    --svg "$tmp/s.svg" >"$tmp/nan.out" 2>&1
rc=$?
took=$(( $(date +%s) - start ))
if [ $rc -eq 0 ] || [ $rc -eq 124 ] || [ $took -gt 10 ] || ! grep -q "rank [01]: stopping: the loss became" "$tmp/nan.out"; then
    cat "$tmp/nan.out"; fail "NaN loss: exit $rc after ${took} s"
else
    echo "ok exit $rc after ${took} s: $(grep -m1 'stopping: the loss' "$tmp/nan.out")"
fi

echo "== allocation failures on rank 1 (every Kth allocation of libnn, from building the model to evaluation):"
echo "   every rank exits non-zero within 10 s, rank 0 naming rank 1, never a hang"
for model in cnn resnet; do
    args="--model $model --data $data --batch-size 2 --threads 1 --epochs 2 --svg $tmp/s.svg"
    total=$(NN_DDP_FAIL_ALLOC=1:1000000000 timeout 60 $MPIRUN -np 2 "$bin/ddp_fashion_mnist" $args 2>&1 |
        sed -n 's/.*only \([0-9]*\) allocations were made.*/\1/p')
    [ -n "$total" ] || { fail "$model: cannot count the allocations"; continue; }
    stride=$(( total / 15 + 1 ))
    bad=0
    runs=0
    n=1
    while [ $n -le "$total" ]; do
        start=$(date +%s)
        NN_DDP_FAIL_ALLOC=1:$n timeout 30 $MPIRUN -np 2 "$bin/ddp_fashion_mnist" $args >"$tmp/alloc.out" 2>&1
        rc=$?
        took=$(( $(date +%s) - start ))
        runs=$((runs + 1))
        if [ $rc -eq 0 ] || [ $rc -eq 124 ] || [ $took -gt 10 ] ||
           ! grep -q "^rank 0: stopping: rank 1 failed" "$tmp/alloc.out" ||
           ! grep -q "^rank 1: " "$tmp/alloc.out"; then
            echo "allocation $n of $total on rank 1: exit $rc after $took s"
            cat "$tmp/alloc.out"
            bad=$((bad + 1))
        fi
        n=$((n + stride))
    done
    if [ $bad -eq 0 ]; then
        echo "ok $model: $runs runs (allocations 1, $((1 + stride)), ... of $total on rank 1), e.g. $(grep -m1 '^rank 1' "$tmp/alloc.out")"
    else
        fail "$model: $bad of $runs allocation-failure runs"
    fi
done

echo "== two ranks in two network namespaces joined by a veth pair, over TCP only"
if [ $OPENMPI -ne 1 ]; then
    echo "SKIPPED: the namespace test drives Open MPI's rsh launcher (this mpirun is not Open MPI)"
else
    sh tests/mpi/netns.sh "$bin" "$tmp"
    rc=$?
    [ $rc -eq 0 ] || [ $rc -eq 77 ] || fail "network namespaces"
fi

if [ $failed -ne 0 ]; then
    echo "$failed MPI test(s) failed"
    exit 1
fi
echo "all MPI tests passed"
