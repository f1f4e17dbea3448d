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

rule "Done"
echo "Weight heat maps: $out/simple_net_weights.svg (browser) and $out/simple_net_weights.png"
echo "Loss curve:       $out/simple_net_loss.svg"
echo "Try other seeds and optimizers: $build/examples/simple_net --seed random --optim sgd --out $out"
