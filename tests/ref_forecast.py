# examples/forecast.c's recipe in PyTorch 1.13, for the README's comparison
# (not run by the tests):
#   /usr/bin/python3 tests/ref_forecast.py --series co2|sunspots|bikesharing
#       [--data FILE] [--model gru|lstm|tcn] [--epochs N] [--seed 0]
# The same series (co2's gaps filled by linear interpolation), windows of
# the last `window` values -> the next value, lengths of the chronological
# 70/15/15 split as random_split computes them from the fractions, a
# StandardScaler (population std) fitted on the training span of the
# series, inputs taken relative to the window's last value and the target
# being the change from it (forecast = last value + predicted change),
# GRU / LSTM (batch_first) -> last step -> Linear, or a TCN of causal
# dilated Conv1d blocks with residuals -> last step -> Linear; Adam, MSE,
# batch 32 shuffled, gradient norm clipped at 1, a fixed number of epochs;
# MAE and RMSE in the series' units beside persistence and seasonal-naive.
import argparse
import csv
import gzip
import re
import time

import numpy as np
import torch
from torch import nn

SM = "/usr/lib/python3/dist-packages/statsmodels/datasets/"
SERIES = {  # file, column, seasonal period, window, epochs
    "co2": (SM + "co2/co2.csv", "co2", 52, 52, 20),
    "sunspots": (SM + "sunspots/sunspots.csv", "SUNACTIVITY", 11, 22, 100),
    "bikesharing": ("/usr/share/gretl/data/misc/bikesharing.gdt", "cnt", 7, 14, 60),
}

p = argparse.ArgumentParser()
p.add_argument("--series", default="bikesharing", choices=sorted(SERIES) + ["csv"])
p.add_argument("--data")
p.add_argument("--column")
p.add_argument("--period", type=int)
p.add_argument("--window", type=int)
p.add_argument("--model", default="gru", choices=["gru", "lstm", "tcn"])
p.add_argument("--epochs", type=int)
p.add_argument("--hidden", type=int, default=32)
p.add_argument("--lr", type=float, default=1e-3)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--threads", type=int, default=1)
a = p.parse_args()
torch.set_num_threads(a.threads)
path, column, period, window, epochs = SERIES.get(a.series, (None, None, 1, 16, 30))
path = a.data or path
column = a.column or column
period = a.period or period
window = a.window or window
epochs = a.epochs or epochs


def load(path, column):
    if path.endswith(".gdt"):  # gretl's XML, usually gzipped
        with open(path, "rb") as f:
            raw = f.read()
        text = (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()
        names = re.findall(r'<variable name="([^"]+)"', text)
        col = names.index(column)
        return np.array([float(o.split()[col]) for o in re.findall(r"<obs[^>]*>([^<]*)</obs>", text)], np.float32)
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    col = rows[0].index(column) if column else len(rows[0]) - 1
    return np.array([float(r[col]) if r[col].strip() else np.nan for r in rows[1:]], np.float32)


y = load(path, column)
gaps = np.isnan(y)
if gaps.any():  # linear interpolation between the neighbours (np.interp)
    i = np.arange(len(y))
    y[gaps] = np.interp(i[gaps], i[~gaps], y[~gaps]).astype(np.float32)
T = len(y)
N = T - window  # windows y[s:s+window] -> y[s+window]
lengths = [int(N * f) for f in (0.7, 0.15, 0.15)]
for i in range(N - sum(lengths)):
    lengths[i % 3] += 1
ntr, nva, nte = lengths
span = y[: ntr + window].astype(np.float64)  # every value the training windows see
mean, std = np.float32(span.mean()), np.float32(span.std() or 1.0)
z = (y - mean) / std
X = np.stack([z[s : s + window] for s in range(N)])
Y = z[window:]
last = X[:, -1].copy()
X = X - last[:, None]
Y = (Y - last)[:, None]
parts = np.split(np.arange(N), [ntr, ntr + nva])

torch.manual_seed(a.seed)
H = a.hidden


class Chomp1d(nn.Module):
    def __init__(self, chomp_size):
        super().__init__()
        self.chomp_size = chomp_size

    def forward(self, x):
        return x[:, :, : -self.chomp_size]


class Block(nn.Module):  # Bai et al.'s TemporalBlock without weight norm / dropout
    def __init__(self, cin, cout, k, d):
        super().__init__()
        pad = (k - 1) * d
        self.body = nn.Sequential(nn.Conv1d(cin, cout, k, padding=pad, dilation=d), Chomp1d(pad), nn.ReLU(),
                                  nn.Conv1d(cout, cout, k, padding=pad, dilation=d), Chomp1d(pad), nn.ReLU())
        self.shortcut = nn.Conv1d(cin, cout, 1) if cin != cout else None

    def forward(self, x):
        return torch.relu(self.body(x) + (self.shortcut(x) if self.shortcut is not None else x))


class Last(nn.Module):  # libnn's Select(dim, -1); an RNN's output without its final state
    def __init__(self, dim):
        super().__init__()
        self.dim = dim

    def forward(self, x):
        return (x[0] if isinstance(x, tuple) else x).select(self.dim, -1)


if a.model == "tcn":
    layers, cin, d = [], 1, 1
    while True:  # dilations 1, 2, 4, ... until the receptive field 1 + 4 (2d - 1) covers the window
        layers.append(Block(cin, H, 3, d))
        cin = H
        if 1 + 4 * (2 * d - 1) >= window:
            break
        d *= 2
    net = nn.Sequential(*layers, Last(2), nn.Linear(H, 1))
    X = X[:, None, :]  # [N, 1, window]
else:
    rnn = (nn.GRU if a.model == "gru" else nn.LSTM)(1, H, batch_first=True)
    net = nn.Sequential(rnn, Last(1), nn.Linear(H, 1))
    X = X[:, :, None]  # [N, window, 1]
print(net)
X, Y = torch.from_numpy(X), torch.from_numpy(Y)
(xtr, ytr), (xva, yva), (xte, yte) = [(X[i], Y[i]) for i in parts]
opt = torch.optim.Adam(net.parameters(), lr=a.lr)
mse = nn.MSELoss()
dl = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(xtr, ytr), batch_size=32, shuffle=True)
print("%s: %d values, window %d, period %d; windows: train %d, validation %d, test %d" % (path, T, window, period, ntr, nva, nte))


def metrics(idx):
    """MAE, RMSE of the model, persistence and seasonal-naive on windows idx, in the series' units."""
    net.eval()
    with torch.no_grad():
        pred = net(X[idx])[:, 0].numpy()
    net.train()
    t = idx + window  # the forecast steps
    actual = y[t].astype(np.float64)
    fc = (last[idx] + pred) * np.float64(std) + np.float64(mean)
    out = []
    for f in (fc, y[t - 1], y[t - period]):
        e = np.asarray(f, np.float64) - actual
        out.append((np.abs(e).mean(), np.sqrt((e * e).mean())))
    return out, fc


t0 = time.time()
for e in range(1, epochs + 1):
    total, batches = 0.0, 0
    for xb, yb in dl:
        opt.zero_grad()
        loss = mse(net(xb), yb)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 1.0)
        opt.step()
        total, batches = total + loss.item(), batches + 1
    if e % 10 == 0 or e == epochs:
        (m, _, _), _ = metrics(parts[1])
        print("epoch %d: loss %.5f, validation MAE %.4g" % (e, total / batches, m[0]))
secs = time.time() - t0
for name, idx in (("validation", parts[1]), ("test", parts[2])):
    (m, pe, sn), _ = metrics(idx)
    print("%s MAE %.4g RMSE %.4g | persistence MAE %.4g RMSE %.4g | seasonal-naive(%d) MAE %.4g RMSE %.4g"
          % (name, m[0], m[1], pe[0], pe[1], period, sn[0], sn[1]))
print("training: %.1f s" % secs)
