#!/usr/bin/env python3
"""How much exact work a bfloat16 filter in front of the exact search would leave.

A filter would score every pair with bfloat16 rows (a), then score again in the canonical order
(g, float32) only the pairs that may belong to a list. Exactness needs a rigorous bound
|g - a| <= eps(q, r). With q' the row rounded to bfloat16, e_q = |q - q'| and
n_q >= max(|q|, |q'|): q.r - q'.r' = q'.(r - r') + (q - q').r, so by Cauchy-Schwarz, and with
each float32 sum within gamma_d = d 2^-24 / (1 - d 2^-24) of its exact value times n_q n_r (a
product of two bfloat16 values is exact in float32):

    eps(q, r) = n_q e_r + e_q n_r + 2 gamma_d n_q n_r

(rounding to bfloat16, 8 significant bits, moves a value by at most 2^-8 of itself, so e_q is at
most 2^-8 n_q; on these rows it is about 0.0017 n_q). A query's list is then among the
references with a >= a_(depth) - E_q - eps(q, r), E_q the largest eps(q, .): every member has
g >= g_(depth) >= a_(depth) - E_q. In the symmetric search a pair is scored again when either
side may keep it: a >= min(t_q, t_r) - eps(q, r), t being each query's depth-th canonical score.

Prints, per data set, the candidates per query against its depth, and the share of all pairs
the filter would have to score again. Sampled queries (600 by default), every reference.

    .venv-reference/bin/python scripts/bf16-filter-window.py EMB LABELS [EMB LABELS ...]
"""
import argparse
import numpy as np


def to_bf16(x):
    """float32 -> bfloat16 (round to nearest even), returned as float32."""
    b = np.ascontiguousarray(x, dtype=np.float32).view(np.uint32).astype(np.uint64)
    r = ((b + 0x7FFF + ((b >> 16) & 1)) >> 16) << 16
    return r.astype(np.uint32).view(np.float32)


def load_labels(path):
    if path.endswith(".npy"):
        return np.load(path)
    with open(path) as f:
        return np.array([line.rstrip("\n") for line in f])


def kth_scores(x, depth, block=2048):
    """Each row's depth-th best score against every other row (float32 products)."""
    n = x.shape[0]
    out = np.empty(n, dtype=np.float64)
    for i0 in range(0, n, block):
        s = x[i0:i0 + block] @ x.T
        s[np.arange(s.shape[0]), np.arange(i0, i0 + s.shape[0])] = -np.inf
        k = depth[i0:i0 + block]
        part = -np.sort(-s, axis=1) if k.max() > n // 4 else None
        for j in range(s.shape[0]):
            out[i0 + j] = part[j, k[j] - 1] if part is not None else np.partition(s[j], n - k[j])[n - k[j]]
    return out


def run(name, x, labels, samples, seed):
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    depth = np.maximum(counts[inverse] - 1, 8)  # the default set: MAP@R, and R@8 / nDCG@8
    gamma = d * 2.0 ** -24 / (1 - d * 2.0 ** -24)
    xb = to_bf16(x).astype(np.float64)
    x64 = x.astype(np.float64)
    norms = np.maximum(np.linalg.norm(x64, axis=1), np.linalg.norm(xb, axis=1))
    errors = np.linalg.norm(x64 - xb, axis=1)
    t = kth_scores(x, depth)
    rng = np.random.default_rng(seed)
    queries = rng.choice(n, min(samples, n), replace=False)
    ratio, fixed = [], 0
    for q in queries:
        a = xb @ xb[q]
        a[q] = -np.inf
        eps = norms[q] * errors + errors[q] * norms + 2 * gamma * norms[q] * norms
        ad = np.partition(a, n - depth[q])[n - depth[q]]
        ratio.append(np.count_nonzero(a >= ad - eps.max() - eps) / depth[q])
        fixed += np.count_nonzero(a >= np.minimum(t[q], t) - eps)
    ratio = np.array(ratio)
    print(f"{name}: {n} x {d}, mean depth {depth.mean():.0f} ({depth.mean() / n:.1%} of the rows); "
          f"mean e_q / n_q {np.mean(errors / np.maximum(norms, 1e-30)):.5f}; candidates / depth mean {ratio.mean():.3f}, p95 {np.percentile(ratio, 95):.3f}; "
          f"pairs scored again {fixed / (len(queries) * (n - 1)):.1%}")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+", help="EMB LABELS pairs (.npy rows; .npy or text labels)")
    ap.add_argument("--samples", type=int, default=600)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    if len(args.files) % 2:
        ap.error("give the files in pairs: EMB LABELS")
    for e, l in zip(args.files[0::2], args.files[1::2]):
        x = np.load(e)
        if x.shape[0] == 0:
            continue
        x = x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-30)  # cosine, as the default set
        run(e, x, load_labels(l), args.samples, args.seed)


if __name__ == "__main__":
    main()
