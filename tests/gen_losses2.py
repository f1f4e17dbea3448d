#!/usr/bin/python3
"""Writes tests/fixtures/losses2.h from PyTorch 1.13 (run with /usr/bin/python3
from the repository root): NLLLoss and CrossEntropyLoss with every option
(weight, ignore_index, reduction, label_smoothing) and their combinations,
for [C], [N, C] and [N, C, d1, d2] inputs, including torch's NaN cases (all
targets ignored, zero weights). For each case: torch's output, the gradient
of nn_loss_forward's value (the output, or its sum for reduction 'none'),
and the gradient for a given upstream gradient (output.backward(upstream))."""
import math

import torch
import torch.nn.functional as F

torch.manual_seed(4321)


def cfloat(v):
    if math.isnan(v):
        return "NAN"
    if math.isinf(v):
        return "INFINITY" if v > 0 else "-INFINITY"
    s = "%.9g" % v
    if not any(ch in s for ch in ".e"):
        s += ".0"
    return s + "f"


def carr(name, t):
    vals = t.detach().reshape(-1).tolist()
    body = ", ".join(cfloat(v) for v in vals) or "0"
    return "static const float %s[%d] = {%s};\n" % (name, max(len(vals), 1), body)


REDUCTION = {"mean": "NN_REDUCTION_MEAN", "sum": "NN_REDUCTION_SUM", "none": "NN_REDUCTION_NONE"}


def targets(shape, classes, ignore=None, ignore_index=-100, all_ignored=False):
    t = torch.randint(0, classes, shape)
    if ignore is not None:
        flat = t.view(-1)
        for k in ignore:
            flat[k] = ignore_index
    if all_ignored:
        t.fill_(ignore_index)
    return t


W7 = torch.tensor([0.5, 2.0, 1.0, 0.25, 3.0, 1.5, 0.75])
W4 = torch.tensor([1.5, 0.5, 2.0, 1.0])

# (name, kind, pred shape, target kwargs, options); pred is randn * 2 (NLL:
# log_softmax of it over the class dimension)
CASES = [
    ("nll_default", "nll", (5, 7), {}, {}),
    ("nll_weight", "nll", (5, 7), {}, dict(weight=W7)),
    ("nll_ignore", "nll", (6, 7), dict(ignore=[1, 4]), {}),
    ("nll_ignore_class", "nll", (6, 7), dict(ignore=[0, 3], ignore_index=2), dict(ignore_index=2)),
    ("nll_sum", "nll", (5, 7), {}, dict(reduction="sum")),
    ("nll_none", "nll", (5, 7), {}, dict(reduction="none")),
    ("nll_weight_ignore", "nll", (6, 7), dict(ignore=[2]), dict(weight=W7)),
    ("nll_weight_ignore_sum", "nll", (6, 7), dict(ignore=[2, 5]), dict(weight=W7, reduction="sum")),
    ("nll_weight_ignore_none", "nll", (6, 7), dict(ignore=[0]), dict(weight=W7, reduction="none")),
    ("nll_kdim", "nll", (2, 4, 3, 2), dict(ignore=[1, 7]), dict(weight=W4)),
    ("nll_kdim_none", "nll", (2, 4, 3), dict(ignore=[4], ignore_index=-1), dict(ignore_index=-1, reduction="none")),
    ("nll_single", "nll", (7,), {}, dict(weight=W7)),
    ("nll_all_ignored", "nll", (3, 7), dict(all_ignored=True), dict(weight=W7)),
    ("nll_all_ignored_sum", "nll", (3, 7), dict(all_ignored=True), dict(reduction="sum")),
    ("ce_default", "ce", (5, 7), {}, {}),
    ("ce_weight", "ce", (5, 7), {}, dict(weight=W7)),
    ("ce_ignore", "ce", (6, 7), dict(ignore=[0, 5]), {}),
    ("ce_ignore_class", "ce", (6, 7), dict(ignore=[3], ignore_index=4), dict(ignore_index=4)),
    ("ce_sum", "ce", (5, 7), {}, dict(reduction="sum")),
    ("ce_none", "ce", (5, 7), {}, dict(reduction="none")),
    ("ce_weight_ignore", "ce", (6, 7), dict(ignore=[1]), dict(weight=W7)),
    ("ce_weight_none", "ce", (5, 7), {}, dict(weight=W7, reduction="none")),
    ("ce_ls", "ce", (5, 7), {}, dict(label_smoothing=0.1)),
    ("ce_ls_sum", "ce", (5, 7), {}, dict(label_smoothing=0.2, reduction="sum")),
    ("ce_ls_none", "ce", (5, 7), {}, dict(label_smoothing=0.3, reduction="none")),
    ("ce_ls_ignore", "ce", (6, 7), dict(ignore=[2, 3]), dict(label_smoothing=0.15)),
    ("ce_ls_weight", "ce", (5, 7), {}, dict(weight=W7, label_smoothing=0.1)),
    ("ce_ls_weight_ignore", "ce", (6, 7), dict(ignore=[0, 4]), dict(weight=W7, label_smoothing=0.25)),
    ("ce_ls_weight_ignore_sum", "ce", (6, 7), dict(ignore=[5]),
     dict(weight=W7, label_smoothing=0.25, reduction="sum")),
    ("ce_ls_weight_ignore_none", "ce", (6, 7), dict(ignore=[1, 2], ignore_index=3),
     dict(weight=W7, label_smoothing=0.4, ignore_index=3, reduction="none")),
    ("ce_ls_one", "ce", (5, 7), dict(ignore=[3]), dict(weight=W7, label_smoothing=1.0)),
    ("ce_kdim", "ce", (2, 4, 3, 2), dict(ignore=[0, 9]), dict(weight=W4, label_smoothing=0.2)),
    ("ce_kdim_none", "ce", (3, 4, 5), dict(ignore=[6]), dict(weight=W4, label_smoothing=0.1, reduction="none")),
    ("ce_kdim_sum", "ce", (2, 4, 3), {}, dict(label_smoothing=0.05, reduction="sum")),
    ("ce_single", "ce", (7,), {}, dict(weight=W7, label_smoothing=0.3)),
    ("ce_single_none", "ce", (7,), {}, dict(label_smoothing=0.3, reduction="none")),
    ("ce_all_ignored", "ce", (3, 7), dict(all_ignored=True), dict(weight=W7, label_smoothing=0.2)),
    ("ce_all_ignored_sum", "ce", (3, 7), dict(all_ignored=True), dict(label_smoothing=0.2, reduction="sum")),
    ("ce_zero_weight", "ce", (4, 4), dict(ignore=[1]),
     dict(weight=torch.tensor([0.0, 0.0, 0.0, 0.0]), label_smoothing=0.1)),
    ("ce_some_zero_weight", "ce", (5, 4), {}, dict(weight=torch.tensor([0.0, 1.0, 0.0, 2.0]), label_smoothing=0.1)),
]


def main():
    out = ["/* Generated by tests/gen_losses2.py from PyTorch %s; do not edit. */\n" % torch.__version__,
           "#ifndef FIXTURES_LOSSES2_H\n#define FIXTURES_LOSSES2_H\n\n#include <math.h>\n\n#include \"nn.h\"\n\n",
           "typedef struct {\n    const char *name;\n    bool nll; /* else cross-entropy */\n"
           "    int ndim;\n    int64_t shape[4];\n    int tdim;\n    int64_t tshape[3];\n"
           "    const float *pred, *target;\n    const float *weight; /* NULL: none */\n"
           "    int64_t weight_count, ignore_index;\n    nn_reduction reduction;\n    float label_smoothing;\n"
           "    const float *values; /* torch's output */\n    int64_t n_values;\n"
           "    float value; /* nn_loss_forward's: the output, or its sum for 'none' */\n"
           "    const float *grad; /* d value / d pred */\n"
           "    const float *upstream, *grad_ex; /* output.backward(upstream) */\n} loss2_case;\n\n"]
    table = []
    for name, kind, shape, tkw, opts in CASES:
        classes = shape[0] if len(shape) == 1 else shape[1]
        tshape = () if len(shape) == 1 else (shape[0],) + tuple(shape[2:])
        t = targets(tshape, classes, **tkw)
        x = torch.randn(*shape) * 2
        if kind == "nll":
            x = torch.log_softmax(x, dim=0 if len(shape) == 1 else 1)
        kw = dict(opts)
        red = kw.pop("reduction", "mean")
        fn = F.nll_loss if kind == "nll" else F.cross_entropy

        def run(up=None):
            p = x.clone().requires_grad_(True)
            v = fn(p, t, reduction=red, **kw)
            if up is None:
                (v.sum() if red == "none" else v).backward()
            else:
                v.backward(up)
            return v.detach(), p.grad.detach()

        values, grad = run()
        upstream = torch.randn(values.shape) if red == "none" else torch.tensor(0.625)
        _, grad_ex = run(upstream)
        value = values.sum() if red == "none" else values
        out.append(carr(name + "_pred", x))
        out.append(carr(name + "_target", t.float()))
        w = kw.get("weight")
        if w is not None:
            out.append(carr(name + "_weight", w))
        out.append(carr(name + "_values", values))
        out.append(carr(name + "_grad", grad))
        out.append(carr(name + "_upstream", upstream))
        out.append(carr(name + "_grad_ex", grad_ex))
        out.append("\n")
        table.append(
            '    {"%s", %s, %d, {%s}, %d, {%s}, %s_pred, %s_target, %s, %d, %d, %s, %s,\n'
            '     %s_values, %d, %s, %s_grad, %s_upstream, %s_grad_ex},\n'
            % (name, "true" if kind == "nll" else "false", len(shape), ", ".join(map(str, shape)) or "0",
               len(tshape), ", ".join(map(str, tshape)) or "0", name, name,
               name + "_weight" if w is not None else "NULL", 0 if w is None else w.numel(),
               kw.get("ignore_index", -100), REDUCTION[red], cfloat(kw.get("label_smoothing", 0.0)),
               name, values.numel(), cfloat(value.item()), name, name, name))
    out.append("static const loss2_case loss2_cases[] = {\n" + "".join(table) + "};\n\n#endif\n")
    with open("tests/fixtures/losses2.h", "w") as f:
        f.write("".join(out))


main()
