"""Helpers the fixture generators (tests/gen_*.py) and the reference
scripts (tests/ref_*.py) share: C literals of floats and strings, the
emit() line buffer, seeded data, the safetensors writer and the models
several scripts build. A script imports it after putting its own
directory on sys.path:

    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    from fixture_lib import emit, floats, lines  # noqa: E402
"""
import json
import math
import os
import struct

import torch
import torch.nn as nn

# ---------------------------------------------------------------- C text

# the lines of the header being written (emit appends; the script joins)
lines = []


def emit(s=""):
    lines.append(s)


def hexfloat(v):
    """Exact C literal of a float32 value, trailing mantissa zeros dropped."""
    v = float(v)
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    mant, exp = float.hex(v).split("p")
    if "." in mant:
        mant = mant.rstrip("0").rstrip(".")
    return mant + "p" + exp + "f"


def floats(name, t):
    """Emits a C array of the tensor's values (None: none) in row-major
    order, exact as hex floats; an empty one as {0} of length 1."""
    vals = [] if t is None else t.detach().contiguous().view(-1).tolist()
    if not vals:
        emit("static const float %s[1] = {0};" % name)
        return
    emit("static const float %s[%d] = {%s};" % (name, len(vals), ", ".join(hexfloat(v) for v in vals)))


def cstr(s):
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def shape_init(shape):
    """C initializer of a shape: {2, 3}; {0} for a 0-dim one."""
    return "{%s}" % ", ".join(str(d) for d in shape) if len(shape) else "{0}"


def cfloat(v):
    """Shortest-round-trip (%.9g) C literal of a float32 value."""
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    s = "%.9g" % v
    if not any(ch in s for ch in ".e"):
        s += ".0"
    return s + "f"


def carr(name, t):
    """A C array (a line) of a tensor's or a list's values as cfloat; an
    empty one as {0} of length 1."""
    vals = t if isinstance(t, list) else t.detach().reshape(-1).tolist()
    body = ", ".join(cfloat(v) for v in vals) or "0"
    return "static const float %s[%d] = {%s};\n" % (name, max(len(vals), 1), body)


def cdouble(v):
    """Exact (%.17g) C literal of a double."""
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    return "%.17g" % v


def c_bytes(name, blob):
    """A C unsigned char array of a byte string, 16 to a line."""
    rows = [", ".join("0x%02x" % b for b in blob[i:i + 16]) for i in range(0, len(blob), 16)]
    return "static const unsigned char %s[%d] = {\n    %s};\n" % (name, len(blob), ",\n    ".join(rows))


# ---------------------------------------------------------------- data

def generator(seed):
    """A torch.Generator seeded with seed."""
    g = torch.Generator()
    g.manual_seed(seed)
    return g


def randn_from(g):
    """randn(*shape) (or randn(shape)) drawing from the generator g."""
    def randn(*shape):
        if len(shape) == 1 and isinstance(shape[0], (tuple, list, torch.Size)):
            shape = shape[0]
        return torch.randn(tuple(shape), generator=g)
    return randn


def loss_numbers(fn, x, t, red, kw):
    """torch's numbers for the loss fn(x, t, reduction=red, **kw): its
    values; the gradient of the value (the values' sum for 'none'); an
    upstream gradient (randn in the values' shape for 'none', else 0.625)
    and the gradient for it; the value."""
    def run(up=None):
        p = x.clone().requires_grad_(True)
        v = fn(p, t, reduction=red, **kw)
        if up is None:
            (v.sum() if red == "none" else v).backward()
        else:
            v.backward(up)
        return v.detach(), p.grad.detach()

    values, grad = run()
    upstream = torch.randn(values.shape) if red == "none" else torch.tensor(0.625)
    _, grad_ex = run(upstream)
    value = values.sum() if red == "none" else values
    return values, grad, upstream, grad_ex, value


def read_idx(data_dir, name):
    """The uint8 array of an IDX file (MNIST's format) data_dir/name, or
    of name.gz when there is one."""
    import gzip
    import numpy as np
    path = os.path.join(data_dir, name)
    op = gzip.open if os.path.exists(path + ".gz") else open
    with op(path + ".gz" if op is gzip.open else path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


# ---------------------------------------------------------------- safetensors

# the reference implementation's Dtype enum, in its order
DTYPE_ORDER = ["BOOL", "U8", "I8", "F8_E5M2", "F8_E4M3", "I16", "U16", "F16",
               "BF16", "I32", "U32", "F32", "F64", "I64", "U64"]
DTYPES = {torch.float32: ("F32", "<f4"), torch.int64: ("I64", "<i8")}


def st_bytes(tensors, metadata=None, by_dtype=True):
    """safetensors image of tensors (a dict name -> tensor) as the
    reference implementation writes it: metadata first (when given),
    tensors by dtype (larger alignment first), then name (by_dtype False:
    by name only, what older writers did), compact JSON padded with spaces
    to a multiple of 8, data in the same order. float32 and int64 tensors
    keep their dtype; any other is written as float32."""
    def dtype_of(t):
        return DTYPES.get(t.dtype, DTYPES[torch.float32])

    def key(name):
        rank = DTYPE_ORDER.index(dtype_of(tensors[name])[0])
        return (-rank, name) if by_dtype else (0, name)

    header = {}
    if metadata is not None:
        header["__metadata__"] = metadata
    data = b""
    for name in sorted(tensors, key=key):
        t = tensors[name].detach().contiguous()
        dtype, np_type = dtype_of(t)
        raw = t.numpy().astype(np_type).tobytes()
        header[name] = {"dtype": dtype, "shape": list(t.shape),
                        "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    text = json.dumps(header, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    text += b" " * ((8 - len(text) % 8) % 8)
    return struct.pack("<Q", len(text)) + text + data


# ---------------------------------------------------------------- models

class BasicBlock(nn.Module):
    """torchvision's BasicBlock with its BatchNorms."""

    def __init__(self, inplanes, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or inplanes != planes:
            self.downsample = nn.Sequential(nn.Conv2d(inplanes, planes, 1, stride, bias=False),
                                            nn.BatchNorm2d(planes))

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + identity)
