#!/usr/bin/env python3
"""Writes the seed corpora of tests/fuzz/fuzz_mnist.c and tests/fuzz/fuzz_cifar10.c
(tests/fuzz/corpus/mnist/, tests/fuzz/corpus/cifar10/) in the harnesses' input
layouts. Standard library only; gzip with mtime 0 so reruns are identical."""
import gzip
import os
import struct

HERE = os.path.dirname(os.path.abspath(__file__))


def gz(b):
    return gzip.compress(b, compresslevel=9, mtime=0)


def idx_labels(labels):
    return struct.pack(">II", 0x801, len(labels)) + bytes(labels)


def idx_images(n, rows, cols):
    return struct.pack(">IIII", 0x803, n, rows, cols) + bytes((i * 37) % 256 for i in range(n * rows * cols))


def mnist_input(form, labels, images):
    return bytes([form]) + struct.pack("<I", len(labels)) + labels + images


def cifar_records(n):
    out = b""
    for r in range(n):
        out += bytes([r % 10]) + bytes((i * (r + 3)) % 256 for i in range(3072))
    return out


def write(sub, name, data):
    d = os.path.join(HERE, "corpus", sub)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


labels, images = idx_labels([1, 7, 9]), idx_images(3, 4, 5)
write("mnist", "raw_t10k", mnist_input(0, labels, images))
write("mnist", "gz_train", mnist_input(4 | 2 | 1, gz(labels), gz(images)))
write("mnist", "gz_images_only", mnist_input(2, labels, gz(images)))
write("mnist", "bare_gzip_stored", gz(b""))  # for nn_gunzip on the whole input
write("mnist", "bare_gzip_text", gz(b"libnn " * 40 + bytes(range(256))))
# dynamic Huffman blocks, from the inflate tests' fixture
with open(os.path.join(HERE, "..", "tests", "fixtures", "data", "dynamic.gz"), "rb") as f:
    write("mnist", "bare_gzip_dynamic", f.read())

write("cifar10", "test_2", bytes([0, 0, 0, 0, 0]) + cifar_records(2))
write("cifar10", "train_5_sub", bytes([3, 4, 4, 4, 4]) + cifar_records(5))
