#!/usr/bin/python3
"""Fixtures for tests/test_fold.c: models with BatchNorm after Conv2d and
Linear, in PyTorch 1.13, with running statistics moved by a few training
steps, then in evaluation mode: their state_dict (parameters and buffers,
num_batches_tracked as int64) as safetensors files, an input, the output,
and the output of the same model after torch's own fusion
(torch.nn.utils.fusion.fuse_conv_bn_eval / fuse_linear_bn_eval); and the
ResNet example's model (width 8) trained by PyTorch on Fashion-MNIST (needs
dataset-fashion-mnist). Run with
the Python that has torch:

    /usr/bin/python3 tests/gen_fold.py
"""
import os
import sys

import torch
import torch.nn as nn
from torch.nn.utils.fusion import fuse_conv_bn_eval, fuse_linear_bn_eval

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from fixture_lib import BasicBlock, st_bytes  # noqa: E402  (the reference layout, int64 included)

OUT = os.path.join(HERE, "fixtures", "fold")


def chain():
    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
                         nn.Conv2d(8, 4, 3, bias=True), nn.BatchNorm2d(4, momentum=None),
                         nn.Flatten(), nn.Linear(4 * 6 * 6, 6), nn.BatchNorm1d(6, eps=1e-3))


def fused(model):
    """torch's per-pair fusion of the same pairs nn_fold_batchnorm folds."""
    import copy
    m = copy.deepcopy(model)
    for parent in m.modules():
        kids = list(parent.named_children())
        for (na, a), (nb, b) in zip(kids, kids[1:]):
            if isinstance(a, nn.Conv2d) and isinstance(b, nn.BatchNorm2d):
                setattr(parent, na, fuse_conv_bn_eval(a, b))
                setattr(parent, nb, nn.Identity())
            if isinstance(a, nn.Linear) and isinstance(b, nn.BatchNorm1d):
                setattr(parent, na, fuse_linear_bn_eval(a, b))
                setattr(parent, nb, nn.Identity())
    return m


def make(name, model, xshape, seed):
    torch.manual_seed(seed)
    for p in model.parameters():  # not the default ones, so the affine part matters
        with torch.no_grad():
            p.add_(torch.randn(p.shape) * 0.1)
    model.train()
    for _ in range(3):
        model(torch.randn(*xshape) * 2 + 0.5)
    model.eval()
    x = torch.randn(*xshape)
    with torch.no_grad():
        y = model(x)
        y_fused = fused(model)(x)
    tensors = dict(model.state_dict())
    with open(os.path.join(OUT, name + ".safetensors"), "wb") as f:
        f.write(st_bytes(tensors, {"format": "pt"}))
    with open(os.path.join(OUT, name + "_ref.safetensors"), "wb") as f:
        f.write(st_bytes({"x": x, "y": y, "y_fused": y_fused}, {"format": "pt"}))
    print(name, "max |y - y_fused|", float((y - y_fused).abs().max()))


os.makedirs(OUT, exist_ok=True)
torch.manual_seed(0)
make("chain", chain(), (2, 3, 8, 8), 1)
torch.manual_seed(0)
make("basic_block", BasicBlock(4, 8, 2), (2, 4, 8, 8), 2)


def trained_resnet():
    """The ResNet example's model (tests/ref_resnet_fashion_mnist.py) at
    width 8, trained by PyTorch: 150 AdamW steps of 32 real Fashion-MNIST
    images (Debian's dataset-fashion-mnist), so weights and running
    statistics are a trained network's, not an initialisation's."""
    import numpy as np
    from fixture_lib import read_idx
    sys.argv = sys.argv[:1]
    import ref_resnet_fashion_mnist as ref
    data = "/usr/share/datasets/fashion-mnist"
    xtr = torch.from_numpy(read_idx(data, "train-images-idx3-ubyte").astype(np.float32) / 255.0).unsqueeze(1)
    ytr = torch.from_numpy(read_idx(data, "train-labels-idx1-ubyte").astype(np.int64))
    xte = torch.from_numpy(read_idx(data, "t10k-images-idx3-ubyte").astype(np.float32) / 255.0).unsqueeze(1)
    torch.manual_seed(3)
    net = ref.ResNet(8)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=5e-4)
    net.train()
    for step in range(150):
        i = torch.randint(0, len(ytr), (32,))
        opt.zero_grad()
        loss = nn.functional.cross_entropy(net((xtr[i] - 0.5) / 0.5), ytr[i])
        loss.backward()
        opt.step()
    print("resnet_trained: last training loss", float(loss))
    net.eval()
    x = (xte[:8] - 0.5) / 0.5
    with torch.no_grad():
        y = net(x)
        y_fused = fused(net)(x)
    with open(os.path.join(OUT, "resnet_trained.safetensors"), "wb") as f:
        f.write(st_bytes(dict(net.state_dict()), {"format": "pt"}))
    with open(os.path.join(OUT, "resnet_trained_ref.safetensors"), "wb") as f:
        f.write(st_bytes({"x": x, "y": y, "y_fused": y_fused}, {"format": "pt"}))
    print("resnet_trained: BatchNorms", sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()),
          "max |y - y_fused|", float((y - y_fused).abs().max()))


trained_resnet()
