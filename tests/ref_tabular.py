# examples/tabular.c's recipe in PyTorch 1.13, for the README's comparison
# (not run by the tests):
#   /usr/bin/python3 tests/ref_tabular.py [--data FILE] [--skip-rows 1] [--epochs 50] [--seed 0]
# The split draws torch.randperm(N) after torch.manual_seed(seed), with
# lengths as random_split computes them from 0.6/0.2/0.2 (what
# nn_dataset_split does on the same generator); a StandardScaler fitted on
# the training rows (population std, as scikit-learn); Linear(F, 32) -
# ReLU - Linear(32, C); Adam(1e-3); batch 32, shuffled; cross-entropy.
import argparse
import numpy as np
import torch
from torch import nn

p = argparse.ArgumentParser()
p.add_argument("--data", default="/usr/lib/python3/dist-packages/sklearn/datasets/data/breast_cancer.csv")
p.add_argument("--skip-rows", type=int, default=1)
p.add_argument("--epochs", type=int, default=50)
p.add_argument("--hidden", type=int, default=32)
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--seed", type=int, default=0)
a = p.parse_args()
torch.set_num_threads(1)

t = np.loadtxt(a.data, delimiter=",", skiprows=a.skip_rows, dtype=np.float32)
x, y = torch.from_numpy(t[:, :-1].copy()), torch.from_numpy(t[:, -1].astype(np.int64))
n, classes = len(y), int(y.max()) + 1
torch.manual_seed(a.seed)
perm = torch.randperm(n)
lengths = [int(n * f) for f in (0.6, 0.2, 0.2)]
for i in range(n - sum(lengths)):
    lengths[i % 3] += 1
idx = torch.split(perm, lengths)
(xtr, ytr), (xva, yva), (xte, yte) = [(x[i], y[i]) for i in idx]
mean, std = xtr.mean(0), xtr.std(0, unbiased=False)
std[std == 0] = 1
xtr, xva, xte = [(v - mean) / std for v in (xtr, xva, xte)]
net = nn.Sequential()
net.add_module("fc1", nn.Linear(x.shape[1], a.hidden))
net.add_module("relu", nn.ReLU())
net.add_module("fc2", nn.Linear(a.hidden, classes))
print(net)
opt = torch.optim.Adam(net.parameters(), lr=a.lr)
ce = nn.CrossEntropyLoss()
dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xtr, ytr), batch_size=32, shuffle=True)


def accuracy(xs, ys):
    with torch.no_grad():
        return (net(xs).argmax(1) == ys).float().mean().item()


for e in range(1, a.epochs + 1):
    total, batches = 0.0, 0
    for xb, yb in dl:
        opt.zero_grad()
        loss = ce(net(xb), yb)
        loss.backward()
        opt.step()
        total, batches = total + loss.item(), batches + 1
    if e % 10 == 0 or e == a.epochs:
        print("epoch %d: loss %.4f, validation accuracy %.4f" % (e, total / batches, accuracy(xva, yva)))
print("test accuracy: %.4f" % accuracy(xte, yte))
