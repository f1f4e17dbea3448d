#!/usr/bin/python3
"""Fixtures for tests/test_graph.c: models made of several layers wired as
graphs (torchvision's BasicBlock and Bottleneck without their BatchNorm
lines, a small ResNet-style stack, a two-level U-Net), and Upsample alone.
Run with /usr/bin/python3 (torch 1.13):

    /usr/bin/python3 tests/gen_composition.py

For each model <m> it writes
  tests/fixtures/composition/<m>.safetensors      its state_dict, as
                                                  PyTorch would save it
  tests/fixtures/composition/<m>_ref.safetensors  "x", "gy" (a fixed
                                                  dL/dy), "y", "dx" and
                                                  "grad.<key>" for every
                                                  state_dict key: forward and
                                                  backward of sum(y * gy)
and tests/fixtures/composition.h: each model's print(model) text, its
state_dict keys in order and its input and output shapes, plus the
Upsample cases (hex floats).

safetensors is written by tests/fixture_lib.py's st_bytes, as for
tests/gen_io.py (the package is not installed).
"""
import os
import sys
from collections import OrderedDict

import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_lib import emit, floats, cstr, lines, shape_init, st_bytes  # noqa: E402

torch.set_default_dtype(torch.float32)
HERE = os.path.dirname(os.path.abspath(__file__))
FIX = os.path.join(HERE, "fixtures")
DIR = os.path.join(FIX, "composition")


def write(path, tensors):
    with open(path, "wb") as f:
        f.write(st_bytes(tensors, {"format": "pt"}))


# --- torchvision's blocks (torchvision/models/resnet.py), attribute order
# and forward as there, the norm layers left out (BatchNorm comes later)

def conv3x3(in_planes, out_planes, stride=1, groups=1, dilation=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=stride, padding=dilation,
                     groups=groups, bias=False, dilation=dilation)


def conv1x1(in_planes, out_planes, stride=1):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=stride, bias=False)


class BasicBlock(nn.Module):
    expansion = 1

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = conv3x3(inplanes, planes, stride)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = conv3x3(planes, planes)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.conv1(x)
        out = self.relu(out)
        out = self.conv2(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out


class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None, groups=1, base_width=64, dilation=1):
        super().__init__()
        width = int(planes * (base_width / 64.0)) * groups
        self.conv1 = conv1x1(inplanes, width)
        self.conv2 = conv3x3(width, width, stride, groups, dilation)
        self.conv3 = conv1x1(width, planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample
        self.stride = stride

    def forward(self, x):
        identity = x
        out = self.conv1(x)
        out = self.relu(out)
        out = self.conv2(out)
        out = self.relu(out)
        out = self.conv3(out)
        if self.downsample is not None:
            identity = self.downsample(x)
        out += identity
        out = self.relu(out)
        return out


def enc_block(cin, cout):
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.ReLU(inplace=True))


class UNet(nn.Module):
    """Two levels down, two up, skips concatenated along the channels."""

    def __init__(self, in_channels=3, out_channels=2, width=4):
        super().__init__()
        w = width
        self.enc1 = enc_block(in_channels, w)
        self.enc2 = enc_block(w, 2 * w)
        self.pool = nn.MaxPool2d(2)
        self.bottleneck = enc_block(2 * w, 4 * w)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec2 = enc_block(4 * w + 2 * w, 2 * w)
        self.dec1 = enc_block(2 * w + w, w)
        self.head = nn.Conv2d(w, out_channels, 1)

    def forward(self, x):
        e1 = self.enc1(x)
        e2 = self.enc2(self.pool(e1))
        b = self.bottleneck(self.pool(e2))
        d2 = self.dec2(torch.cat([self.up(b), e2], dim=1))
        d1 = self.dec1(torch.cat([self.up(d2), e1], dim=1))
        return self.head(d1)


def resnet_stack():
    return nn.Sequential(OrderedDict([
        ("conv1", nn.Conv2d(3, 8, 3, padding=1, bias=False)),
        ("relu", nn.ReLU(inplace=True)),
        ("layer1", nn.Sequential(
            BasicBlock(8, 8),
            BasicBlock(8, 16, stride=2, downsample=nn.Sequential(conv1x1(8, 16, 2))))),
    ]))


MODELS = [  # name, seed, constructor, input shape
    ("basic_block", 10, lambda: BasicBlock(8, 8), (2, 8, 8, 8)),
    ("resnet_stack", 11, resnet_stack, (2, 3, 8, 8)),
    ("bottleneck", 12, lambda: Bottleneck(32, 8), (2, 32, 6, 6)),
    ("bottleneck_down", 13, lambda: Bottleneck(16, 8, stride=2, downsample=nn.Sequential(conv1x1(16, 32, 2))),
     (2, 16, 8, 8)),
    ("unet", 14, UNet, (2, 3, 16, 16)),
]

os.makedirs(DIR, exist_ok=True)
emit("/* Generated by tests/gen_composition.py with torch %s; do not edit. */" % torch.__version__)
emit("#ifndef NN_FIXTURES_COMPOSITION_H")
emit("#define NN_FIXTURES_COMPOSITION_H")
emit("#include <stdint.h>")
emit()
emit("typedef struct {")
emit("    const char *name; /* tests/fixtures/composition/<name>.safetensors and <name>_ref.safetensors */")
emit("    const char *print; /* print(model) */")
emit("    const char *const *keys; /* state_dict keys in order */")
emit("    int n_keys;")
emit("    int64_t xshape[4], yshape[4];")
emit("} composition_case;")
cases = []
for name, seed, make, xshape in MODELS:
    torch.manual_seed(seed)
    model = make()
    g = torch.Generator().manual_seed(1000 + seed)
    x = torch.randn(*xshape, generator=g).requires_grad_(True)
    y = model(x)
    gy = torch.randn(y.shape, generator=g)
    (y * gy).sum().backward()
    sd = model.state_dict()
    assert list(sd) == [k for k, _ in model.named_parameters()]
    assert 1000 <= sum(p.numel() for p in model.parameters()) <= 8000
    write(os.path.join(DIR, name + ".safetensors"), sd)
    ref = {"x": x, "gy": gy, "y": y, "dx": x.grad}
    for k, p in model.named_parameters():
        ref["grad." + k] = p.grad
    write(os.path.join(DIR, name + "_ref.safetensors"), ref)
    emit("static const char *const %s_keys[] = {%s};" % (name, ", ".join(cstr(k) for k in sd)))
    cases.append("    {%s, %s, %s_keys, %d, %s, %s}," % (cstr(name), cstr(str(model) + "\n"), name, len(sd),
                                                       shape_init(xshape), shape_init(tuple(y.shape))))
emit("static const composition_case composition_cases[] = {")
lines.extend(cases)
emit("};")
emit()

# --- Upsample(mode='nearest') alone: forward and dL/dx of sum(y * gy)
emit("typedef struct {")
emit("    int scale_h, scale_w; int pair; /* pair: built from a tuple */")
emit("    int ndim; int64_t xshape[4]; int64_t yshape[4];")
emit("    const float *x, *gy, *y, *dx;")
emit("    const char *print;")
emit("} upsample_case;")
UPSAMPLE = [  # scale (int or tuple), input shape
    (2, (2, 3, 3, 4)),
    (3, (1, 2, 2, 3)),
    ((2, 3), (2, 1, 3, 2)),
    ((1, 41), (1, 1, 2, 3)),  # torch's float source index: not i / 41
    (2, (2, 3, 5)),           # 3-D: [N, C, L], scaled in L only
    (1, (1, 2, 2, 2)),
]
cases = []
for i, (scale, xshape) in enumerate(UPSAMPLE):
    g = torch.Generator().manual_seed(600 + i)
    up = nn.Upsample(scale_factor=scale, mode="nearest")
    x = torch.randn(*xshape, generator=g).requires_grad_(True)
    y = up(x)
    gy = torch.randn(y.shape, generator=g)
    (y * gy).sum().backward()
    p = "up%d_" % i
    floats(p + "x", x)
    floats(p + "gy", gy)
    floats(p + "y", y)
    floats(p + "dx", x.grad)
    sh, sw = scale if isinstance(scale, tuple) else (scale, scale)
    cases.append("    {%d, %d, %d, %d, %s, %s, %sx, %sgy, %sy, %sdx, %s}," % (
        sh, sw, int(isinstance(scale, tuple)), len(xshape), shape_init(xshape), shape_init(tuple(y.shape)),
        p, p, p, p, cstr(str(up) + "\n")))
emit("static const upsample_case upsample_cases[] = {")
lines.extend(cases)
emit("};")
emit()
emit("#endif")

with open(os.path.join(FIX, "composition.h"), "w") as f:
    f.write("\n".join(lines) + "\n")
print("wrote", os.path.join(FIX, "composition.h"), "and", DIR)
