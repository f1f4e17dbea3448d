#!/usr/bin/python3
"""Writes tests/fixtures/resnet_print.txt: print(ResNet()) of
tests/ref_resnet_fashion_mnist.py in PyTorch 1.13, which
examples/resnet_fashion_mnist.c must print byte for byte."""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ref_resnet_fashion_mnist as ref  # noqa: E402

with open(os.path.join(HERE, "fixtures", "resnet_print.txt"), "w") as f:
    f.write(str(ref.ResNet()) + "\n")
