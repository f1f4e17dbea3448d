#!/usr/bin/python3
"""Writes tests/fixtures/resnet_print.txt: print(ResNet()) (and ResNet(24)) of
tests/ref_resnet_fashion_mnist.py in PyTorch 1.13, which
examples/resnet_fashion_mnist.c must print byte for byte."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ref_resnet_fashion_mnist as ref  # noqa: E402

with open(os.path.join(HERE, "fixtures", "resnet_print.txt"), "w") as f:
    f.write(str(ref.ResNet()) + "\n")
# --width 24 (the example's flag): stages of 24, 48 and 96 channels
with open(os.path.join(HERE, "fixtures", "resnet_print_w24.txt"), "w") as f:
    f.write(str(ref.ResNet(24)) + "\n")
