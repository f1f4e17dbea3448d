#!/usr/bin/python3
"""The Python program that examples/two_conv.c mirrors: with the same --seed
it prints what build/examples/two_conv prints. tests/gen_examples.sh stores
its output as fixtures. Run: /usr/bin/python3 tests/ref_two_conv.py --seed 0"""
import argparse

import torch
import torch.nn as nn

DEFAULT_SEED = 67280421310721  # torch.Generator().initial_seed()

WHAT = {
    "conv1": "1x1 kernel: each pixel scaled and shifted into 20 channels",
    "relu1": "negative values become 0",
    "conv2": "5x5 kernel over all 20 channels: one value per output channel",
    "relu2": "negative values become 0",
}


class MyData(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(1, 20, 1)
        self.relu1 = nn.ReLU()
        self.conv2 = nn.Conv2d(20, 20, 5)
        self.relu2 = nn.ReLU()

    def forward(self, x):
        return self.relu2(self.conv2(self.relu1(self.conv1(x))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    model = MyData()
    print(f"Seed: {args.seed}")
    print()
    print(model)

    x = torch.full((1, 1, 5, 5), 0.1)
    x[..., -1] = 0.5  # the last column is brighter
    print()
    print(f"Input, shape {list(x.shape)} (batch, channels, height, width):")
    print(x)

    print()
    print("Step by step:")
    print(f"  {'input':<6} {list(x.shape)}")
    h = x
    with torch.no_grad():
        for name, layer in model.named_children():
            h = layer(h)
            print(f"  {name:<6} {str(list(h.shape)):<14} {WHAT[name]}")
        out = model(x)
    print()
    print(f"Output, shape {list(out.shape)}:")
    print(out)


main()
