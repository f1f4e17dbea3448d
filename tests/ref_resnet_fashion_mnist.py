# The ResNet of examples/resnet_fashion_mnist.c in PyTorch 1.13 with the
# same recipe, for the README's accuracy and speed comparison (not run by
# the tests):
#   /usr/bin/python3 tests/ref_resnet_fashion_mnist.py [--epochs 10] [--threads 2] [--seed 0] [--limit N] [--width 16]
# Model (width W = 16): stem Conv2d(1,W,3,p=1,no bias)-BN-ReLU, torchvision
# BasicBlocks W -> W, W -> 2W (stride 2), 2W -> 4W (stride 2), global
# average pooling, Linear(4W, 10). Recipe: inputs (x - 0.5) / 0.5; training
# augmentation RandomCrop(28, padding=2) + RandomHorizontalFlip(0.5);
# AdamW(lr 2e-3, weight decay 5e-4), CosineAnnealingLR over all steps of
# all epochs (stepped once per batch); batch 64; cross-entropy.
# Imported (tests/gen_resnet_print.py), it only defines the model.
import argparse, os, sys, time
import numpy as np
import torch
from torch import nn
import torchvision.transforms as T

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from fixture_lib import BasicBlock, read_idx  # noqa: E402  (BasicBlock as tests/gen_fold.py builds it)

p = argparse.ArgumentParser()
p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
p.add_argument("--epochs", type=int, default=10)
p.add_argument("--threads", type=int, default=2)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--limit", type=int, default=0, help="train on the first N images only")
p.add_argument("--width", type=int, default=16, help="stem and first stage channels (stages W, 2W, 4W)")
a = p.parse_args([]) if __name__ != "__main__" else p.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)


def load(train):
    pre = "train" if train else "t10k"
    x = torch.from_numpy(read_idx(a.data, pre + "-images-idx3-ubyte").astype(np.float32) / 255.0).unsqueeze(1)
    x = (x - 0.5) / 0.5
    y = torch.from_numpy(read_idx(a.data, pre + "-labels-idx1-ubyte").astype(np.int64))
    if train and a.limit:
        x, y = x[:a.limit], y[:a.limit]
    return x, y


class Augmented(torch.utils.data.Dataset):
    def __init__(self, x, y):
        self.x, self.y = x, y
        self.t = T.Compose([T.RandomCrop(28, padding=2), T.RandomHorizontalFlip(0.5)])

    def __len__(self):
        return len(self.y)

    def __getitem__(self, i):
        return self.t(self.x[i]), self.y[i]


class ResNet(nn.Module):
    def __init__(self, w=16):
        super().__init__()
        self.conv1 = nn.Conv2d(1, w, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(w)
        self.relu = nn.ReLU(inplace=True)
        self.layer1 = nn.Sequential(BasicBlock(w, w))
        self.layer2 = nn.Sequential(BasicBlock(w, 2 * w, 2))
        self.layer3 = nn.Sequential(BasicBlock(2 * w, 4 * w, 2))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(4 * w, 10)

    def forward(self, x):
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def main():
    (xtr, ytr), (xte, yte) = load(True), load(False)
    net = ResNet(a.width)
    print(net)
    print("parameters:", sum(p.numel() for p in net.parameters()))
    tl = torch.utils.data.DataLoader(Augmented(xtr, ytr), batch_size=64, shuffle=True)
    el = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xte, yte), batch_size=1000)
    opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=5e-4)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=a.epochs * len(tl))
    ce = nn.CrossEntropyLoss()
    for epoch in range(1, a.epochs + 1):
        t0 = time.time()
        net.train()
        for x, y in tl:
            opt.zero_grad()
            ce(net(x), y).backward()
            opt.step()
            sched.step()
        t1 = time.time()
        net.eval()
        correct = 0
        with torch.no_grad():
            for x, y in el:
                correct += (net(x).argmax(1) == y).sum().item()
        print("epoch %d: %.1f s training, %.1f s evaluation" % (epoch, t1 - t0, time.time() - t1))
        print("test accuracy: %.4f" % (correct / len(yte)), flush=True)


if __name__ == "__main__":
    main()
