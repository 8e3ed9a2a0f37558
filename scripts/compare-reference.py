#!/usr/bin/env python3
"""Times dmleval against the reference tools on the same files, in the same run.

    bash scripts/setup-reference-env.sh
    .venv-reference/bin/python scripts/make-bench-data.py
    swift build -c release --product dmleval
    .venv-reference/bin/python scripts/compare-reference.py --json-out .bench-data/compare.json

For every data set in DATA_DIR/datasets.json (written by make-bench-data.py):

1. Search. faiss-cpu IndexFlatIP on the L2-normalised rows, all cores
   (faiss.omp_set_num_threads(os.cpu_count())), self-search index.search(x, k + 1) with k = 100
   and the self match dropped, timed in this process around index.search alone; against
   `dmleval EMB LABELS --recall 100 --no-store --format json`, its "timings.search" (the k-NN
   search alone: reading and normalising come before it) and the whole process's wall time.
   recall@100 from faiss's lists is checked against dmleval's.

2. Metrics. pytorch-metric-learning's AccuracyCalculator(include=("precision_at_1",
   "r_precision", "mean_average_precision_at_r"), k="max_bin_count").get_accuracy(x, labels)
   (query == reference: PML then sets ref_includes_query=True and drops each self match),
   timed from reading the files with numpy to the result, in a fresh Python process (whose
   whole wall time, imports included, is reported too); against `dmleval EMB LABELS --recall 1
   --r-precision --map-r --no-store --format json`, whole process wall time. The values must
   agree: precision_at_1 = recall@1, r_precision = r-precision, mean_average_precision_at_r =
   map@r, to --tolerance (default 1e-4); "diff x queries" is the difference times the number
   of scored queries (for P@1: how many queries' top-1 verdicts differ, net). Rows that tie, or
   tie to within float32 rounding (duplicates in real data), may be ordered differently by the
   two tools (dmleval: lower index first; faiss: its own rounding), which moves P@1 by a few
   queries. Data sets marked "heavy" in the manifest (the real one: MAP@R there searches 2,198
   deep) get this comparison only with --heavy.

   The default metric set (no metric flags) is timed the same way; then once more with the
   hidden --time-products, which after the search times its products alone in the same
   process (the same kernel, tiles and threads, nothing selected): "products alone" is the
   floor of the search's time on this machine, "search / products" how far above it the
   search is (seconds apart, so the machine's drift hardly moves it), and "products / PML
   process" the ratio to PML that dmleval would reach if everything but these products took
   no time.

3. Memory. Peak resident set size of every child process (dmleval, the PML worker), as GNU
   /usr/bin/time reports it ("Maximum resident set size"), next to the size of the embeddings.

Each figure is the median of --runs runs (default 3) after --warmup warm-up runs (default 1);
the tools alternate within each round so that both see the same machine load. Times are
seconds, memory MiB. The Markdown tables go to stdout, everything (every run) to --json-out.

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE: dmleval always runs with the environment this script was
given. For the reference side, --reference-openblas keep (the default) leaves them too, unset
removes both for the Python side only (this script re-executes itself without them and gives
dmleval the originals back). Keep is the default because on this machine's CPU (AMD Zen 5)
faiss-cpu 1.15.1's bundled OpenBLAS 0.3.15 detects the core as "Barcelona" when nothing is set
and runs its GEMM about 2x slower than with the Haswell kernels that OPENBLAS_CORETYPE=Haswell
selects; numpy's newer OpenBLAS would pick SkylakeX, but numpy does no BLAS work here. The
kernels in use (threadpoolctl) are printed and recorded.
"""
import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
GNU_TIME = "/usr/bin/time"  # Debian package `time`; setup-reference-env.sh installs it
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
SAVED_PREFIX = "COMPARE_REFERENCE_SAVED_"
PML_METRICS = ("precision_at_1", "r_precision", "mean_average_precision_at_r")
# PML's name -> dmleval's JSON metric name
PML_TO_DMLEVAL = {"precision_at_1": "recall@1", "r_precision": "r-precision", "mean_average_precision_at_r": "map@r"}


# ---------------------------------------------------------------------------------------------
# Environment: which OpenBLAS settings each side gets


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", default=os.path.join(REPO, ".bench-data"))
    ap.add_argument("--dmleval", default=os.path.join(REPO, ".build", "release", "dmleval"))
    ap.add_argument("--dmleval-note", help="what the binary is, when it was not built from this work tree "
                    "(e.g. 'built from commit abc1234 in a clean export'); printed and recorded")
    ap.add_argument("--json-out", help="write every figure and run here (JSON)")
    ap.add_argument("--datasets", help="comma-separated names from datasets.json (default: all)")
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--k", type=int, default=100, help="search depth of the faiss/dmleval comparison")
    ap.add_argument("--tolerance", type=float, default=1e-4)
    ap.add_argument("--skip-pml", action="store_true", help="only the search comparison")
    ap.add_argument("--heavy", action="store_true",
                    help="also run the PML comparison on data sets marked heavy (the real one: its MAP@R "
                         "searches 2,198 deep, about a minute per run of each tool on 2 cores)")
    ap.add_argument("--reference-openblas", choices=("keep", "unset"), default="keep")
    ap.add_argument("--pml-worker", nargs=2, metavar=("EMB", "LABELS"), help=argparse.SUPPRESS)
    return ap.parse_args(argv)


def original_environment():
    """The environment this script was started with (what dmleval gets)."""
    env = dict(os.environ)
    for var in OPENBLAS_VARS:
        saved = env.pop(SAVED_PREFIX + var, None)
        if saved is not None:
            env[var] = saved
    return env


def maybe_reexec_without_openblas_vars(args):
    if args.reference_openblas != "unset" or args.pml_worker:
        return
    if not any(v in os.environ for v in OPENBLAS_VARS):
        return
    env = dict(os.environ)
    for var in OPENBLAS_VARS:
        if var in env:
            env[SAVED_PREFIX + var] = env.pop(var)
    os.execve(sys.executable, [sys.executable, os.path.abspath(__file__)] + sys.argv[1:], env)


# ---------------------------------------------------------------------------------------------
# Reading the files with numpy (both here and in the PML worker)


def read_embeddings(path):
    import numpy as np

    ext = os.path.splitext(path)[1].lower()
    if ext in (".fbin", ".bin"):
        n, d = (int(v) for v in np.fromfile(path, dtype="<u4", count=2))
        x = np.fromfile(path, dtype="<f4", offset=8)
        if x.size != n * d:
            raise ValueError(f"{path}: expected {n} x {d} floats after the header, found {x.size}")
        return x.reshape(n, d)
    if ext == ".npy":
        return np.load(path).astype(np.float32, copy=False)
    raise ValueError(f"{path}: unsupported extension {ext}")


def read_labels(path):
    """Class ids 0..C-1 (PML compares labels as numbers; text labels are mapped to ids)."""
    import numpy as np

    if path.lower().endswith(".npy"):
        raw = np.load(path).reshape(-1)
    else:
        with open(path, encoding="utf-8") as f:
            raw = np.array([line.strip() for line in f])
    return np.unique(raw, return_inverse=True)[1].astype(np.int64)


def l2_normalised(x):
    import numpy as np

    x = np.array(x, dtype=np.float32, copy=True)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x


# ---------------------------------------------------------------------------------------------
# The PML worker: a fresh process per measured run


def pml_worker(emb_path, labels_path):
    t_start = time.perf_counter()
    import numpy as np  # noqa: F401
    import torch
    from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
    import faiss

    t_imported = time.perf_counter()
    x = l2_normalised(read_embeddings(emb_path))
    labels = read_labels(labels_path)
    t_read = time.perf_counter()
    calc = AccuracyCalculator(include=PML_METRICS, k="max_bin_count", device=torch.device("cpu"))
    # query == reference: with reference=None, PML 2.x sets ref_includes_query=True.
    values = calc.get_accuracy(x, labels)
    t_done = time.perf_counter()
    json.dump({
        "metrics": {k: float(v) for k, v in values.items()},
        "import_seconds": t_imported - t_start,
        "read_seconds": t_read - t_imported,
        "get_accuracy_seconds": t_done - t_read,
        "read_and_get_accuracy_seconds": t_done - t_imported,
        "torch_threads": torch.get_num_threads(),
        "faiss_threads": faiss.omp_get_max_threads(),
    }, sys.stdout)


# ---------------------------------------------------------------------------------------------
# Running and measuring child processes


def run_measured(cmd, env):
    """Runs cmd; returns (stdout, stderr, wall seconds, peak RSS MiB). Raises on failure.

    The peak RSS comes from GNU time (-f %M): a child forked from this (large) Python process
    would inherit its high-water mark, since Linux carries the pre-exec RSS peak into the
    process's ru_maxrss; GNU time forks it from a small process instead."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(mode="r", suffix=".rss") as rss_file:
        t0 = time.perf_counter()
        proc = subprocess.run([GNU_TIME, "-f", "%M", "-o", rss_file.name, *cmd],
                              stdout=out, stderr=err, stdin=subprocess.DEVNULL, env=env)
        wall = time.perf_counter() - t0
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode(errors="replace")
        rss_lines = [line for line in rss_file.read().splitlines() if line.strip()]
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{stderr[-2000:]}")
    return stdout, stderr, wall, int(rss_lines[-1]) / 1024.0  # %M is KiB


STRAY_STDOUT = []  # lines dmleval printed on stdout besides its JSON document


def dmleval_json(stdout):
    """dmleval's --format json document. Lines before it (which --format json should never
    print) are kept in STRAY_STDOUT and reported, not fatal."""
    lines = stdout.splitlines()
    try:
        start = lines.index("{")
    except ValueError:
        raise RuntimeError(f"dmleval printed no JSON document; its stdout began: {stdout[:500]!r}")
    for line in lines[:start]:
        if line not in STRAY_STDOUT:
            STRAY_STDOUT.append(line)
    return json.loads("\n".join(lines[start:]))


def median(values):
    return statistics.median(values) if values else None


def measured_rounds(args, steps):
    """Runs each (name, fn) of steps once per round: warm-up rounds first, then --runs rounds.
    Returns {name: [result of each measured round]}."""
    results = {name: [] for name, _ in steps}
    for r in range(args.warmup + args.runs):
        for name, fn in steps:
            value = fn()
            if r >= args.warmup:
                results[name].append(value)
    return results


# ---------------------------------------------------------------------------------------------
# The comparisons


def faiss_self_search(x, k):
    import faiss
    import numpy as np

    index = faiss.IndexFlatIP(x.shape[1])
    t0 = time.perf_counter()
    index.add(x)
    t1 = time.perf_counter()
    _, ids = index.search(x, k + 1)
    t2 = time.perf_counter()
    # Drop the self match (wherever ties put it), else the last column.
    n = x.shape[0]
    is_self = ids == np.arange(n)[:, None]
    missing = ~is_self.any(axis=1)
    is_self[missing, -1] = True
    ids = ids[~is_self].reshape(n, k)
    return {"add_seconds": t1 - t0, "search_seconds": t2 - t1}, ids


def compare_search(args, ds, x, labels, env):
    import numpy as np

    k = args.k
    last = {}

    def faiss_step():
        timing, ids = faiss_self_search(x, k)
        last["ids"] = ids
        return timing

    def dmleval_step():
        cmd = [args.dmleval, ds["embeddings"], ds["labels"], "--recall", str(k), "--no-store", "--format", "json"]
        stdout, _, wall, rss = run_measured(cmd, env)
        out = dmleval_json(stdout)
        return {"search_seconds": out["timings"]["search"], "timings": out["timings"], "wall_seconds": wall,
                "peak_rss_mib": rss, "metrics": out["metrics"]}

    res = measured_rounds(args, [("faiss", faiss_step), ("dmleval", dmleval_step)])
    hits = (labels[last["ids"]] == labels[:, None]).any(axis=1)
    has_relevant = np.bincount(labels)[labels] > 1
    faiss_recall = float(hits[has_relevant].mean())
    dml_recall = res["dmleval"][-1]["metrics"][f"recall@{k}"]
    f_search = median([r["search_seconds"] for r in res["faiss"]])
    d_search = median([r["search_seconds"] for r in res["dmleval"]])
    return {
        "k": k,
        "faiss_search_seconds": f_search,
        "faiss_add_seconds": median([r["add_seconds"] for r in res["faiss"]]),
        "dmleval_search_seconds": d_search,
        "ratio_faiss_over_dmleval": f_search / d_search,
        "dmleval_wall_seconds": median([r["wall_seconds"] for r in res["dmleval"]]),
        "dmleval_peak_rss_mib": max(r["peak_rss_mib"] for r in res["dmleval"]),
        f"faiss_recall@{k}": faiss_recall,
        f"dmleval_recall@{k}": dml_recall,
        "recall_agrees": abs(faiss_recall - dml_recall) <= args.tolerance,
        "runs": res,
    }


def compare_metrics(args, ds, env_reference, env_dmleval):
    def pml_step():
        cmd = [sys.executable, os.path.abspath(__file__), "--pml-worker", ds["embeddings"], ds["labels"]]
        stdout, _, wall, rss = run_measured(cmd, env_reference)
        out = json.loads(stdout.strip().splitlines()[-1])
        out.update({"wall_seconds": wall, "peak_rss_mib": rss})
        return out

    def dmleval_step():
        cmd = [args.dmleval, ds["embeddings"], ds["labels"], "--recall", "1", "--r-precision", "--map-r",
               "--no-store", "--format", "json"]
        stdout, _, wall, rss = run_measured(cmd, env_dmleval)
        out = dmleval_json(stdout)
        return {"wall_seconds": wall, "peak_rss_mib": rss, "metrics": out["metrics"], "timings": out["timings"],
                "depth": out["search"]["depth"], "excluded_queries": out["excluded_queries"]}

    def dmleval_default_step():
        # The default metric set (recall@1,2,4,8, nDCG@2,4,8, MAP@R): what a user gets with
        # no metric flags, MAP@R included.
        cmd = [args.dmleval, ds["embeddings"], ds["labels"], "--no-store", "--format", "json"]
        stdout, _, wall, rss = run_measured(cmd, env_dmleval)
        out = dmleval_json(stdout)
        return {"wall_seconds": wall, "peak_rss_mib": rss, "metrics": out["metrics"], "timings": out["timings"]}

    def dmleval_products_step():
        # The default set again, then the search's products alone in the same process (hidden
        # --time-products): the floor of the search's time, seconds from the search it bounds.
        cmd = [args.dmleval, ds["embeddings"], ds["labels"], "--no-store", "--format", "json", "--time-products"]
        stdout, _, wall, rss = run_measured(cmd, env_dmleval)
        out = dmleval_json(stdout)
        return {"wall_seconds": wall, "peak_rss_mib": rss, "timings": out["timings"]}

    res = measured_rounds(args, [("pml", pml_step), ("dmleval", dmleval_step), ("dmleval_default", dmleval_default_step),
                                 ("dmleval_products", dmleval_products_step)])
    queries = ds["rows"] - res["dmleval"][-1]["excluded_queries"]
    values = []
    for pml_name, dml_name in PML_TO_DMLEVAL.items():
        p = res["pml"][-1]["metrics"][pml_name]
        d = res["dmleval"][-1]["metrics"][dml_name]
        values.append({"pml": pml_name, "dmleval": dml_name, "pml_value": p, "dmleval_value": d,
                       "abs_diff": abs(p - d), "abs_diff_times_queries": abs(p - d) * queries,
                       "agrees": abs(p - d) <= args.tolerance})
    p_time = median([r["read_and_get_accuracy_seconds"] for r in res["pml"]])
    d_wall = median([r["wall_seconds"] for r in res["dmleval"]])
    default_wall = median([r["wall_seconds"] for r in res["dmleval_default"]])
    p_process = median([r["wall_seconds"] for r in res["pml"]])
    default_map = res["dmleval_default"][-1]["metrics"]["map@r"]
    pml_map = res["pml"][-1]["metrics"]["mean_average_precision_at_r"]
    products = median([r["timings"]["products"] for r in res["dmleval_products"]])
    return {
        "dmleval_products_seconds": products,
        "ratio_search_over_products": median([r["timings"]["search"] / r["timings"]["products"] for r in res["dmleval_products"]]),
        "ratio_products_over_pml_process": products / p_process,
        "dmleval_default_wall_seconds": default_wall,
        "dmleval_default_peak_rss_mib": max(r["peak_rss_mib"] for r in res["dmleval_default"]),
        "ratio_dmleval_default_over_pml_process": default_wall / p_process,
        "dmleval_default_map_r_abs_diff": abs(default_map - pml_map),
        "pml_read_and_get_accuracy_seconds": p_time,
        "pml_import_seconds": median([r["import_seconds"] for r in res["pml"]]),
        "pml_process_wall_seconds": median([r["wall_seconds"] for r in res["pml"]]),
        "pml_peak_rss_mib": max(r["peak_rss_mib"] for r in res["pml"]),
        "dmleval_wall_seconds": d_wall,
        "dmleval_search_seconds": median([r["timings"]["search"] for r in res["dmleval"]]),
        "dmleval_peak_rss_mib": max(r["peak_rss_mib"] for r in res["dmleval"]),
        "ratio_pml_over_dmleval": p_time / d_wall,
        "values": values,
        "values_agree": all(v["agrees"] for v in values),
        "runs": res,
    }


# ---------------------------------------------------------------------------------------------
# Context and report


def blas_kernels():
    from threadpoolctl import threadpool_info

    return [{"api": i.get("internal_api"), "version": i.get("version"), "architecture": i.get("architecture"),
             "threads": i.get("num_threads"), "library": os.path.basename(i.get("filepath", ""))}
            for i in threadpool_info()]


def context(args, env_dmleval):
    from importlib import metadata

    def git(*a):
        try:
            return subprocess.run(["git", "-C", REPO, *a], capture_output=True, text=True, check=True).stdout.strip()
        except (OSError, subprocess.CalledProcessError):
            return None

    try:
        cpu = next(line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo") if line.startswith("model name"))
    except (OSError, StopIteration):
        cpu = platform.processor()
    version = subprocess.run([args.dmleval, "--version"], capture_output=True, text=True).stdout.strip()
    dirty = git("status", "--porcelain", "--", "Sources", "Package.swift")
    return {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(),
        "dmleval": args.dmleval, "dmleval_version": version,
        "dmleval_binary_mtime": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(os.path.getmtime(args.dmleval))),
        "dmleval_note": args.dmleval_note,
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_sources_modified": bool(dirty),
        "python": platform.python_version(),
        "packages": {n: metadata.version(n) for n in ("numpy", "faiss-cpu", "torch", "pytorch-metric-learning")},
        "reference_openblas": args.reference_openblas,
        "openblas_env_dmleval": {v: env_dmleval.get(v) for v in OPENBLAS_VARS},
        "openblas_env_reference": {v: os.environ.get(v) for v in OPENBLAS_VARS},
        "blas_kernels_reference": blas_kernels(),
        "runs": args.runs, "warmup": args.warmup,
    }


def fmt(v, digits=3):
    return "n/a" if v is None else f"{v:.{digits}f}"


def markdown(ctx, results):
    lines = []
    build = ctx["dmleval_note"] or (f"work tree at git {ctx['git_commit']}"
                                    f"{', Sources modified' if ctx['git_sources_modified'] else ''}")
    lines.append(f"dmleval {ctx['dmleval_version']} ({build}, binary {ctx['dmleval_binary_mtime']}), "
                 f"{ctx['cpu']}, {ctx['cores']} cores; "
                 + ", ".join(f"{k} {v}" for k, v in ctx["packages"].items()))
    lines.append(f"Median of {ctx['runs']} runs after {ctx['warmup']} warm-up; seconds; memory in MiB. "
                 f"Load average before/after: {ctx['loadavg_before']} / {ctx['loadavg_after']}.")
    env_d = ", ".join(f"{k}={v}" for k, v in ctx["openblas_env_dmleval"].items() if v is not None) or "none set"
    env_r = ", ".join(f"{k}={v}" for k, v in ctx["openblas_env_reference"].items() if v is not None) or "none set"
    kernels = "; ".join(f"{b['library']} {b['version'] or ''} {b['architecture'] or ''}".strip()
                        for b in ctx["blas_kernels_reference"] if b["api"] == "openblas")
    lines.append(f"OpenBLAS environment: dmleval {env_d}; reference side ({ctx['reference_openblas']}) {env_r}; "
                 f"reference kernels: {kernels}.")
    if ctx.get("dmleval_stray_stdout"):
        lines.append(f"Note: dmleval printed lines outside its JSON on stdout: {ctx['dmleval_stray_stdout'][:3]}.")
    lines.append("")
    lines.append(f"### k-NN search, k = {results[0]['search']['k'] if results else 100} (faiss IndexFlatIP vs dmleval --recall K)")
    lines.append("")
    lines.append("| data set | n x d | embeddings MiB | faiss search | dmleval search | faiss/dmleval | dmleval wall | dmleval peak RSS | recall@k faiss / dmleval |")
    lines.append("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
    for r in results:
        s = r["search"]
        k = s["k"]
        lines.append(
            f"| {r['name']} | {r['rows']} x {r['dimensions']} | {fmt(r['embeddings_mib'], 1)} | {fmt(s['faiss_search_seconds'])} "
            f"| {fmt(s['dmleval_search_seconds'])} | {fmt(s['ratio_faiss_over_dmleval'], 2)} | {fmt(s['dmleval_wall_seconds'])} "
            f"| {fmt(s['dmleval_peak_rss_mib'], 0)} | {s[f'faiss_recall@{k}']:.5f} / {s[f'dmleval_recall@{k}']:.5f}"
            f"{'' if s['recall_agrees'] else ' DIFFER'} |")
    if any("metrics" in r for r in results):
        lines.append("")
        lines.append("### P@1, R-Precision, MAP@R (pytorch-metric-learning AccuracyCalculator vs dmleval, whole job)")
        lines.append("")
        lines.append("| data set | PML read + get_accuracy | PML process (with imports) | dmleval process | PML/dmleval | PML peak RSS | dmleval peak RSS | embeddings MiB |")
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in results:
            if "metrics" not in r:
                continue
            m = r["metrics"]
            lines.append(
                f"| {r['name']} | {fmt(m['pml_read_and_get_accuracy_seconds'])} | {fmt(m['pml_process_wall_seconds'])} "
                f"| {fmt(m['dmleval_wall_seconds'])} | {fmt(m['ratio_pml_over_dmleval'], 2)} | {fmt(m['pml_peak_rss_mib'], 0)} "
                f"| {fmt(m['dmleval_peak_rss_mib'], 0)} | {fmt(r['embeddings_mib'], 1)} |")
        lines.append("")
        lines.append("Default metric set (no metric flags: recall@1,2,4,8, nDCG@2,4,8, MAP@R), whole dmleval process:")
        lines.append("")
        lines.append("| data set | dmleval default set (s) | / PML process | dmleval peak RSS | MAP@R abs diff to PML "
                     "| products alone (s) | search / products | products / PML process |")
        lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
        for r in results:
            if "metrics" not in r:
                continue
            m = r["metrics"]
            lines.append(f"| {r['name']} | {fmt(m['dmleval_default_wall_seconds'])} | {fmt(m['ratio_dmleval_default_over_pml_process'], 3)} "
                         f"| {fmt(m['dmleval_default_peak_rss_mib'], 0)} | {m['dmleval_default_map_r_abs_diff']:.1e} "
                         f"| {fmt(m['dmleval_products_seconds'])} | {fmt(m['ratio_search_over_products'], 2)} "
                         f"| {fmt(m['ratio_products_over_pml_process'], 3)} |")
        lines.append("")
        lines.append("| data set | metric (PML / dmleval) | PML | dmleval | abs diff | diff x queries | agree |")
        lines.append("| --- | --- | ---: | ---: | ---: | ---: | --- |")
        for r in results:
            if "metrics" not in r:
                continue
            for v in r["metrics"]["values"]:
                lines.append(f"| {r['name']} | {v['pml']} / {v['dmleval']} | {v['pml_value']:.6f} | {v['dmleval_value']:.6f} "
                             f"| {v['abs_diff']:.1e} | {v['abs_diff_times_queries']:.2f} | {'yes' if v['agrees'] else 'NO'} |")
    return "\n".join(lines)


def main(argv):
    args = parse_args(argv)
    if args.pml_worker:
        pml_worker(*args.pml_worker)
        return 0
    maybe_reexec_without_openblas_vars(args)
    env_dmleval = original_environment()
    env_reference = dict(os.environ)

    try:
        import faiss
        import numpy as np  # noqa: F401
        if not args.skip_pml:
            import torch  # noqa: F401
            import pytorch_metric_learning  # noqa: F401
    except ImportError as e:
        print(f"error: {e}; run this with .venv-reference/bin/python after bash scripts/setup-reference-env.sh",
              file=sys.stderr)
        return 2
    if not os.access(GNU_TIME, os.X_OK):
        print(f"error: no {GNU_TIME} (GNU time, for peak memory); apt-get install time", file=sys.stderr)
        return 2
    if not os.access(args.dmleval, os.X_OK):
        print(f"error: no dmleval at {args.dmleval}; run swift build -c release --product dmleval", file=sys.stderr)
        return 2
    manifest_path = os.path.join(args.data_dir, "datasets.json")
    if not os.path.exists(manifest_path):
        print(f"error: no {manifest_path}; run scripts/make-bench-data.py {args.data_dir}", file=sys.stderr)
        return 2
    with open(manifest_path, encoding="utf-8") as f:
        datasets = json.load(f)
    if args.datasets:
        wanted = args.datasets.split(",")
        unknown = set(wanted) - {d["name"] for d in datasets}
        if unknown:
            print(f"error: unknown data sets {sorted(unknown)}", file=sys.stderr)
            return 2
        datasets = [d for d in datasets if d["name"] in wanted]

    # Run a copy of the binary, so that a rebuild during the run cannot mix two versions.
    snapshot_dir = tempfile.mkdtemp(prefix="compare-reference-")
    snapshot = os.path.join(snapshot_dir, "dmleval")
    shutil.copy2(args.dmleval, snapshot)
    ctx = context(args, env_dmleval)
    args.dmleval = snapshot

    faiss.omp_set_num_threads(os.cpu_count())
    ctx["loadavg_before"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    started = time.perf_counter()
    results = []
    for ds in datasets:
        print(f"== {ds['name']} ({ds['rows']} x {ds['dimensions']}, {ds['classes']} classes)", file=sys.stderr, flush=True)
        x = l2_normalised(read_embeddings(ds["embeddings"]))
        labels = read_labels(ds["labels"])
        r = {"name": ds["name"], "kind": ds.get("kind"), "embeddings": ds["embeddings"], "labels": ds["labels"],
             "rows": int(x.shape[0]), "dimensions": int(x.shape[1]), "classes": int(labels.max() + 1),
             "embeddings_mib": x.nbytes / 2**20}
        t = time.perf_counter()
        r["search"] = compare_search(args, ds, x, labels, env_dmleval)
        print(f"   search: faiss {r['search']['faiss_search_seconds']:.3f} s, dmleval {r['search']['dmleval_search_seconds']:.3f} s"
              f" ({time.perf_counter() - t:.0f} s)", file=sys.stderr, flush=True)
        del x
        if args.skip_pml or (ds.get("heavy") and not args.heavy):
            print("   metrics: skipped" + ("" if args.skip_pml else " (heavy data set; pass --heavy)"),
                  file=sys.stderr, flush=True)
        else:
            t = time.perf_counter()
            r["metrics"] = compare_metrics(args, ds, env_reference, env_dmleval)
            print(f"   metrics: PML {r['metrics']['pml_read_and_get_accuracy_seconds']:.3f} s, dmleval "
                  f"{r['metrics']['dmleval_wall_seconds']:.3f} s ({time.perf_counter() - t:.0f} s)", file=sys.stderr, flush=True)
        results.append(r)
    ctx["loadavg_after"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    ctx["elapsed_seconds"] = time.perf_counter() - started
    ctx["dmleval_stray_stdout"] = STRAY_STDOUT
    shutil.rmtree(snapshot_dir, ignore_errors=True)

    report = markdown(ctx, results)
    print(report)
    if args.json_out:
        with open(args.json_out, "w", encoding="utf-8") as f:
            json.dump({"context": ctx, "results": results, "markdown": report}, f, indent=2)
            f.write("\n")
        print(f"\nwrote {args.json_out}", file=sys.stderr)
    ok = all(r["search"]["recall_agrees"] and r.get("metrics", {}).get("values_agree", True) for r in results)
    if not ok:
        print("warning: some values differ between dmleval and the reference beyond the tolerance", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
