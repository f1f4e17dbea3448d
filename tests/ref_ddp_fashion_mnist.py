# The data-parallel twin of examples/mpi/ddp_fashion_mnist.c (--model cnn)
# in PyTorch 1.13: DistributedDataParallel over gloo, N processes on this
# machine, one thread each, DistributedSampler(seed=--seed), batch 64 / N
# per process, Adam(1e-3), cross-entropy; the README's DDP comparison (not
# run by the tests):
#   /usr/bin/python3 tests/ref_ddp_fashion_mnist.py [--nproc 2] [--epochs 1] [--limit N]
import argparse, gzip, os, struct, time
import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

p = argparse.ArgumentParser()
p.add_argument("--data", default="/usr/share/datasets/fashion-mnist")
p.add_argument("--epochs", type=int, default=1)
p.add_argument("--nproc", type=int, default=2)
p.add_argument("--threads", type=int, default=1)
p.add_argument("--seed", type=int, default=0)
p.add_argument("--limit", type=int, default=0)
p.add_argument("--port", default="29517")
a = p.parse_args()


def idx(name):
    path = os.path.join(a.data, name)
    op = gzip.open if os.path.exists(path + ".gz") else open
    with op(path + ".gz" if op is gzip.open else path, "rb") as f:
        raw = f.read()
    ndim = raw[3]
    dims = struct.unpack(">" + "I" * ndim, raw[4:4 + 4 * ndim])
    return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def load(train):
    pre = "train" if train else "t10k"
    x = torch.from_numpy(idx(pre + "-images-idx3-ubyte").astype(np.float32) / 255.0).unsqueeze(1)
    x = (x - 0.5) / 0.5
    y = torch.from_numpy(idx(pre + "-labels-idx1-ubyte").astype(np.int64))
    if a.limit:
        x, y = x[:a.limit], y[:a.limit]
    return torch.utils.data.TensorDataset(x, y)


def worker(rank, world):
    torch.set_num_threads(a.threads)
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = a.port
    dist.init_process_group("gloo", rank=rank, world_size=world)
    torch.manual_seed(a.seed)
    train, test = load(True), load(False)
    net = nn.Sequential(nn.Conv2d(1, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
                        nn.Conv2d(32, 64, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                        nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
    ddp = nn.parallel.DistributedDataParallel(net)
    opt = torch.optim.Adam(ddp.parameters(), lr=1e-3)
    ce = nn.CrossEntropyLoss()
    sampler = torch.utils.data.distributed.DistributedSampler(train, num_replicas=world, rank=rank,
                                                              seed=a.seed)
    tl = torch.utils.data.DataLoader(train, batch_size=64 // world, sampler=sampler)
    el = torch.utils.data.DataLoader(test, batch_size=1000)
    for epoch in range(1, a.epochs + 1):
        sampler.set_epoch(epoch - 1)
        dist.barrier()
        t0 = time.time()
        ddp.train()
        for x, y in tl:
            opt.zero_grad()
            loss = ce(ddp(x), y)
            loss.backward()
            opt.step()
        dist.barrier()
        t1 = time.time()
        net.eval()
        correct = 0
        with torch.no_grad():
            for x, y in el:
                correct += (net(x).argmax(1) == y).sum().item()
        if rank == 0:
            print("epoch %d: %.1f s training (%.0f images/s), %.1f s evaluation"
                  % (epoch, t1 - t0, len(train) / (t1 - t0), time.time() - t1))
            print("test accuracy: %.4f" % (correct / len(test)), flush=True)
    dist.destroy_process_group()


if __name__ == "__main__":
    mp.spawn(worker, args=(a.nproc,), nprocs=a.nproc)
