#!/bin/sh
# `make demo`: runs the seed demos (built by `make examples`) and leaves their
# pictures in <build>/demo. Usage: sh examples/demo.sh [BUILD_DIR]
set -eu
build=${1:-build}
out=$build/demo
for prog in simple_net two_conv; do
    if [ ! -x "$build/examples/$prog" ]; then
        echo "demo: $build/examples/$prog is missing; run 'make examples' first" >&2
        exit 1
    fi
done
mkdir -p "$out"

rule() { printf '\n==== %s\n\n' "$1"; }

rule "SimpleNet: fc1 Linear(2, 5) -> ReLU -> fc2 Linear(5, 1), seed 0 (PyTorch prints the same)"
"$build/examples/simple_net" --seed 0 --out "$out"

rule "MyData: Conv2d(1, 20, 1) -> ReLU -> Conv2d(20, 20, 5) -> ReLU on a 5x5 image, seed 0"
"$build/examples/two_conv" --seed 0

# The image-classification project on real data, when Debian's
# dataset-fashion-mnist is installed (one short epoch: a demo, not a benchmark;
# FASHION_MNIST_DIR points elsewhere).
fashion=${FASHION_MNIST_DIR:-/usr/share/datasets/fashion-mnist}
has_idx() { [ -e "$fashion/$1" ] || [ -e "$fashion/$1.gz" ]; }
fashion_ran=no
rule "Fashion-MNIST: a small CNN, one epoch over the 60000 training images"
if [ -x "$build/examples/fashion_mnist" ] &&
    has_idx train-images-idx3-ubyte && has_idx train-labels-idx1-ubyte &&
    has_idx t10k-images-idx3-ubyte && has_idx t10k-labels-idx1-ubyte; then
    "$build/examples/fashion_mnist" --data "$fashion" --epochs 1 --svg "$out/fashion_mnist.svg"
    fashion_ran=yes
elif [ ! -x "$build/examples/fashion_mnist" ]; then
    echo "skipped: $build/examples/fashion_mnist is missing; run 'make examples' first"
else
    echo "skipped: the Fashion-MNIST data is not in $fashion"
    echo "install it with: apt-get install dataset-fashion-mnist"
fi

rule "Done"
echo "Weight heat maps: $out/simple_net_weights.svg (browser) and $out/simple_net_weights.png"
echo "Loss curve:       $out/simple_net_loss.svg"
if [ "$fashion_ran" = yes ]; then
    echo "Fashion-MNIST:    $out/fashion_mnist.svg (loss and accuracy); the full run: $build/examples/fashion_mnist"
fi
echo "Try other seeds and optimizers: $build/examples/simple_net --seed random --optim sgd --out $out"
