# Runs build/examples/forecast and tests/ref_forecast.py (PyTorch) for the
# same seeds on every documented series and model, one thread each, and
# prints the README's table (not run by the tests):
#   make examples && /usr/bin/python3 tests/compare_forecast.py [--seeds 0 1 2]
#       [--series co2 sunspots bikesharing] [--models gru lstm tcn]
import argparse
import re
import statistics
import subprocess
import sys

p = argparse.ArgumentParser()
p.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
p.add_argument("--series", nargs="+", default=["bikesharing", "co2", "sunspots"])
p.add_argument("--models", nargs="+", default=["gru", "lstm", "tcn"])
p.add_argument("--build", default="build")
a = p.parse_args()

LINE = re.compile(r"^test MAE (\S+) RMSE (\S+) \| persistence MAE (\S+) RMSE (\S+) \| seasonal-naive\((\d+)\) MAE (\S+) RMSE (\S+)$", re.M)


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    m = LINE.search(out)
    secs = float(re.search(r"^training: (\S+) s$", out, re.M).group(1))
    return [float(v) for v in m.groups()], secs


print("| series | model | libnn test MAE (RMSE), seeds %s | mean | PyTorch test MAE (RMSE) | mean | libnn / PyTorch "
      "| persistence MAE (RMSE) | seasonal-naive MAE (RMSE) | s per run libnn / PyTorch |" % ", ".join(map(str, a.seeds)))
print("|---|---|---|---|---|---|---|---|---|---|")
for s in a.series:
    for model in a.models:
        res = {}
        for who, base in (("libnn", [a.build + "/examples/forecast", "--threads", "1"]),
                          ("torch", [sys.executable, "tests/ref_forecast.py", "--threads", "1"])):
            res[who] = [run(base + ["--series", s, "--model", model, "--seed", str(seed)]) for seed in a.seeds]
        mean = {w: statistics.mean(r[0][0] for r in res[w]) for w in res}
        secs = {w: statistics.mean(r[1] for r in res[w]) for w in res}
        v = res["libnn"][0][0]
        cell = lambda w: ", ".join("%.4g (%.4g)" % (r[0][0], r[0][1]) for r in res[w])
        print("| %s | %s | %s | **%.4g** | %s | **%.4g** | %+.1f%% | %.4g (%.4g) | %.4g (%.4g), period %d | %.1f / %.1f |"
              % (s, model, cell("libnn"), mean["libnn"], cell("torch"), mean["torch"],
                 100 * (mean["libnn"] / mean["torch"] - 1), v[2], v[3], v[5], v[6], v[4], secs["libnn"], secs["torch"]),
              flush=True)
