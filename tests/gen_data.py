#!/usr/bin/python3
"""Writes the gzip fixtures of tests/test_data.c under tests/fixtures/data/
with Python's own gzip module (an independent deflate encoder). The test
recomputes the plain contents from the same formulas."""
import gzip
import io
import os
import struct

root = "tests/fixtures/data"
os.makedirs(root + "/mnist_gz", exist_ok=True)


def lcg_text(n):
    """'a'..'p' from a 32-bit LCG: compressible, but not trivially."""
    x, out = 1, bytearray()
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0xFFFFFFFF
        out.append(ord("a") + (x >> 16) % 16)
    return bytes(out)


def btype(gz):
    """Type of the first deflate block after a gzip header (no FEXTRA/FCOMMENT)."""
    at = 10
    if gz[3] & 8:
        at = gz.index(b"\0", 10) + 1
    return (gz[at] >> 1) & 3


def write(path, data, level, name=None):
    buf = io.BytesIO()
    with gzip.GzipFile(filename=name or "", mode="wb", fileobj=buf, compresslevel=level, mtime=0) as g:
        g.write(data)
    gz = buf.getvalue()
    with open(path, "wb") as f:
        f.write(gz)
    return gz


assert btype(write(root + "/fixed.gz", b"hello hello hello libnn\n" * 3, 9, name="hello.txt")) == 1
assert btype(write(root + "/dynamic.gz", lcg_text(20000), 9)) == 2


def pixel(n, r, c):
    return 0 if (n + r + c) % 3 == 0 else (n * 37 + r * 11 + c * 3) % 256


for prefix, count, level in (("train", 20, 9), ("t10k", 6, 1)):
    img = struct.pack(">IIII", 0x803, count, 28, 28) + bytes(
        pixel(n, r, c) for n in range(count) for r in range(28) for c in range(28))
    lab = struct.pack(">II", 0x801, count) + bytes((n * 7) % 10 for n in range(count))
    write(f"{root}/mnist_gz/{prefix}-images-idx3-ubyte.gz", img, level)
    write(f"{root}/mnist_gz/{prefix}-labels-idx1-ubyte.gz", lab, level)
