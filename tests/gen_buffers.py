#!/usr/bin/python3
"""Fixtures for tests/test_buffers.c (run with /usr/bin/python3, torch 1.13):

    /usr/bin/python3 tests/gen_buffers.py     writes tests/fixtures/buffers.h and
                                               the fuzz seed tests/fuzz/corpus/load/buffers.safetensors

A torch module with what BatchNorm keeps besides its parameters: float
buffers (register_buffer), one of them not persistent, and an int64
counter num_batches_tracked, nested in Sequentials. Its state_dict is
written as a safetensors file with json + struct only (the safetensors
package is not installed), laid out as the reference implementation
(safetensors' Rust prepare()/serialize) lays it out: tensors sorted by
dtype in descending order of its Dtype enum (larger alignment first, so
I64 before F32), then by name; "__metadata__" first in the header, then
the tensors in that same order; compact JSON padded with spaces to a
multiple of 8; little-endian data in the same order. A 0-dim int64 tensor
is "shape": [] and 8 bytes.

Also written: files that must be refused (num_batches_tracked as F32, a
buffer missing, the non-persistent buffer present, an int64 of shape [1])
and one in plain name order (what older writers did), which must load.
"""
import collections
import json
import os
import struct

import torch
import torch.nn as nn

HERE = os.path.dirname(os.path.abspath(__file__))

# the reference implementation's Dtype enum, in its order
DTYPE_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16",
               "BF16", "I32", "U32", "F32", "F64", "I64", "U64"]
DTYPES = {torch.float32: ("F32", "<f4"), torch.int64: ("I64", "<i8")}


def st_bytes(tensors, metadata, by_dtype=True):
    """safetensors image of tensors (a dict name -> tensor)."""
    def key(name):
        rank = DTYPE_ORDER.index(DTYPES[tensors[name].dtype][0])
        return (-rank, name) if by_dtype else (0, name)

    header = {"__metadata__": metadata}
    data = b""
    for name in sorted(tensors, key=key):
        t = tensors[name].detach().contiguous()
        dtype, np_type = DTYPES[t.dtype]
        raw = t.numpy().astype(np_type).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


def st_read(blob):
    """Independent strict reader, to check the writer above."""
    (n,) = struct.unpack("<Q", blob[:8])
    header = json.loads(blob[8:8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    data = blob[8 + n:]
    out = {}
    for name, info in header.items():
        dtype = {"F32": torch.float32, "I64": torch.int64}[info["dtype"]]
        b, e = info["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:e]), dtype=dtype)
        out[name] = t.reshape(info["shape"]).clone()
    return out


class Stats(nn.Module):
    """Parameters, persistent float buffers, a non-persistent one and an
    int64 counter: the state BatchNorm keeps."""

    def __init__(self, c):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(c))
        self.bias = nn.Parameter(torch.zeros(c))
        self.register_buffer("running_mean", torch.zeros(c))
        self.register_buffer("running_var", torch.zeros(c))
        self.register_buffer("tmp", torch.zeros(2), persistent=False)
        self.register_buffer("num_batches_tracked", torch.tensor(0, dtype=torch.long))

    def forward(self, x):
        return x


def build():
    """features = Sequential(Stats(3), ReLU()), head = Stats(2); float
    entries of the state_dict get ((k % 17) - 8) / 16 + i / 2 at element k
    (i: their index in state_dict order), tmp 0.25, the counters 5 and
    2^40 + 3."""
    net = nn.Sequential(collections.OrderedDict([
        ("features", nn.Sequential(Stats(3), nn.ReLU())),
        ("head", Stats(2)),
    ]))
    with torch.no_grad():
        sd = net.state_dict(keep_vars=True)
        for i, (name, t) in enumerate(sd.items()):
            if t.dtype == torch.float32:
                k = torch.arange(t.numel(), dtype=torch.float64)
                t.copy_((((k % 17) - 8) / 16 + 0.5 * i).reshape(t.shape))
        net.features[0].num_batches_tracked.fill_(5)
        net.head.num_batches_tracked.fill_(2 ** 40 + 3)
        net.features[0].tmp.fill_(0.25)
        net.head.tmp.fill_(0.25)
    return net


def c_float(v):
    s = "%.9g" % v
    return s + ("f" if any(c in s for c in ".e") else ".0f")


def c_bytes(name, blob):
    rows = [", ".join("0x%02x" % b for b in blob[i:i + 16]) for i in range(0, len(blob), 16)]
    return "static const unsigned char %s[%d] = {\n    %s};\n" % (name, len(blob), ",\n    ".join(rows))


def generate():
    net = build()
    sd = net.state_dict()
    assert "features.0.tmp" not in sd and sd["head.num_batches_tracked"].shape == torch.Size([])
    meta = {"format": "pt"}
    good = st_bytes(sd, meta)

    # the file is what it claims: torch loads it back strictly, equal
    again = nn.Sequential(collections.OrderedDict([
        ("features", nn.Sequential(Stats(3), nn.ReLU())), ("head", Stats(2))]))
    again.load_state_dict(st_read(good), strict=True)
    for (k, a), b in zip(again.state_dict().items(), sd.values()):
        assert a.dtype == b.dtype and torch.equal(a, b), k

    out = ['/* Generated by tests/gen_buffers.py (torch %s); do not edit. */\n' % torch.__version__,
           "#ifndef BUFFERS_FIXTURES_H\n#define BUFFERS_FIXTURES_H\n\n#include <stdint.h>\n\n",
           "/* Sequential(features=Sequential(Stats(3), ReLU()), head=Stats(2)); Stats has\n"
           "   weight, bias, running_mean, running_var, tmp (persistent=False) and\n"
           "   num_batches_tracked (int64). Its state_dict, in order: */\n",
           "typedef struct {\n    const char *name;\n    int is_int;\n    int64_t int_value;\n"
           "    int numel;\n    const float *value;\n} buf_entry;\n\n"]
    entries = []
    for name, t in sd.items():
        cname = "buf_" + name.replace(".", "_")
        if t.dtype == torch.int64:
            entries.append('    {"%s", 1, INT64_C(%d), 1, NULL},\n' % (name, t.item()))
        else:
            vals = ", ".join(c_float(v) for v in t.reshape(-1).tolist())
            out.append("static const float %s[%d] = {%s};\n" % (cname, t.numel(), vals))
            entries.append('    {"%s", 0, 0, %d, %s},\n' % (name, t.numel(), cname))
    out.append("\nstatic const buf_entry buf_state[] = {\n%s};\n" % "".join(entries))
    out.append("/* tmp holds this in torch (never saved) */\nstatic const float buf_tmp_value = %s;\n\n"
               % c_float(net.head.tmp[0].item()))

    out.append("/* the state_dict as the reference safetensors writer lays it out */\n")
    out.append(c_bytes("buf_torch_st", good))

    out.append("\n/* the same tensors sorted by name only (older writers): must load */\n")
    out.append(c_bytes("buf_name_order_st", st_bytes(sd, meta, by_dtype=False)))

    bad = dict(sd)
    bad["features.0.num_batches_tracked"] = torch.tensor(5.0)
    out.append("\n/* features.0.num_batches_tracked stored as F32: refused */\n")
    out.append(c_bytes("buf_nbt_f32_st", st_bytes(bad, meta)))

    bad = dict(sd)
    bad["features.0.num_batches_tracked"] = torch.tensor([5])
    out.append("\n/* features.0.num_batches_tracked of shape [1]: refused */\n")
    out.append(c_bytes("buf_nbt_shape_st", st_bytes(bad, meta)))

    bad = dict(sd)
    del bad["head.running_var"]
    out.append("\n/* head.running_var missing: refused */\n")
    out.append(c_bytes("buf_missing_st", st_bytes(bad, meta)))

    bad = dict(sd)
    del bad["head.num_batches_tracked"]
    out.append("\n/* head.num_batches_tracked missing: refused */\n")
    out.append(c_bytes("buf_missing_int_st", st_bytes(bad, meta)))

    bad = dict(sd)
    bad["features.0.tmp"] = net.features[0].tmp
    out.append("\n/* the non-persistent features.0.tmp present: refused (not in the state_dict) */\n")
    out.append(c_bytes("buf_extra_tmp_st", st_bytes(bad, meta)))

    out.append("\n#endif\n")
    with open(os.path.join(HERE, "fixtures", "buffers.h"), "w") as f:
        f.write("".join(out))
    # a seed of tests/fuzz/fuzz_load.c, whose second model has this layout
    with open(os.path.join(HERE, "fuzz", "corpus", "load", "buffers.safetensors"), "wb") as f:
        f.write(good)
    print("wrote tests/fixtures/buffers.h and tests/fuzz/corpus/load/buffers.safetensors")


if __name__ == "__main__":
    generate()
