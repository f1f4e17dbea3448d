#!/usr/bin/python3
"""The Python program that examples/simple_net.c mirrors: with the same
--seed and --optim it prints what build/examples/simple_net prints (except
the "Wrote ..." lines about image files). tests/gen_examples.sh stores its
output as fixtures. Run: /usr/bin/python3 tests/ref_simple_net.py --seed 0"""
import argparse

import torch
import torch.nn as nn

DEFAULT_SEED = 67280421310721  # torch.Generator().initial_seed()
LEARNING_RATES = {"sgd": 0.5, "adam": 0.05, "rmsprop": 0.02, "adagrad": 0.3}
EPOCHS = 1000


class SimpleNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1 = nn.Linear(2, 5)
        self.relu = nn.ReLU()
        self.fc2 = nn.Linear(5, 1)

    def forward(self, x):
        return self.fc2(self.relu(self.fc1(x)))


def circle_task():
    """400 points on a 20 x 20 grid over [-2, 2]^2; label 1 inside the
    circle x1^2 + x2^2 < 2."""
    g = (torch.arange(20, dtype=torch.float32) * 2 - 19) / 19 * 2
    x = torch.stack([g.repeat_interleave(20), g.repeat(20)], 1)
    inside = [float(a * a + b * b < 2.0) for a, b in x.double().tolist()]
    return x, torch.tensor(inside).unsqueeze(1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--seed", type=int, default=DEFAULT_SEED)
    ap.add_argument("--optim", choices=list(LEARNING_RATES), default="adam")
    args = ap.parse_args()

    torch.manual_seed(args.seed)
    model = SimpleNet()
    print(f"Seed: {args.seed}")
    print()
    print(model)
    for name, param in model.named_parameters():
        print()
        print(f"{name}:")
        print(param.data)

    x, y = circle_task()
    lr = LEARNING_RATES[args.optim]
    opt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop,
           "adagrad": torch.optim.Adagrad}[args.optim](model.parameters(), lr=lr)
    criterion = nn.BCEWithLogitsLoss()
    print()
    print(f"Training: inside the circle x1^2 + x2^2 < 2 or not, {len(x)} points on a grid")
    print(f"over [-2, 2]^2, full batch, BCEWithLogitsLoss, {args.optim} (lr {lr:g}), {EPOCHS} epochs")
    for epoch in range(1, EPOCHS + 1):
        opt.zero_grad()
        loss = criterion(model(x), y)
        loss.backward()
        opt.step()
        if epoch == 1 or epoch % 100 == 0:
            print(f"epoch {epoch:4d}  loss {loss.item():.4f}")
    with torch.no_grad():
        correct = int(((model(x) > 0).float() == y).sum().item())
    print(f"accuracy: {correct}/{len(x)} = {100.0 * correct / len(x):.2f}%")


main()
