#!/usr/bin/env python3
"""Checks `dmleval loss` against PyTorch autograd, and times a PyTorch training epoch per loss.

    bash scripts/setup-reference-env.sh                  # creates .venv-reference (torch, numpy)
    swift build --product dmleval                         # .build/debug/dmleval
    .venv-reference/bin/python scripts/torch-losses.py    # the comparison table; exit 1 on a failure
    .venv-reference/bin/python scripts/torch-losses.py --time-epoch   # also the epoch timings

Options: --dmleval PATH (default .build/debug/dmleval), --only LOSS[,LOSS] (restrict both parts),
--keep DIR (write the cases' inputs and dmleval's outputs there instead of a temp dir that is
deleted), --verbose (print each dmleval command), --skip-check (with --time-epoch: timings only),
--time-dtype float32|float64 (default float32), --time-runs R (default 3), --threads T (default 2).
Run by hand; not part of CI.

1. Check. The six losses of the MetricLearning module (proxy-nca, proxy-anchor, soft-triple,
   mpa, mpa-dw, mpa-ap) are written out below in PyTorch, float64, from the formulas of Saeki,
   Kawahara, Aman 2023 (Sec. 3, eq. 1-18) and the doc comments of
   Sources/MetricLearning/*.swift; embeddings and proxies go through
   torch.nn.functional.normalize inside the loss, so autograd differentiates through the
   normalisation, as dmleval does. For every case (seeded numpy inputs: N about 20, d = 16,
   C = 5, K = 1 and K = 3 or 10 where the loss allows, batches with one class, with several,
   and with a subset of the classes; rows of random lengths), the inputs are written as .npy
   (embeddings and proxies float32, labels int64), `dmleval loss --loss NAME EMB LABELS
   --proxy-file P --json --grad-out DIR` is run with the case's flags, and its loss and
   DIR/grad_embeddings.npy, DIR/grad_proxies.npy are compared with torch on exactly the same
   float32 values widened to float64. Reported per quantity: max |dmleval - torch| and the
   relative error max |dmleval - torch| / max |torch| (over the whole array, so that tiny
   entries do not dominate; when torch's array is all zero, the absolute difference). A case
   passes when the loss's relative error is below 1e-6 and both gradients' below 1e-5.

2. --time-epoch. One training epoch per loss in PyTorch on CPU (torch.set_num_threads(T)):
   N = 6,000 fixed random features of D = 512, a linear head 512 -> 512 (trainable), C = 100
   classes (60 samples each), K = 10 proxies per class (K = 1 for proxy-anchor and proxy-nca),
   batches of 180 from a seeded shuffle (34 batches, the last one of 60), AdamW with lr 1e-4
   for the head and 1e-2 for the proxies, and for each batch zero_grad, forward (head, loss),
   backward, step. The same loss functions as the check, in --time-dtype. One untimed warm-up
   epoch, then --time-runs timed epochs; prints the median and every run, seconds per epoch.
   This is the reference the Swift trainer is to be timed against.
"""
import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

import numpy as np
import torch
import torch.nn.functional as F

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
LOSSES = ("proxy-nca", "proxy-anchor", "soft-triple", "mpa", "mpa-dw", "mpa-ap")
VALUE_TOLERANCE = 1e-6
GRADIENT_TOLERANCE = 1e-5
REGULARIZER_EPS = 1e-5

# Defaults, as in the doc comments (and the CLI's defaults).
DEFAULTS = {
    "proxy-nca": {"K": 1, "scale": 1.0, "gamma": 0.1},
    "proxy-anchor": {"K": 1, "alpha": 32.0, "delta": 0.1},
    "soft-triple": {"K": 10, "lambda": 20.0, "gamma": 0.1, "tau": 0.2, "delta": 0.01},
    "mpa": {"K": 10, "alpha": 32.0, "delta": 0.1, "gamma": 0.1, "tau": 0.2},
    "mpa-dw": {"K": 10, "alpha": 32.0, "delta": 0.1, "gamma": 0.1, "tau": 0.2},
    "mpa-ap": {"K": 10, "alpha": 32.0, "delta": 0.1, "gamma": 0.1, "tau": 0.2},
}


# ---------------------------------------------------------------------------------------------
# The losses. Every function takes the unnormalised embeddings x (N x d), the labels (N, int64),
# the unnormalised proxies w (C K x d, row c K + k = proxy k of class c), and the hyperparameters,
# and returns the scalar loss.
# ---------------------------------------------------------------------------------------------

def class_similarity(x_unit, w_unit, K, gamma):
    """Eq. (1): S(x_i, c) = sum_k softmax_k(x_i.w_ck / gamma) x_i.w_ck, N x C. K = 1: the cosine."""
    n = x_unit.shape[0]
    cosines = (x_unit @ w_unit.T).reshape(n, -1, K)          # N x C x K
    if K == 1:
        return cosines[:, :, 0]
    weights = torch.softmax(cosines / gamma, dim=2)
    return (weights * cosines).sum(dim=2)


def proxy_regularizer(w_unit, K):
    """Eq. (3) with eps under the root: sum_c sum_{t<s} sqrt(2 - 2 w_cs.w_ct + eps) / (C K (K-1))."""
    if K == 1:
        return w_unit.new_zeros(())
    C = w_unit.shape[0] // K
    per_class = w_unit.reshape(C, K, -1)
    gram = per_class @ per_class.transpose(1, 2)             # C x K x K
    t, s = torch.triu_indices(K, K, offset=1)
    distances = torch.sqrt(2 - 2 * gram[:, t, s] + REGULARIZER_EPS)
    return distances.sum() / (C * K * (K - 1))


def log_one_plus_sum_exp(arguments, mask, dim):
    """log(1 + sum over the masked entries of exp(arguments)) along dim; 0 where none is masked."""
    masked = arguments.masked_fill(~mask, float("-inf"))
    zero = torch.zeros_like(masked.select(dim, 0)).unsqueeze(dim)
    return torch.logsumexp(torch.cat([zero, masked], dim=dim), dim=dim)


def normalised(x, w):
    return F.normalize(x, p=2, dim=1), F.normalize(w, p=2, dim=1)


def proxy_nca_loss(x, labels, w, K=1, scale=1.0, gamma=0.1):
    """ProxyNCA, pytorch-metric-learning's form, with D(z, c) = 2 - 2 S(z, c) (S of eq. 1):
    mean_i -log(exp(-s D(z_i, c_i)) / sum_c exp(-s D(z_i, c)))."""
    z, p = normalised(x, w)
    S = class_similarity(z, p, K, gamma)
    distance = 2 - 2 * S
    return F.cross_entropy(-scale * distance, labels, reduction="mean")


def proxy_anchor_loss(x, labels, w, alpha=32.0, delta=0.1):
    """ProxyAnchor (Kim et al. 2020), K = 1: positives averaged over the classes present in the
    batch, negatives over all C classes."""
    z, p = normalised(x, w)
    S = z @ p.T                                              # N x C cosines
    C = p.shape[0]
    positive = F.one_hot(labels, C).bool()                   # N x C, x in X_c+
    positive_term = log_one_plus_sum_exp(-alpha * (S - delta), positive, dim=0)   # per class
    negative_term = log_one_plus_sum_exp(alpha * (S + delta), ~positive, dim=0)
    classes_with_positives = positive.any(dim=0).sum()
    return positive_term.sum() / classes_with_positives + negative_term.sum() / C


def soft_triple_loss(x, labels, w, K=10, lam=20.0, gamma=0.1, tau=0.2, delta=0.01):
    """SoftTriple, eq. (2)-(4), mean over the batch: cross entropy of lambda (S - delta [c = c_i])."""
    z, p = normalised(x, w)
    S = class_similarity(z, p, K, gamma)
    C = S.shape[1]
    logits = lam * (S - delta * F.one_hot(labels, C).to(S.dtype))
    return F.cross_entropy(logits, labels, reduction="mean") + tau * proxy_regularizer(p, K)


def mpa_loss(x, labels, w, K=10, alpha=32.0, delta=0.1, gamma=0.1, tau=0.2):
    """MPA, eq. (6)-(7). C+ = classes with a positive in the batch, C- = classes with a negative
    in the batch; an empty C- contributes 0."""
    z, p = normalised(x, w)
    S = class_similarity(z, p, K, gamma)
    C = S.shape[1]
    positive = F.one_hot(labels, C).bool()
    negative = ~positive
    positive_term = log_one_plus_sum_exp(-alpha * (S - delta), positive, dim=0)
    negative_term = log_one_plus_sum_exp(alpha * (S + delta), negative, dim=0)
    n_pos = positive.any(dim=0).sum()
    n_neg = negative.any(dim=0).sum()
    loss = positive_term.sum() / n_pos
    if n_neg > 0:
        loss = loss + negative_term.sum() / n_neg
    return loss + tau * proxy_regularizer(p, K)


def mpa_dw_loss(x, labels, w, K=10, alpha=32.0, delta=0.1, gamma=0.1, tau=0.2):
    """MPA-DW, eq. (12)-(13): mean_i softplus(-alpha (S_ic_i - delta)) + log(1 + sum_{c != c_i}
    exp(alpha (S_ic + delta))), the negative sum over all C classes."""
    z, p = normalised(x, w)
    S = class_similarity(z, p, K, gamma)
    C = S.shape[1]
    positive = F.one_hot(labels, C).bool()
    own = S.gather(1, labels[:, None])[:, 0]
    positive_term = F.softplus(-alpha * (own - delta))
    negative_term = log_one_plus_sum_exp(alpha * (S + delta), ~positive, dim=1)
    return (positive_term + negative_term).mean() + tau * proxy_regularizer(p, K)


def mpa_ap_loss(x, labels, w, K=10, alpha=32.0, delta=0.1, gamma=0.1, tau=0.2):
    """MPA-AP, eq. (15)-(17): S' = delta - S for the true class, S + delta otherwise;
    mean_i log(1 + sum_c exp(alpha S'_ic))."""
    z, p = normalised(x, w)
    S = class_similarity(z, p, K, gamma)
    C = S.shape[1]
    positive = F.one_hot(labels, C).bool()
    margin_similarity = torch.where(positive, delta - S, S + delta)
    everything = torch.ones_like(positive)
    return log_one_plus_sum_exp(alpha * margin_similarity, everything, dim=1).mean() \
        + tau * proxy_regularizer(p, K)


def torch_loss(name, x, labels, w, h):
    """The loss `name` with hyperparameters h (keys as in DEFAULTS)."""
    if name == "proxy-nca":
        return proxy_nca_loss(x, labels, w, K=h["K"], scale=h["scale"], gamma=h["gamma"])
    if name == "proxy-anchor":
        assert h["K"] == 1
        return proxy_anchor_loss(x, labels, w, alpha=h["alpha"], delta=h["delta"])
    if name == "soft-triple":
        return soft_triple_loss(x, labels, w, K=h["K"], lam=h["lambda"], gamma=h["gamma"], tau=h["tau"],
                                delta=h["delta"])
    function = {"mpa": mpa_loss, "mpa-dw": mpa_dw_loss, "mpa-ap": mpa_ap_loss}[name]
    return function(x, labels, w, K=h["K"], alpha=h["alpha"], delta=h["delta"], gamma=h["gamma"], tau=h["tau"])


# ---------------------------------------------------------------------------------------------
# The check against dmleval.
# ---------------------------------------------------------------------------------------------

# name -> dmleval flag, for the hyperparameters each loss has.
FLAGS = {"K": "--proxies", "alpha": "--alpha", "delta": "--delta", "gamma": "--gamma", "tau": "--tau",
         "lambda": "--lambda", "scale": "--scale"}


def cases():
    """(loss, case name, N, d, C, batch classes, hyperparameter overrides, seed)."""
    out = []
    seed = 1000
    def add(loss, name, n, c, batch, overrides):
        nonlocal seed
        seed += 1
        out.append((loss, name, n, 16, c, batch, overrides, seed))
    for loss in LOSSES:
        single_proxy = loss == "proxy-anchor"
        k_values = [1] if single_proxy else [1, 3, 10]
        for k in k_values:
            add(loss, f"K={k} several classes", 20, 5, "all", {"K": k})
        for k in ([1] if single_proxy else [1, 3]):
            add(loss, f"K={k} one class", 20, 5, "one", {"K": k})
        add(loss, f"K={1 if single_proxy else 3} classes 0-2 of 5", 21, 5, "subset", {"K": 1 if single_proxy else 3})
        # non-default hyperparameters
        other = {
            "proxy-nca": {"K": 3, "scale": 9.0, "gamma": 0.3},
            "proxy-anchor": {"K": 1, "alpha": 16.0, "delta": 0.2},
            "soft-triple": {"K": 3, "lambda": 10.0, "gamma": 0.5, "tau": 0.5, "delta": 0.1},
        }.get(loss, {"K": 3, "alpha": 16.0, "delta": 0.2, "gamma": 0.5, "tau": 0.5})
        add(loss, "K={K} other hyperparameters".format(**other), 20, 5, "all", other)
        if not single_proxy:
            add(loss, "K=3 C=1 (one class overall)", 12, 1, "one", {"K": 3})
    return out


def make_inputs(rng, n, d, classes, k, batch):
    x = rng.standard_normal((n, d)) * rng.uniform(0.5, 3.0, size=(n, 1))
    w = rng.standard_normal((classes * k, d)) * rng.uniform(0.5, 3.0, size=(classes * k, 1))
    if batch == "one":
        labels = np.full(n, rng.integers(classes), dtype=np.int64)
    elif batch == "subset":
        labels = np.arange(n, dtype=np.int64) % 3
        rng.shuffle(labels)
    else:
        labels = np.arange(n, dtype=np.int64) % classes
        rng.shuffle(labels)
    return x.astype(np.float32), labels.astype(np.int64), w.astype(np.float32)


def difference(ours, reference):
    """(max abs difference, relative = max abs difference / max |reference|)."""
    if ours.shape != reference.shape:
        return math.inf, math.inf
    absolute = float(np.max(np.abs(ours - reference))) if ours.size else 0.0
    scale = float(np.max(np.abs(reference))) if reference.size else 0.0
    relative = absolute / scale if scale > 0 else absolute
    return absolute, relative


def run_check(args, losses, workdir):
    rows = []
    failures = 0
    for index, (loss, name, n, d, classes, batch, overrides, seed) in enumerate(cases()):
        if loss not in losses:
            continue
        h = dict(DEFAULTS[loss])
        h.update(overrides)
        rng = np.random.default_rng(seed)
        x32, labels, w32 = make_inputs(rng, n, d, classes, h["K"], batch)
        case_dir = os.path.join(workdir, f"{index:02d}-{loss}")
        os.makedirs(case_dir, exist_ok=True)
        paths = {key: os.path.join(case_dir, f"{key}.npy") for key in ("embeddings", "labels", "proxies")}
        np.save(paths["embeddings"], x32)
        np.save(paths["labels"], labels)
        np.save(paths["proxies"], w32)

        # torch on exactly the float32 values that were written, widened to float64
        x = torch.from_numpy(np.load(paths["embeddings"]).astype(np.float64)).requires_grad_(True)
        w = torch.from_numpy(np.load(paths["proxies"]).astype(np.float64)).requires_grad_(True)
        y = torch.from_numpy(np.load(paths["labels"]))
        value = torch_loss(loss, x, y, w, h)
        value.backward()
        torch_value = value.item()
        torch_gx, torch_gw = x.grad.numpy(), w.grad.numpy()

        command = [args.dmleval, "loss", "--loss", loss, paths["embeddings"], paths["labels"],
                   "--proxy-file", paths["proxies"], "--json", "--grad-out", case_dir]
        for key, flag in FLAGS.items():
            if key in overrides:
                command += [flag, repr(float(overrides[key])) if key != "K" else str(overrides[key])]
        if args.verbose:
            print(" ".join(command), file=sys.stderr)
        result = subprocess.run(command, capture_output=True, text=True)
        row = {"loss": loss, "case": name, "N": n, "C": classes, "K": h["K"], "torch": torch_value}
        if result.returncode != 0:
            row.update(error=f"dmleval exited {result.returncode}: {result.stderr.strip()[:300]}", passed=False)
            failures += 1
            rows.append(row)
            continue
        dml_value = float(json.loads(result.stdout)["loss"])
        dml_gx = np.load(os.path.join(case_dir, "grad_embeddings.npy"))
        dml_gw = np.load(os.path.join(case_dir, "grad_proxies.npy"))
        value_abs = abs(dml_value - torch_value)
        value_rel = value_abs / abs(torch_value) if torch_value != 0 else value_abs
        gx_abs, gx_rel = difference(dml_gx, torch_gx)
        gw_abs, gw_rel = difference(dml_gw, torch_gw)
        passed = value_rel < VALUE_TOLERANCE and gx_rel < GRADIENT_TOLERANCE and gw_rel < GRADIENT_TOLERANCE
        failures += not passed
        row.update(dmleval=dml_value, value_abs=value_abs, value_rel=value_rel, gx_abs=gx_abs, gx_rel=gx_rel,
                   gw_abs=gw_abs, gw_rel=gw_rel, passed=passed)
        rows.append(row)

    header = (f"{'loss':<13} {'case':<30} {'torch loss':>14} {'dmleval loss':>14} {'value rel':>9} "
              f"{'dE abs':>9} {'dE rel':>9} {'dP abs':>9} {'dP rel':>9}  result")
    print(header)
    print("-" * len(header))
    for r in rows:
        if "error" in r:
            print(f"{r['loss']:<13} {r['case']:<30} {r['torch']:>14.8g} {'-':>14}  FAIL  {r['error']}")
            continue
        print(f"{r['loss']:<13} {r['case']:<30} {r['torch']:>14.10g} {r['dmleval']:>14.10g} {r['value_rel']:>9.1e} "
              f"{r['gx_abs']:>9.1e} {r['gx_rel']:>9.1e} {r['gw_abs']:>9.1e} {r['gw_rel']:>9.1e}  "
              f"{'pass' if r['passed'] else 'FAIL'}")
    print(f"\n{len(rows) - failures} of {len(rows)} cases pass (value rel < {VALUE_TOLERANCE:g}, "
          f"gradient rel < {GRADIENT_TOLERANCE:g}; rel = max|dmleval - torch| / max|torch|; "
          f"dE = d loss / d embeddings, dP = d loss / d proxies)")
    return failures


# ---------------------------------------------------------------------------------------------
# Epoch timing.
# ---------------------------------------------------------------------------------------------

def time_epochs(args, losses):
    torch.set_num_threads(args.threads)
    dtype = {"float32": torch.float32, "float64": torch.float64}[args.time_dtype]
    n, dim, classes, batch = 6000, 512, 100, 180
    rng = np.random.default_rng(7)
    features = torch.from_numpy(rng.standard_normal((n, dim))).to(dtype)
    labels = torch.from_numpy(np.repeat(np.arange(classes, dtype=np.int64), n // classes))
    print(f"\nEpoch timing: PyTorch {torch.__version__} CPU, {torch.get_num_threads()} threads, {args.time_dtype}; "
          f"N = {n}, D = {dim}, linear head {dim} -> {dim}, C = {classes}, batch {batch} "
          f"({math.ceil(n / batch)} batches), AdamW lr 1e-4 head / 1e-2 proxies; "
          f"1 warm-up epoch, median of {args.time_runs}")
    print(f"{'loss':<13} {'K':>3} {'s/epoch (median)':>17}  runs")
    results = {}
    for loss in losses:
        h = dict(DEFAULTS[loss])
        h["K"] = 1 if loss in ("proxy-anchor", "proxy-nca") else 10
        torch.manual_seed(0)
        head = torch.nn.Linear(dim, dim).to(dtype)
        proxies = torch.nn.Parameter(torch.randn(classes * h["K"], dim, dtype=dtype))
        optimizer = torch.optim.AdamW([{"params": head.parameters(), "lr": 1e-4},
                                       {"params": [proxies], "lr": 1e-2}])
        order_rng = torch.Generator().manual_seed(11)

        def epoch():
            order = torch.randperm(n, generator=order_rng)
            last = None
            for start in range(0, n, batch):
                index = order[start:start + batch]
                optimizer.zero_grad(set_to_none=True)
                value = torch_loss(loss, head(features[index]), labels[index], proxies, h)
                value.backward()
                optimizer.step()
                last = value.item()
            return last

        epoch()                                             # warm-up
        seconds = []
        for _ in range(args.time_runs):
            started = time.perf_counter()
            last = epoch()
            seconds.append(time.perf_counter() - started)
        median = statistics.median(seconds)
        results[loss] = {"K": h["K"], "median": median, "runs": seconds, "last_loss": last}
        print(f"{loss:<13} {h['K']:>3} {median:>17.3f}  {', '.join(f'{s:.3f}' for s in seconds)}"
              f"  (last batch loss {last:.4g})")
    return results


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--dmleval", default=os.path.join(REPO, ".build", "debug", "dmleval"))
    ap.add_argument("--only", help="comma-separated losses (default: all six)")
    ap.add_argument("--keep", help="write inputs and outputs to this folder and keep them")
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--skip-check", action="store_true")
    ap.add_argument("--time-epoch", action="store_true")
    ap.add_argument("--time-dtype", choices=("float32", "float64"), default="float32")
    ap.add_argument("--time-runs", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    losses = LOSSES if not args.only else tuple(s.strip() for s in args.only.split(","))
    unknown = [s for s in losses if s not in LOSSES]
    if unknown:
        ap.error(f"--only: unknown loss {unknown[0]}; expected some of {', '.join(LOSSES)}")

    failures = 0
    if not args.skip_check:
        if not os.access(args.dmleval, os.X_OK):
            sys.exit(f"{args.dmleval} not found; build it with `swift build --product dmleval` or pass --dmleval")
        torch.set_num_threads(args.threads)
        if args.keep:
            os.makedirs(args.keep, exist_ok=True)
            failures = run_check(args, losses, args.keep)
        else:
            workdir = tempfile.mkdtemp(prefix="torch-losses-")
            try:
                failures = run_check(args, losses, workdir)
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
    if args.time_epoch:
        time_epochs(args, losses)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
