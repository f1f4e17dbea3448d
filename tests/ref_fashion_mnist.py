# The Fashion-MNIST CNN of examples/fashion_mnist.c in PyTorch 1.13, for the
# README's accuracy and speed comparison (not run by the tests):
#   /usr/bin/python3 tests/ref_fashion_mnist.py [--epochs 2] [--threads 1] [--seed 0] [--normalize on|off]
# --normalize on (the default, as the C example): (x - 0.5) / 0.5, the tutorial's
# transforms.Normalize((0.5,), (0.5,)).
import argparse, os, sys, time
import numpy as np
import torch
from torch import nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_lib import read_idx  # noqa: E402

p = argparse.ArgumentParser()
p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
p.add_argument("--epochs", type=int, default=2)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--normalize", choices=["on", "off"], default="on")
a = p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)

def load(train):
    pre = "train" if train else "t10k"
    x = torch.from_numpy(read_idx(a.data, pre + "-images-idx3-ubyte").astype(np.float32) / 255.0).unsqueeze(1)
    if a.normalize == "on":
        x = (x - 0.5) / 0.5
    y = torch.from_numpy(read_idx(a.data, pre + "-labels-idx1-ubyte").astype(np.int64))
    return torch.utils.data.TensorDataset(x, y)

train, test = load(True), load(False)
net = nn.Sequential(nn.Conv2d(1, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
                    nn.Conv2d(32, 64, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                    nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
opt = torch.optim.Adam(net.parameters(), lr=1e-3)
ce = nn.CrossEntropyLoss()
tl = torch.utils.data.DataLoader(train, batch_size=64, shuffle=True)
el = torch.utils.data.DataLoader(test, batch_size=1000)
for epoch in range(1, a.epochs + 1):
    t0 = time.time()
    net.train()
    for x, y in tl:
        opt.zero_grad()
        loss = ce(net(x), y)
        loss.backward()
        opt.step()
    t1 = time.time()
    net.eval()
    correct = 0
    with torch.no_grad():
        for x, y in el:
            correct += (net(x).argmax(1) == y).sum().item()
    print("epoch %d: %.1f s training, %.1f s evaluation" % (epoch, t1 - t0, time.time() - t1))
    print("test accuracy: %.4f" % (correct / len(test)), flush=True)
