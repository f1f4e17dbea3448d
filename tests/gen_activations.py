#!/usr/bin/python3
"""Writes tests/fixtures/activations.h: PyTorch 1.13 reference values for
LeakyReLU, ELU, GELU (none / tanh), SiLU, Hardswish, Softmax, LogSoftmax
and Identity: forward, dL/dx for loss = sum(y * gy), every option, several
shapes (1-D with special values, 0-dim, 4-D, empty), Softmax / LogSoftmax
along every dimension of a 3-D input and dim=-1, and each module's repr.
Run with the Python that has torch:

    /usr/bin/python3 tests/gen_activations.py
"""
import os
import sys

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_lib import emit, hexfloat, floats, cstr, generator, lines, randn_from  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixtures", "activations.h")

g = generator(20261203)
randn = randn_from(g)

# special values: zeros, tiny, the Hardswish / ReLU6 boundaries, large
SPECIAL = [0.0, -0.0, 1e-8, -1e-8, 0.5, -0.5, 1.0, -1.0, 2.9999, 3.0, 3.0001, -2.9999, -3.0, -3.0001,
           6.0, -6.0, 10.0, -10.0, 20.0, -20.0, 50.0, -50.0, 88.0, -88.0, 100.0, -100.0, 1e4, -1e4]

# kinds, in the order of the C enum
KINDS = ["leaky_relu", "elu", "gelu", "silu", "hardswish", "softmax", "log_softmax", "identity"]


def make(kind, arg, inplace):
    if kind == "leaky_relu":
        return nn.LeakyReLU(arg, inplace=inplace)
    if kind == "elu":
        return nn.ELU(arg, inplace=inplace)
    if kind == "gelu":
        return nn.GELU(approximate="tanh" if arg else "none")
    if kind == "silu":
        return nn.SiLU(inplace=inplace)
    if kind == "hardswish":
        return nn.Hardswish(inplace=inplace)
    if kind == "softmax":
        return nn.Softmax(dim=int(arg))
    if kind == "log_softmax":
        return nn.LogSoftmax(dim=int(arg))
    return nn.Identity()


cases = []


def case(kind, x, arg=0.0, inplace=False):
    """arg: negative_slope, alpha, 1 for GELU's tanh form, dim of Softmax."""
    m = make(kind, arg, inplace)
    x = x.detach().clone()
    gy = randn(*x.shape)
    if kind in ("softmax", "log_softmax"):
        xl = x.clone().requires_grad_(True)
        y = m(xl)
        (y * gy).sum().backward()
        grad = xl.grad
    else:
        # Pointwise: run the values zero-padded to a multiple of 64, so that
        # every one goes through torch's vectorised kernel (the common
        # path). Its scalar loop, which takes the last n % 16 elements of a
        # contiguous tensor (AVX2), differs at one point: Hardswish's
        # gradient at x = 3 is 1.5 there, 1 in the vectorised kernel.
        n = x.numel()
        pad = (-n) % 64 + 64
        xl = torch.cat([x.reshape(-1), torch.zeros(pad)]).requires_grad_(True)
        yp = m(xl * 1.0 if inplace else xl)  # in place on a non-leaf, as torch allows
        (yp * torch.cat([gy.reshape(-1), torch.zeros(pad)])).sum().backward()
        y = yp[:n].reshape(x.shape)
        grad = xl.grad[:n].reshape(x.shape)
    p = "act%d" % len(cases)
    floats(p + "_x", x)
    floats(p + "_gy", gy)
    floats(p + "_y", y)
    floats(p + "_dx", grad)
    shape = list(x.shape)
    cases.append("{%d, %s, %s, %d, {%s}, %s_x, %s_gy, %s_y, %s_dx, %s}"
                 % (KINDS.index(kind), hexfloat(arg), "true" if inplace else "false", len(shape),
                    ", ".join(str(d) for d in shape) or "0", p, p, p, p, cstr(repr(m))))


special = torch.tensor(SPECIAL)
rand4 = randn(2, 3, 4, 5) * 3.0
empty = torch.zeros(0, 3)
scalar = torch.tensor(-0.75)

for slope, inplace in [(0.01, False), (0.2, False), (0.0, False), (-0.5, False), (1.5, False), (0.2, True),
                       (0.0, True)]:
    case("leaky_relu", special, slope, inplace)
case("leaky_relu", rand4, 0.01)
case("leaky_relu", empty, 0.01)
case("leaky_relu", scalar, 0.1)

for alpha, inplace in [(1.0, False), (0.5, False), (2.0, False), (-1.0, False), (1.0, True), (0.5, True),
                       (0.0, False)]:
    case("elu", special, alpha, inplace)
case("elu", rand4, 1.0)
case("elu", rand4, 1.3, True)
case("elu", empty, 1.0)
case("elu", scalar, 1.0)

for tanh_form in [0.0, 1.0]:
    case("gelu", special, tanh_form)
    case("gelu", rand4, tanh_form)
    case("gelu", empty, tanh_form)
    case("gelu", scalar, tanh_form)

for kind in ["silu", "hardswish", "identity"]:
    for inplace in ([False, True] if kind != "identity" else [False]):
        case(kind, special, 0.0, inplace)
    case(kind, rand4)
    case(kind, empty)
    case(kind, scalar)
case("hardswish", torch.linspace(-4.0, 4.0, 33))

rand3 = randn(3, 4, 5) * 2.0
for kind in ["softmax", "log_softmax"]:
    for dim in [0, 1, 2, -1, -2, -3]:
        case(kind, rand3, dim)
    case(kind, randn(7) * 4.0, 0)
    case(kind, randn(7) * 4.0, -1)
    case(kind, rand4, 1)
    case(kind, rand4, 3)
    case(kind, empty, 1)
    case(kind, empty, 0)
    case(kind, torch.zeros(2, 0), 1)
    case(kind, scalar, 0)
    case(kind, scalar, -1)
    # large values: the maximum is subtracted
    case(kind, torch.tensor([[1000.0, 990.0, -1000.0, 0.0], [-50.0, -60.0, -55.0, -100.0], [88.0, 89.0, 90.0, 91.0]]), 1)
    case(kind, torch.tensor([[1000.0, 990.0, -1000.0, 0.0], [-50.0, -60.0, -55.0, -100.0], [88.0, 89.0, 90.0, 91.0]]), 0)

emit("/* Generated by tests/gen_activations.py with torch %s; do not edit. */" % torch.__version__)
emit("#ifndef NN_FIXTURES_ACTIVATIONS_H")
emit("#define NN_FIXTURES_ACTIVATIONS_H")
emit("#include <math.h>")
emit("#include <stdbool.h>")
emit("#include <stdint.h>")
emit()
emit("enum { %s };" % ", ".join("ACT_" + k.upper() for k in KINDS))
emit("typedef struct {")
emit("    int kind; float arg; bool inplace; int ndim; int64_t shape[4];")
emit("    const float *x, *gy, *y, *dx;")
emit("    const char *repr;")
emit("} act_case;")
emit()
emit("static const act_case act_cases[] = {")
body_at = len(lines)
for c in cases:
    emit("    " + c + ",")
emit("};")
emit("#endif")
# the arrays were emitted as the cases ran: move the table after them
table = lines[body_at - 1:]
arrays = [l for l in lines[:body_at - 1] if l.startswith("static const float")]
head = [l for l in lines[:body_at - 1] if not l.startswith("static const float")]
with open(OUT, "w") as f:
    f.write("\n".join(head + arrays + table) + "\n")
print("wrote", OUT, len(cases), "cases")
