#!/usr/bin/python3
"""Runs the cases of build/bench beside PyTorch (and OpenBLAS for sgemm) on
this machine and prints the ratios from the same run.

    /usr/bin/python3 tests/bench/compare.py [--rounds R] [--only NAME] [--threads T]

Each round runs every case once in each program, rotating which program
goes first; a program's sample is the median of its timed repetitions,
the table shows the median over rounds. The machine may be shared and
noisy: alternating spreads the noise over all programs, but quote the
ratios, not the absolute numbers, and prefer a quiet moment. Programs are
separated by a pause (--gap, 0.5 s), so that none measures while another's
threads may still be spinning down (the torch process stays alive between
its turns). A program that starts on an idle machine must cope with it:
that is how our thread pool's slow start after idling was found.

Needs: build/bench (made here with `make bench`), PyTorch for the torch
column, libopenblas-dev for the OpenBLAS column (a tiny C program built
here into build/compare/, never part of the library). Missing ones are
left out."""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(ROOT, "build", "compare")

# name as build/bench prints it -> flops per run (0: a step, timed only)
GEMM = {"sgemm 256x256x256": (256, 256, 256),
        "sgemm 1024x1024x1024": (1024, 1024, 1024),
        "sgemm 64x3136x128": (64, 3136, 128)}
CASES = [
    ("sgemm 256x256x256", 2 * 256 ** 3),
    ("sgemm 1024x1024x1024", 2 * 1024 ** 3),
    ("sgemm 64x3136x128", 2 * 64 * 3136 * 128),
    ("linear 1024 fwd+bwd", 3 * 2 * 1024 ** 3),
    ("conv 32->64 fwd+bwd", 3 * 2 * 64 * 64 * 32 * 9 * 16 * 16),
    ("conv1d 32->64 k3 d2 L256 b64 fwd+bwd", 3 * 2 * 64 * 64 * 32 * 3 * 256),
    ("batchnorm2d 64x64x16x16 fwd+bwd", 0),
    ("lstm 32x128 seq48 b64 fwd+bwd", 0),
    ("gru 32x128 seq48 b64 fwd+bwd", 0),
    ("cnn step", 0),
    ("resnet step", 0),
    ("simplenet step", 0),
]

OPENBLAS_C = r"""
/* sgemm through OpenBLAS, timed like build/bench: M N K threads reps */
#include <cblas.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
void openblas_set_num_threads(int);
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + 1e-9 * t.tv_nsec; }
static int cmp(const void *a, const void *b) { double x = *(const double *)a, y = *(const double *)b; return (x > y) - (x < y); }
int main(int argc, char **argv) {
    if (argc != 6) return 2;
    int M = atoi(argv[1]), N = atoi(argv[2]), K = atoi(argv[3]), reps = atoi(argv[5]);
    openblas_set_num_threads(atoi(argv[4]));
    float *A = malloc(4L * M * K), *B = malloc(4L * K * N), *C = malloc(4L * M * N);
    if (!A || !B || !C || reps < 1 || reps > 64) return 1;
    for (long i = 0; i < (long)M * K; i++) A[i] = (float)(i % 97) / 97.0f - 0.5f;
    for (long i = 0; i < (long)K * N; i++) B[i] = (float)(i % 89) / 89.0f - 0.5f;
#define RUN cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, M, N, K, 1, A, K, B, N, 0, C, N)
    double t0 = now(); RUN; double once = now() - t0;
    int inner = once > 0.02 ? 1 : (int)(0.02 / (once > 1e-9 ? once : 1e-9)) + 1;
    double s[64];
    for (int r = 0; r < reps; r++) { t0 = now(); for (int i = 0; i < inner; i++) RUN; s[r] = (now() - t0) / inner; }
    qsort(s, reps, sizeof *s, cmp);
    printf("%.9f\n", s[reps / 2]);
    return 0;
}
"""

TORCH_SERVER = r"""
import ctypes, sys, time, statistics, torch
import torch.nn as nn
torch.manual_seed(0)

# torch.set_num_threads does not reach the OpenBLAS that Debian's torch
# calls for mm/linear: set that library's thread count too.
_blas = None
for _line in open("/proc/self/maps"):
    if "openblas" in _line and _line.rstrip().endswith(".so") or ".so." in _line and "openblas" in _line:
        _blas = ctypes.CDLL(_line.split()[-1])
        break

def set_threads(n):
    torch.set_num_threads(n)
    if _blas is not None:
        _blas.openblas_set_num_threads(n)

def timed(run, reps):
    run()
    t0 = time.perf_counter(); run(); once = time.perf_counter() - t0
    inner = 1 if once > 0.02 else int(0.02 / max(once, 1e-9)) + 1
    s = []
    for _ in range(reps):
        t0 = time.perf_counter()
        for _ in range(inner):
            run()
        s.append((time.perf_counter() - t0) / inner)
    return statistics.median(s)

def make(name):
    if name.startswith("sgemm"):
        M, N, K = map(int, name.split()[1].split("x"))
        a, b, c = torch.rand(M, K) - 0.5, torch.rand(K, N) - 0.5, torch.empty(M, N)
        return lambda: torch.mm(a, b, out=c)
    if name == "linear 1024 fwd+bwd":
        lin = nn.Linear(1024, 1024)
        x = torch.randn(1024, 1024, requires_grad=True)
        g = torch.randn(1024, 1024)
        def run():
            lin(x).backward(g)
        return run
    if name == "conv 32->64 fwd+bwd":
        conv = nn.Conv2d(32, 64, 3, 1, 1)
        x = torch.randn(64, 32, 16, 16, requires_grad=True)
        g = torch.randn(64, 64, 16, 16)
        def run():
            conv(x).backward(g)
        return run
    if name == "conv1d 32->64 k3 d2 L256 b64 fwd+bwd":
        conv = nn.Conv1d(32, 64, 3, padding=2, dilation=2)
        x = torch.randn(64, 32, 256, requires_grad=True)
        g = torch.randn(64, 64, 256)
        def run():
            conv(x).backward(g)
        return run
    if name == "batchnorm2d 64x64x16x16 fwd+bwd":
        bn = nn.BatchNorm2d(64)
        x = torch.randn(64, 64, 16, 16, requires_grad=True)
        g = torch.randn(64, 64, 16, 16)
        def run():
            bn(x).backward(g)
        return run
    if name in ("lstm 32x128 seq48 b64 fwd+bwd", "gru 32x128 seq48 b64 fwd+bwd"):
        rnn = (nn.LSTM if name.startswith("lstm") else nn.GRU)(32, 128)
        x = torch.randn(48, 64, 32, requires_grad=True)
        g = torch.randn(48, 64, 128)
        def run():
            rnn(x)[0].backward(g)
        return run
    if name == "cnn step":
        net = nn.Sequential(nn.Conv2d(1, 32, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Conv2d(32, 64, 3, 1, 1), nn.ReLU(), nn.MaxPool2d(2),
                            nn.Flatten(), nn.Linear(3136, 128), nn.ReLU(), nn.Linear(128, 10))
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        ce = nn.CrossEntropyLoss()
        x = torch.rand(64, 1, 28, 28)
        y = torch.randint(0, 10, (64,))
        def run():
            opt.zero_grad()
            ce(net(x), y).backward()
            opt.step()
        return run
    if name == "resnet step":
        import importlib.util
        spec = importlib.util.spec_from_file_location(
            "ref_resnet", __import__("os").path.join(__import__("os").environ["NN_ROOT"], "tests",
                                                     "ref_resnet_fashion_mnist.py"))
        ref = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(ref)
        net = ref.ResNet()
        opt = torch.optim.AdamW(net.parameters(), lr=2e-3, weight_decay=5e-4)
        ce = nn.CrossEntropyLoss()
        x = torch.randn(64, 1, 28, 28)
        y = torch.randint(0, 10, (64,))
        def run():
            opt.zero_grad()
            ce(net(x), y).backward()
            opt.step()
        return run
    if name == "simplenet step":
        net = nn.Sequential(nn.Linear(2, 5), nn.ReLU(), nn.Linear(5, 1))
        opt = torch.optim.SGD(net.parameters(), lr=0.01)
        mse = nn.MSELoss()
        x = torch.rand(64, 2)
        y = torch.rand(64, 1)
        def run():
            opt.zero_grad()
            mse(net(x), y).backward()
            opt.step()
        return run
    return None

cache = {}
for line in sys.stdin:
    name, threads, reps = line.rstrip("\n").rsplit("\t", 2)
    set_threads(int(threads))
    if name not in cache:
        cache[name] = make(name)
    run = cache[name]
    print("nan" if run is None else "%.9f" % timed(run, int(reps)), flush=True)
"""


def build_ours():
    subprocess.run(["make", "-s", "-C", ROOT, "bench"], check=True, stdout=subprocess.DEVNULL)
    return os.path.join(ROOT, "build", "bench")


def build_openblas():
    inc = "/usr/include/x86_64-linux-gnu/openblas-pthread"
    os.makedirs(OUT, exist_ok=True)
    src, exe = os.path.join(OUT, "openblas_sgemm.c"), os.path.join(OUT, "openblas_sgemm")
    with open(src, "w") as f:
        f.write(OPENBLAS_C)
    cc = os.environ.get("CC", "cc")
    r = subprocess.run([cc, "-O2", "-I", inc, src, "-o", exe, "-lopenblas"],
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return exe if r.returncode == 0 else None


def ours_cases(bench):
    out = subprocess.run([bench, "--list"], capture_output=True, text=True)
    return set(out.stdout.split("\n")) if out.returncode == 0 else set(GEMM)


def run_ours(bench, name, threads, reps):
    out = subprocess.run([bench, "--raw", "--only", name, "--exact", "--threads", str(threads),
                          "--reps", str(reps)], capture_output=True, text=True)
    for line in out.stdout.splitlines():
        f = line.split("\t")
        if f[0] == name and int(f[1]) == threads:
            return float(f[2])
    return float("nan")


def run_openblas(exe, name, threads, reps):
    M, N, K = GEMM[name]
    out = subprocess.run([exe, str(M), str(N), str(K), str(threads), str(reps)],
                         capture_output=True, text=True)
    return float(out.stdout) if out.returncode == 0 else float("nan")


class Torch:
    def __init__(self, python):
        env = dict(os.environ, OMP_NUM_THREADS="2", MKL_NUM_THREADS="2", NN_ROOT=ROOT)
        self.p = subprocess.Popen([python, "-c", TORCH_SERVER], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True, env=env)

    def run(self, name, threads, reps):
        self.p.stdin.write("%s\t%d\t%d\n" % (name, threads, reps))
        self.p.stdin.flush()
        return float(self.p.stdout.readline())

    def close(self):
        self.p.stdin.close()
        self.p.wait()


def torch_python():
    py = "/usr/bin/python3"
    r = subprocess.run([py, "-c", "import torch"], capture_output=True)
    return py if r.returncode == 0 else None


def fmt(name, flops, s):
    if s != s:
        return "-"
    if flops:
        return "%.1f GF/s" % (flops / s * 1e-9)
    return "%.1f us" % (s * 1e6) if s < 1e-3 else "%.2f ms" % (s * 1e3)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--only", default=None)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--gap", type=float, default=0.5, help="seconds of pause between programs")
    ap.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    a = ap.parse_args()

    load_before = open("/proc/loadavg").read().split()[0]
    bench = build_ours()
    have = ours_cases(bench)
    blas = build_openblas()
    py = torch_python()
    torch = Torch(py) if py else None
    cases = [(n, f) for n, f in CASES if n in have and (not a.only or a.only in n)]
    threads = [a.threads] if a.threads else [1, 2]
    samples = {}
    for r in range(a.rounds):
        for name, _ in cases:
            for t in threads:
                progs = [("libnn", lambda: run_ours(bench, name, t, a.reps))]
                if torch:
                    progs.append(("torch", lambda: torch.run(name, t, a.reps)))
                if blas and name in GEMM:
                    progs.append(("openblas", lambda: run_openblas(blas, name, t, a.reps)))
                k = r % len(progs)
                for prog, fn in progs[k:] + progs[:k]:  # rotate who goes first
                    time.sleep(a.gap)
                    samples.setdefault((name, t, prog), []).append(fn())
        print("round %d/%d done" % (r + 1, a.rounds), file=sys.stderr)
    if torch:
        torch.close()

    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model = next((l.split(":", 1)[1].strip() for l in lscpu.splitlines()
                  if l.startswith("Model name")), "?")
    print("machine: %s, %d online cores; load average before: %s, after: %s" %
          (model, os.cpu_count(), load_before, open("/proc/loadavg").read().split()[0]))
    print("medians over %d rounds (each the median of %d timed repetitions); "
          "ratio = other's time / libnn's time (> 1: libnn faster)" % (a.rounds, a.reps))
    head = ("case", "thr", "libnn", "torch", "openblas", "vs torch", "vs blas", "spread", "torch spread")
    rows = []
    for name, flops in cases:
        for t in threads:
            med = {p: statistics.median(samples[(name, t, p)])
                   for p in ("libnn", "torch", "openblas") if (name, t, p) in samples}
            def spread_of(prog):
                v = samples.get((name, t, prog), [])
                return (max(v) - min(v)) / statistics.median(v) if len(v) > 1 else float("nan")
            spread, tspread = spread_of("libnn"), spread_of("torch")
            rt = med["torch"] / med["libnn"] if "torch" in med else float("nan")
            rb = med["openblas"] / med["libnn"] if "openblas" in med else float("nan")
            rows.append((name, str(t), fmt(name, flops, med["libnn"]),
                         fmt(name, flops, med.get("torch", float("nan"))),
                         fmt(name, flops, med.get("openblas", float("nan"))),
                         "-" if rt != rt else "%.2fx" % rt, "-" if rb != rb else "%.2fx" % rb,
                         "%.0f%%" % (100 * spread), "-" if tspread != tspread else "%.0f%%" % (100 * tspread)))
    if a.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "|".join("---" for _ in head) + "|")
        for r in rows:
            print("| " + " | ".join(r) + " |")
    else:
        print("%-22s %3s %12s %12s %12s %8s %8s %7s %7s" % head)
        for r in rows:
            print("%-22s %3s %12s %12s %12s %8s %8s %7s %7s" % r)
    print("spread: (slowest - fastest) / median of the per-round samples (libnn's; torch's)")


if __name__ == "__main__":
    main()
