#!/usr/bin/python3
# The PyTorch twin of examples/custom_layer.c (torch 1.13): the same
# ChannelScale layer as an nn.Module, trained inside a Sequential and inside
# a module wired like the C example's Graph, saved and loaded into a fresh
# model. Its output is tests/fixtures/custom_layer.out, which
# build/examples/custom_layer must print byte for byte (tests/test_examples.c):
#     /usr/bin/python3 tests/ref_custom_layer.py > tests/fixtures/custom_layer.out
import os
import sys
import tempfile

import torch
import torch.nn as nn

STEPS = 20
N = 6  # images of 1 x 5 x 5, classes n % 3
LR = 0.01


class ChannelScale(nn.Module):
    def __init__(self, num_channels):
        super().__init__()
        self.num_channels = num_channels
        self.weight = nn.Parameter(torch.ones(num_channels))
        self.bias = nn.Parameter(torch.zeros(num_channels))

    def forward(self, x):
        view = (1, -1) + (1,) * (x.dim() - 2)
        return x * self.weight.view(view) + self.bias.view(view)

    def extra_repr(self):
        return "num_channels=%d" % self.num_channels


def sequential_model():
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), ChannelScale(4), nn.ReLU(), nn.Flatten(),
                         nn.Linear(100, 3))


class ScaledSkip(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 4, 3, padding=1)
        self.scale = ChannelScale(4)
        self.relu = nn.ReLU()
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(100, 3)

    def forward(self, x):
        h = self.conv(x)
        return self.fc(self.flatten(self.relu(self.scale(h) + h)))


def train(net, x, y):
    ce = nn.CrossEntropyLoss()
    opt = torch.optim.SGD(net.parameters(), lr=LR, momentum=0.9)
    for step in range(STEPS):
        opt.zero_grad()
        loss = ce(net(x), y)
        loss.backward()
        opt.step()
        if step % 5 == 0 or step == STEPS - 1:
            print("step %d loss %.4f" % (step, loss.item()))


def print_scale(name, scale):
    print("%s after training:" % name + "".join(" %.4f" % v for v in scale.weight.tolist()))


def save_and_reload(net, build, seed, x):
    torch.manual_seed(seed + 1)
    fresh = build()
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "model.pt")
        torch.save(net.state_dict(), path)
        fresh.load_state_dict(torch.load(path), strict=True)
    with torch.no_grad():
        same = torch.equal(net(x), fresh(x))
    print("saved, loaded into a fresh model: outputs %s" % ("equal" if same else "DIFFER"))


def main():
    seed = 0
    if len(sys.argv) == 3 and sys.argv[1] == "--seed":
        seed = int(sys.argv[2])
    x = torch.tensor([[[[((n * 7 + i * 3 + j * 5) % 11 - 5) / 8.0 for j in range(5)] for i in range(5)]]
                      for n in range(N)])
    y = torch.tensor([n % 3 for n in range(N)])

    torch.manual_seed(seed)
    seq = sequential_model()
    print(seq)
    train(seq, x, y)
    print_scale("ChannelScale weight", seq[1])
    save_and_reload(seq, sequential_model, seed, x)

    torch.manual_seed(seed)
    graph = ScaledSkip()
    print()
    print(graph)
    train(graph, x, y)
    print_scale("ChannelScale weight", graph.scale)
    save_and_reload(graph, ScaledSkip, seed, x)


if __name__ == "__main__":
    main()
