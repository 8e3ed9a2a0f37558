#!/usr/bin/env python3
"""Approximate nearest-neighbour search: recall@k against queries per second, dmleval's HNSW and
IVF-Flat indexes next to hnswlib and faiss IndexIVFFlat, in the same run on the same machine.

    bash scripts/setup-reference-env.sh
    swift build -c release --product dmleval
    .venv-reference/bin/python scripts/ann-benchmark.py            # or: make ann-bench

Data. --data (default: the real Debian package descriptions, 21,306 x 384 float32, rows
L2-normalised) is split with --seed: --queries-count rows (1,000) are held out as queries, the
rest is the base; both keep their original row order. They are written to
OUT_DIR/ann-NAME-base.npy and OUT_DIR/ann-NAME-queries.npy (float32, C order), the files
dmleval reads too, with the exact top-k by inner product (cosine on these rows) in
OUT_DIR/ann-NAME-groundtruth.npy (int64, queries x k): numpy's float32 product, equal scores
ordered by the lower row index (dmleval's rule), cross-checked against faiss IndexFlatIP.

Recall@k of a query is |returned ids & exact ids| / k, averaged over the queries; the tables,
plot and summary use it, since it is what dmleval reports (against its own exact search, which
equals ours up to float32 rounding). The data has exact duplicate rows (groups of up to 28), so
the exact top k is not always unique and an index that returns another member of a tied group
loses recall for it: "recall, ties counted" (reference tools only; in the tables and JSON) also
counts a returned row whose true similarity is within 1e-6 of the k-th best.

Tools and modes. single-thread: one thread searching the whole query matrix in one call
(hnswlib set_num_threads(1) and knn_query(Q, k, num_threads=1); faiss omp_set_num_threads(1);
dmleval --threads 1). batched: the same with 2 threads (all cores of the project's machine;
--batch-threads). BLAS thread pools (faiss's coarse quantizer uses BLAS) are limited to the same
count with threadpoolctl. Builds always use --build-threads (2).

- hnswlib: Index(space="ip") on the normalised rows (the same order as space="cosine", which
  would normalise a copy), M = --m, ef_construction = --ef-construction, random_seed = --seed;
  every --ef-search value (those below k are dropped: hnswlib needs ef >= k). Memory: the
  size of the file save_index writes (vectors, level-0 links, upper levels, labels; equal to
  index_file_size()), which is what the index holds in memory give or take the allocator's
  overhead. (The resident-set growth while building is not used: in this process it mostly
  measures the allocator reusing memory freed by the ground-truth step.)
- faiss: IndexIVFFlat(IndexFlatIP, d, nlist, METRIC_INNER_PRODUCT), trained with k-means on the
  whole base (cp.seed = --seed), then the base added; every --nprobe value. nlist defaults to
  round(4 sqrt(N)) (570 here; faiss warns that it wants 39 x nlist training rows, 22,230).
  faiss's IVF training defaults apply and are recorded: 10 k-means iterations, spherical
  (centroids renormalised); how comparable the build times are depends on dmleval's own k-means
  settings. Memory: len(faiss.serialize_index(index)) (centroids, vectors, int64 ids).
- dmleval: `dmleval index sweep BASE --queries Q --index hnsw|ivf ... --threads T
  --build-threads 2 --seed S --format json`, once with T = 1 and once with T = 2 (or
  --dmleval-runs times each, medians taken), its own per-point timings and build.bytes, and
  its peak RSS from GNU time (JSON only). The binary is copied to a temporary file first, so a
  rebuild during the run cannot mix versions. Its documents are saved as printed to
  OUT_DIR/ann-dmleval-raw.json.

Each reference search point is the median of --repeats timed calls (default 3), after one
untimed warm-up call per index and mode; each reference build is the median of --build-repeats
builds (default 3; the searches use the last one). QPS = queries / median seconds.

Load. Timings mean little when other processes share the cores (on a 2-core machine one busy
neighbour halves the batched mode). For every build, sweep and dmleval process the script
records how many cores other processes kept busy meanwhile (from /proc/stat, minus its own and
its children's CPU time), and counts the single-thread timings that took more than 1.25 x their
CPU time; both are in the report. --wait-idle SECONDS waits (up to SECONDS each time) for a
quiet second before each build, sweep and dmleval process.

Output: OUT_DIR/ann.json (context, every point and every timing), OUT_DIR/ann.md (the tables,
also printed), and --plot (docs/ann-recall-qps.svg): recall@k against QPS (log), one curve per
tool and mode, single-thread solid and batched dashed. The SVG carries no date and fixed ids
(svg.hashsalt), so it changes only when the figures do.

--skip-dmleval runs the reference side alone. --dmleval-json FILE (repeatable) uses precomputed
dmleval results instead of running the binary: each FILE holds one `index sweep --format json`
object or a JSON list of them (for instance saved from an earlier run, or made by hand to try
the report and plot code).

OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are left as given, for both sides (see
scripts/compare-reference.py for why this machine sets them); the BLAS kernels in use are
recorded.
"""
import argparse
import json
import math
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_DATA = "/work/shared/data/debian-descriptions/embeddings.npy"
GNU_TIME = "/usr/bin/time"
OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
TIE_EPSILON = 1e-6

# tool key -> (label, index family, parameter name in the points)
TOOLS = {
    "dmleval-hnsw": ("dmleval HNSW", "hnsw", "efSearch"),
    "hnswlib": ("hnswlib", "hnsw", "efSearch"),
    "dmleval-ivf": ("dmleval IVF", "ivf", "nprobe"),
    "faiss-ivf": ("faiss IVF", "ivf", "nprobe"),
}
TOOL_ORDER = list(TOOLS)
MODES = ("single-thread", "batched")


def int_list(text):
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {text!r}")
    if not values or min(values) < 1:
        raise argparse.ArgumentTypeError(f"expected positive integers, got {text!r}")
    return values


def parse_args(argv):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data", default=DEFAULT_DATA, help="embeddings (.npy, float32, n x d)")
    ap.add_argument("--name", default="debian", help="data set name in the file names (default: debian)")
    ap.add_argument("--title", help="data set description in the report and plot (default: for the default --data, "
                                    "'Debian package descriptions (all-MiniLM-L6-v2)', else the file name)")
    ap.add_argument("--queries-count", type=int, default=1000, help="rows held out as queries")
    ap.add_argument("--seed", type=int, default=1,
                    help="seed of the split, hnswlib's random_seed, faiss's k-means and dmleval --seed")
    ap.add_argument("--k", type=int, default=10)
    ap.add_argument("--m", type=int, default=16, help="HNSW M")
    ap.add_argument("--ef-construction", type=int, default=200)
    ap.add_argument("--ef-search", type=int_list, default=int_list("10,16,24,32,48,64,96,128,192,256"))
    ap.add_argument("--nlist", type=int, help="IVF lists (default: round(4 sqrt(base rows)))")
    ap.add_argument("--nprobe", type=int_list, default=int_list("1,2,4,8,16,32,64,128"))
    ap.add_argument("--repeats", type=int, default=3, help="timed searches per point (median)")
    ap.add_argument("--build-repeats", type=int, default=3, help="reference index builds (median time)")
    ap.add_argument("--build-threads", type=int, default=2)
    ap.add_argument("--batch-threads", type=int, default=2, help="threads of the batched mode")
    ap.add_argument("--wait-idle", type=float, default=0, metavar="SECONDS",
                    help="before each build, sweep and dmleval process, wait up to SECONDS for a second in which "
                         "other processes keep less than --idle-threshold cores busy (default 0: do not wait)")
    ap.add_argument("--idle-threshold", type=float, default=0.25, metavar="CORES")
    ap.add_argument("--tools", default=",".join(TOOL_ORDER),
                    help=f"comma-separated subset of {','.join(TOOL_ORDER)}")
    ap.add_argument("--dmleval", default=os.path.join(REPO, ".build", "release", "dmleval"))
    ap.add_argument("--build", action="store_true",
                    help="run `swift build -c release --product dmleval` in the repository when the binary is missing")
    ap.add_argument("--dmleval-runs", type=int, default=1,
                    help="dmleval processes per index and thread count (per-point medians when > 1)")
    ap.add_argument("--dmleval-json", action="append", metavar="FILE",
                    help="use precomputed dmleval results (`index sweep --format json` objects, one per file "
                         "or a JSON list) instead of running the binary; repeatable")
    ap.add_argument("--skip-dmleval", action="store_true", help="run the reference side only")
    ap.add_argument("--out-dir", default=os.path.join(REPO, ".bench-data"))
    ap.add_argument("--plot", default=os.path.join(REPO, "docs", "ann-recall-qps.svg"),
                    help="plot to write, SVG (or PNG/PDF by its extension); '' for none")
    ap.add_argument("--plot-min-recall", type=float, default=0.8, help="left edge of the plot's recall axis")
    args = ap.parse_args(argv)
    if args.title is None:
        args.title = ("Debian package descriptions (all-MiniLM-L6-v2)" if os.path.abspath(args.data) == DEFAULT_DATA
                      else os.path.basename(args.data))
    args.tools = [t.strip() for t in args.tools.split(",") if t.strip()]
    unknown = set(args.tools) - set(TOOLS)
    if unknown:
        ap.error(f"unknown tools {sorted(unknown)}; choose from {TOOL_ORDER}")
    if args.skip_dmleval:
        args.tools = [t for t in args.tools if not t.startswith("dmleval")]
    for name in ("repeats", "build_repeats", "build_threads", "batch_threads", "dmleval_runs", "queries_count", "k"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1")
    dropped = [ef for ef in args.ef_search if ef < args.k]
    if dropped:
        print(f"note: dropping ef-search values below k = {args.k}: {dropped}", file=sys.stderr)
        args.ef_search = [ef for ef in args.ef_search if ef >= args.k]
    return args


def log(message):
    print(message, file=sys.stderr, flush=True)


def median(values):
    return statistics.median(values) if values else None


# ---------------------------------------------------------------------------------------------
# Data: split, files, ground truth


def prepare_data(args):
    import numpy as np

    x = np.load(args.data)
    if x.ndim != 2:
        raise SystemExit(f"error: {args.data}: expected a 2-D array, got shape {x.shape}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    n, d = x.shape
    if not 0 < args.queries_count < n:
        raise SystemExit(f"error: --queries-count {args.queries_count} must be between 1 and {n - 1}")
    norms = np.linalg.norm(x, axis=1)
    norm_deviation = float(np.max(np.abs(norms - 1.0)))
    normalised_here = norm_deviation > 1e-4
    if normalised_here:
        # Cosine: normalise once here, so every tool searches the same unit vectors.
        x /= norms[:, None]
    rng = np.random.default_rng(args.seed)
    held_out = np.zeros(n, dtype=bool)
    held_out[rng.choice(n, size=args.queries_count, replace=False)] = True
    base = np.ascontiguousarray(x[~held_out])
    queries = np.ascontiguousarray(x[held_out])

    os.makedirs(args.out_dir, exist_ok=True)
    paths = {part: os.path.join(args.out_dir, f"ann-{args.name}-{part}.npy") for part in ("base", "queries", "groundtruth")}
    write_if_changed(paths["base"], base)
    write_if_changed(paths["queries"], queries)

    gt_ids, gt_check = ground_truth(base, queries, args.k)
    write_if_changed(paths["groundtruth"], gt_ids)
    info = {
        "source": os.path.abspath(args.data), "name": args.name, "title": args.title, "rows": n, "dimension": d,
        "base_rows": int(base.shape[0]), "query_rows": int(queries.shape[0]), "split_seed": args.seed,
        "max_norm_deviation": norm_deviation, "normalised_here": normalised_here,
        "files": {part: os.path.abspath(p) for part, p in paths.items()},
        "base_mib": base.nbytes / 2**20, "groundtruth": gt_check,
    }
    return base, queries, gt_ids, info


def write_if_changed(path, array):
    """np.save, unless the file already holds exactly this array (keeps its mtime)."""
    import numpy as np

    if os.path.exists(path):
        try:
            old = np.load(path, mmap_mode="r")
            if old.dtype == array.dtype and old.shape == array.shape and np.array_equal(old, array):
                return
        except (ValueError, OSError):
            pass
    np.save(path, array)
    log(f"wrote {path} ({' x '.join(map(str, array.shape))} {array.dtype})")


def ground_truth(base, queries, k):
    """Exact top-k by inner product: numpy's float32 product, equal scores ordered by the lower
    row index (dmleval's rule, so exact duplicates rank the same way as in its own exact search);
    checked against faiss IndexFlatIP, which may order ties otherwise."""
    import faiss
    import numpy as np

    t0 = time.perf_counter()
    scores = queries @ base.T
    rows = np.arange(base.shape[0])
    ids = np.empty((queries.shape[0], k + 1), dtype=np.int64)
    for q in range(queries.shape[0]):
        candidates = np.argpartition(-scores[q], k + 1)[:k + 1]
        # every row scoring at least the (k+1)-th best, so that ties at the edge are all considered
        edge = scores[q, candidates].min()
        tied = rows[scores[q] >= edge]
        order = np.lexsort((tied, -scores[q, tied]))
        ids[q] = tied[order[:k + 1]]
    seconds = time.perf_counter() - t0

    faiss.omp_set_num_threads(os.cpu_count())
    index = faiss.IndexFlatIP(base.shape[1])
    index.add(base)
    _, faiss_ids = index.search(queries, k)
    sims = np.take_along_axis(scores, ids, axis=1)
    kth = sims[:, k - 1]
    mismatched = [q for q in range(queries.shape[0]) if set(faiss_ids[q]) != set(ids[q, :k])]
    faiss_sims = np.take_along_axis(scores, faiss_ids.astype(np.int64), axis=1)
    only_ties = all(np.all(faiss_sims[q] >= kth[q] - TIE_EPSILON) for q in mismatched)
    ties_at_k = int(np.sum(sims[:, k - 1] - sims[:, k] <= TIE_EPSILON))
    return ids[:, :k], {
        "method": "numpy float32 product, ties by lower row index", "k": k, "seconds": seconds,
        "faiss_flat_set_mismatches": len(mismatched), "faiss_flat_mismatches_are_ties": bool(only_ties),
        "queries_with_tie_at_k": ties_at_k,
    }


def recall(found, base, queries, gt_ids, k):
    """(recall@k by ids, tie-aware recall@k) of found (queries x k ids; negative = none)."""
    import numpy as np

    found = np.asarray(found, dtype=np.int64)[:, :k]
    hits = sum(len(set(f[f >= 0].tolist()) & set(g.tolist())) for f, g in zip(found, gt_ids))
    by_ids = hits / (k * gt_ids.shape[0])
    kth = np.einsum("qd,qd->q", queries, base[gt_ids[:, k - 1]])
    valid = found >= 0
    sims = np.einsum("qd,qkd->qk", queries, base[np.where(valid, found, 0)])
    tie_hits = np.minimum(((sims >= kth[:, None] - TIE_EPSILON) & valid).sum(axis=1), k).sum()
    return by_ids, float(tie_hits) / (k * gt_ids.shape[0])


# ---------------------------------------------------------------------------------------------
# Reference tools, in this process


def system_busy_seconds():
    """CPU seconds all cores have spent busy since boot (/proc/stat: user, nice, system, irq,
    softirq, steal)."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    return sum(fields[i] for i in (0, 1, 2, 5, 6, 7) if i < len(fields)) / os.sysconf("SC_CLK_TCK")


def own_cpu_seconds():
    import resource

    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


class LoadMeter:
    """How many cores other processes kept busy while the block ran (system-wide busy time minus
    this process's and its waited-for children's CPU time, over the wall time; jiffy resolution,
    so meaningful over a second or more)."""

    def __enter__(self):
        self.busy, self.own, self.wall = system_busy_seconds(), own_cpu_seconds(), time.perf_counter()
        return self

    def __exit__(self, *exc):
        wall = time.perf_counter() - self.wall
        other = (system_busy_seconds() - self.busy) - (own_cpu_seconds() - self.own)
        self.other_cores = max(0.0, other / wall) if wall > 0 else None


def wait_for_quiet(args, what):
    """With --wait-idle S: wait up to S seconds for a 1-second window in which the machine's
    cores are busy less than --idle-threshold cores in all (this script is idle meanwhile)."""
    if args.wait_idle <= 0:
        return None
    deadline = time.monotonic() + args.wait_idle
    waited = 0.0
    while True:
        b0, t0 = system_busy_seconds(), time.perf_counter()
        time.sleep(1.0)
        load = (system_busy_seconds() - b0) / (time.perf_counter() - t0)
        if load < args.idle_threshold:
            if waited:
                log(f"   (waited {waited:.0f} s for a quiet machine before {what})")
            return load
        waited += 1.0
        if time.monotonic() > deadline:
            log(f"   machine still busy ({load:.2f} cores) after {args.wait_idle:.0f} s; running {what} anyway")
            return load


class Threads:
    """faiss OpenMP threads and every BLAS pool limited to n inside the block."""

    def __init__(self, n):
        self.n = n

    def __enter__(self):
        import faiss
        from threadpoolctl import threadpool_limits

        self.limits = threadpool_limits(limits=self.n)
        self.limits.__enter__()
        faiss.omp_set_num_threads(self.n)
        return self

    def __exit__(self, *exc):
        self.limits.__exit__(*exc)


def timed_sweep(args, tool, search, set_param, values, threads, base, queries, gt_ids):
    """One mode of one reference tool: warm-up, then --repeats timed calls per parameter value."""
    label, _, pname = TOOLS[tool]
    points = []
    wait_for_quiet(args, f"{label} on {threads} thread(s)")
    sweep_meter = LoadMeter().__enter__()
    set_param(values[0])
    search()  # warm-up: page in the index, start the thread pools
    for v in values:
        set_param(v)
        seconds, cpu, ids = [], [], None
        with LoadMeter() as meter:
            for _ in range(args.repeats):
                c0 = time.process_time()
                t0 = time.perf_counter()
                ids = search()
                seconds.append(time.perf_counter() - t0)
                cpu.append(time.process_time() - c0)
        other = meter.other_cores
        r, r_ties = recall(ids, base, queries, gt_ids, args.k)
        s = median(seconds)
        points.append({pname: v, "recall": r, "recall_tie_aware": r_ties, "seconds": s,
                       "queriesPerSecond": queries.shape[0] / s, "seconds_all": seconds, "cpu_seconds_all": cpu,
                       "other_load_cores": other})
        log(f"   {label:12s} {threads} thr  {pname} {v:4d}  recall@{args.k} {r:.4f}  {queries.shape[0] / s:9.0f} q/s"
            f"  (other load {other:.2f} cores)")
    sweep_meter.__exit__(None, None, None)
    return points, sweep_meter.other_cores


def run_hnswlib(args, base, queries, gt_ids):
    import hnswlib
    import numpy as np

    n, d = base.shape
    ids = np.arange(n)
    builds, index = [], None
    for _ in range(args.build_repeats):
        index = None
        wait_for_quiet(args, "an hnswlib build")
        with LoadMeter() as meter:
            t0 = time.perf_counter()
            index = hnswlib.Index(space="ip", dim=d)
            index.init_index(max_elements=n, ef_construction=args.ef_construction, M=args.m, random_seed=args.seed)
            index.set_num_threads(args.build_threads)
            index.add_items(base, ids, num_threads=args.build_threads)
            seconds = time.perf_counter() - t0
        builds.append({"seconds": seconds, "other_load_cores": meter.other_cores})
    file_bytes = int(index.index_file_size())
    with tempfile.TemporaryDirectory(prefix="ann-hnswlib-") as tmp:
        path = os.path.join(tmp, "index.bin")
        index.save_index(path)
        saved_bytes = os.path.getsize(path)
    build = {
        "seconds": median([b["seconds"] for b in builds]), "seconds_all": [b["seconds"] for b in builds],
        "threads": args.build_threads, "bytes": saved_bytes,
        "bytes_method": "size of the file save_index writes (vectors, links, labels)",
        "index_file_size": file_bytes,
        "other_load_cores_all": [b["other_load_cores"] for b in builds],
    }
    log(f"   hnswlib build {build['seconds']:.2f} s (median of {len(builds)}), index {saved_bytes / 2**20:.1f} MiB")
    runs = []
    for mode, threads in (("single-thread", 1), ("batched", args.batch_threads)):
        index.set_num_threads(threads)
        with Threads(threads):
            points, other = timed_sweep(
                args, "hnswlib", lambda: index.knn_query(queries, k=args.k, num_threads=threads)[0],
                index.set_ef, args.ef_search, threads, base, queries, gt_ids)
        runs.append(run_record("hnswlib", mode, threads, {"type": "hnsw", "space": "ip", "m": args.m,
                               "efConstruction": args.ef_construction, "seed": args.seed}, build, points, other))
    return runs


def run_faiss_ivf(args, base, queries, gt_ids, nlist):
    import faiss

    n, d = base.shape
    builds, index = [], None
    for _ in range(args.build_repeats):
        index = None
        wait_for_quiet(args, "a faiss IVF build")
        with Threads(args.build_threads), LoadMeter() as meter:
            t0 = time.perf_counter()
            quantizer = faiss.IndexFlatIP(d)
            index = faiss.IndexIVFFlat(quantizer, d, nlist, faiss.METRIC_INNER_PRODUCT)
            index.own_fields = True
            quantizer.this.disown()
            index.cp.seed = args.seed
            index.train(base)
            t1 = time.perf_counter()
            index.add(base)
            t2 = time.perf_counter()
        builds.append({"seconds": t2 - t0, "train_seconds": t1 - t0, "add_seconds": t2 - t1,
                       "other_load_cores": meter.other_cores})
    serialised = int(faiss.serialize_index(index).size)
    sizes = [index.invlists.list_size(i) for i in range(nlist)]
    build = {
        "seconds": median([b["seconds"] for b in builds]), "seconds_all": [b["seconds"] for b in builds],
        "train_seconds": median([b["train_seconds"] for b in builds]),
        "add_seconds": median([b["add_seconds"] for b in builds]),
        "threads": args.build_threads, "bytes": serialised,
        "bytes_method": "len(faiss.serialize_index(index)) (centroids, vectors, int64 ids)",
        "other_load_cores_all": [b["other_load_cores"] for b in builds],
        "kmeans": {"niter": index.cp.niter, "spherical": bool(index.cp.spherical),
                   "max_points_per_centroid": index.cp.max_points_per_centroid, "seed": index.cp.seed},
        "list_sizes": {"min": min(sizes), "median": median(sizes), "max": max(sizes), "empty": sizes.count(0)},
    }
    log(f"   faiss IVF build {build['seconds']:.2f} s (train {build['train_seconds']:.2f} s; median of {len(builds)}), "
        f"index {serialised / 2**20:.1f} MiB")
    runs = []
    for mode, threads in (("single-thread", 1), ("batched", args.batch_threads)):
        def set_nprobe(p):
            index.nprobe = p

        with Threads(threads):
            points, other = timed_sweep(args, "faiss-ivf", lambda: index.search(queries, args.k)[1],
                                        set_nprobe, [p for p in args.nprobe if p <= nlist], threads, base, queries,
                                        gt_ids)
        runs.append(run_record("faiss-ivf", mode, threads, {"type": "ivf", "nlist": nlist, "seed": args.seed},
                               build, points, other))
    return runs


def run_record(tool, mode, threads, index, build, points, other_load_cores):
    label, family, pname = TOOLS[tool]
    return {"tool": tool, "label": label, "family": family, "parameter": pname, "mode": mode,
            "threads": threads, "index": index, "build": build, "points": points,
            "other_load_cores": other_load_cores}


# ---------------------------------------------------------------------------------------------
# dmleval, as a child process (or from precomputed JSON)


def ensure_dmleval(args):
    if os.access(args.dmleval, os.X_OK):
        return
    if args.build:
        cmd = ["swift", "build", "-c", "release", "--product", "dmleval"]
        log(f"building dmleval: {' '.join(cmd)}")
        subprocess.run(cmd, cwd=REPO, check=True)
        if os.access(args.dmleval, os.X_OK):
            return
    raise SystemExit(f"error: no dmleval at {args.dmleval}; run `swift build -c release --product dmleval` "
                     "(or pass --build, --skip-dmleval, or --dmleval-json FILE)")


def parse_json_document(text):
    """The first JSON object in text (dmleval --format json prints one; anything before it is ignored)."""
    start = text.find("{")
    if start < 0:
        raise ValueError(f"no JSON object in output beginning {text[:300]!r}")
    obj, _ = json.JSONDecoder().raw_decode(text[start:])
    return obj


def run_dmleval_process(args, binary, family, threads, data, nlist):
    cmd = [binary, "index", "sweep", data["files"]["base"], "--queries", data["files"]["queries"],
           "--index", family]
    if family == "hnsw":
        cmd += ["--m", str(args.m), "--ef-construction", str(args.ef_construction),
                "--ef-search", ",".join(map(str, args.ef_search))]
    else:
        cmd += ["--nlist", str(nlist), "--nprobe", ",".join(str(p) for p in args.nprobe if p <= nlist)]
    cmd += ["--k", str(args.k), "--threads", str(threads), "--build-threads", str(args.build_threads),
            "--seed", str(args.seed), "--format", "json"]
    use_time = os.access(GNU_TIME, os.X_OK)
    wait_for_quiet(args, f"dmleval {family} on {threads} thread(s)")
    with tempfile.NamedTemporaryFile(mode="r", suffix=".rss") as rss_file, LoadMeter() as meter:
        full = [GNU_TIME, "-f", "%M", "-o", rss_file.name, *cmd] if use_time else cmd
        t0 = time.perf_counter()
        proc = subprocess.run(full, capture_output=True, text=True, stdin=subprocess.DEVNULL)
        wall = time.perf_counter() - t0
        rss_lines = [line for line in rss_file.read().splitlines() if line.strip()]
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} exited {proc.returncode}:\n{proc.stderr[-2000:]}")
    out = parse_json_document(proc.stdout)
    out["_process"] = {"command": cmd, "wall_seconds": wall, "other_load_cores": meter.other_cores,
                       "peak_rss_bytes": int(rss_lines[-1]) * 1024 if use_time and rss_lines else None}
    return out


def load_dmleval_json(paths):
    docs = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            obj = json.load(f)
        for doc in obj if isinstance(obj, list) else [obj]:
            doc.setdefault("_process", {"precomputed": os.path.abspath(path)})
            docs.append(doc)
    return docs


def check_dmleval_doc(doc, args, data, nlist, warnings):
    where = f"dmleval {doc.get('index', {}).get('type')} T={doc.get('searchThreads')}"
    expect = {"references": data["base_rows"], "queries": data["query_rows"], "dimension": data["dimension"], "k": args.k}
    for key, value in expect.items():
        if doc.get(key) != value:
            warnings.append(f"{where}: {key} = {doc.get(key)}, expected {value}")
    idx = doc.get("index", {})
    if idx.get("type") == "hnsw" and (idx.get("m"), idx.get("efConstruction")) != (args.m, args.ef_construction):
        warnings.append(f"{where}: m/efConstruction = {idx.get('m')}/{idx.get('efConstruction')}, "
                        f"expected {args.m}/{args.ef_construction}")
    if idx.get("type") == "ivf" and idx.get("nlist") != nlist:
        warnings.append(f"{where}: nlist = {idx.get('nlist')}, expected {nlist}")
    if doc.get("distance") not in (None, "cosine"):
        warnings.append(f"{where}: distance {doc.get('distance')!r}, expected 'cosine'")


def dmleval_runs(args, data, nlist, warnings):
    """Runs dmleval per index and thread count (or reads --dmleval-json); returns run records."""
    families = [TOOLS[t][1] for t in args.tools if t.startswith("dmleval")]
    if not families:
        return []
    if args.dmleval_json:
        docs = load_dmleval_json(args.dmleval_json)
    else:
        ensure_dmleval(args)
        snapshot_dir = tempfile.mkdtemp(prefix="ann-benchmark-")
        binary = os.path.join(snapshot_dir, "dmleval")
        shutil.copy2(args.dmleval, binary)
        docs = []
        try:
            for family in families:
                for threads in (1, args.batch_threads):
                    for _ in range(args.dmleval_runs):
                        log(f"   dmleval index sweep --index {family} --threads {threads}")
                        docs.append(run_dmleval_process(args, binary, family, threads, data, nlist))
        finally:
            shutil.rmtree(snapshot_dir, ignore_errors=True)
        raw_path = os.path.join(args.out_dir, "ann-dmleval-raw.json")
        with open(raw_path, "w", encoding="utf-8") as f:
            json.dump(docs, f, indent=2)
            f.write("\n")
        log(f"wrote {raw_path} (dmleval's documents as printed; reuse with --dmleval-json)")

    records = []
    for family in families:
        tool = f"dmleval-{family}"
        _, _, pname = TOOLS[tool]
        mine = [d for d in docs if d.get("index", {}).get("type") == family]
        if not mine:
            warnings.append(f"no dmleval results for index {family}")
            continue
        for d in mine:
            check_dmleval_doc(d, args, data, nlist, warnings)
        builds = [d["build"] for d in mine if d.get("build")]
        build = {
            "seconds": median([b["seconds"] for b in builds if b.get("seconds") is not None]),
            "seconds_all": [b.get("seconds") for b in builds],
            "threads": builds[0].get("threads") if builds else None,
            "bytes": builds[0].get("bytes") if builds else None,
            "bytes_method": "build.bytes as dmleval reports it",
            "peak_rss_bytes_all": [d["_process"].get("peak_rss_bytes") for d in mine],
        }
        for threads in sorted({d.get("searchThreads") for d in mine}):
            same = [d for d in mine if d.get("searchThreads") == threads]
            by_value = {}
            for d in same:
                for p in d.get("points", []):
                    by_value.setdefault(p[pname], []).append(p)
            points = []
            for v in sorted(by_value):
                ps = by_value[v]
                seconds = [p["seconds"] for p in ps if p.get("seconds") is not None]
                s = median(seconds)
                qps = data["query_rows"] / s if s else median([p["queriesPerSecond"] for p in ps])
                points.append({pname: v, "recall": median([p["recall"] for p in ps]), "seconds": s,
                               "queriesPerSecond": qps, "seconds_all": seconds})
            mode = "single-thread" if threads == 1 else "batched"
            loads = [d["_process"].get("other_load_cores") for d in same]
            loads = [v for v in loads if v is not None]
            rec = run_record(tool, mode, threads, same[0].get("index", {}), build, points, median(loads))
            rec["dmleval_processes"] = [d["_process"] for d in same]
            records.append(rec)
    return records


# ---------------------------------------------------------------------------------------------
# Context, report, plot


def blas_kernels():
    from threadpoolctl import threadpool_info

    return [{"api": i.get("internal_api"), "version": i.get("version"), "architecture": i.get("architecture"),
             "threads": i.get("num_threads"), "library": os.path.basename(i.get("filepath", ""))}
            for i in threadpool_info()]


def context(args):
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
    try:
        mem = next(int(line.split()[1]) for line in open("/proc/meminfo") if line.startswith("MemTotal"))
        mem_gib = round(mem / 2**20, 1)
    except (OSError, StopIteration):
        mem_gib = None
    ctx = {
        "date": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "cpu": cpu, "cores": os.cpu_count(), "memory_gib": mem_gib, "platform": platform.platform(),
        "python": platform.python_version(),
        "packages": {n: metadata.version(n) for n in ("numpy", "faiss-cpu", "hnswlib", "matplotlib", "threadpoolctl")},
        "openblas_env": {v: os.environ.get(v) for v in OPENBLAS_VARS},
        "blas_kernels": blas_kernels(),
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_sources_modified": bool(git("status", "--porcelain", "--", "Sources", "Package.swift")),
        "repeats": args.repeats, "build_repeats": args.build_repeats, "build_threads": args.build_threads,
        "batch_threads": args.batch_threads, "k": args.k, "seed": args.seed,
    }
    if any(t.startswith("dmleval") for t in args.tools):
        if args.dmleval_json:
            ctx["dmleval"] = {"precomputed": [os.path.abspath(p) for p in args.dmleval_json]}
        elif os.access(args.dmleval, os.X_OK):
            version = subprocess.run([args.dmleval, "--version"], capture_output=True, text=True).stdout.strip()
            ctx["dmleval"] = {"binary": os.path.abspath(args.dmleval), "version": version,
                              "binary_mtime": time.strftime("%Y-%m-%d %H:%M:%S",
                                                            time.localtime(os.path.getmtime(args.dmleval)))}
    return ctx


def best_qps(run, min_recall):
    ok = [p for p in run["points"] if p["recall"] >= min_recall]
    return max(ok, key=lambda p: p["queriesPerSecond"]) if ok else None


def qps_at_recall(run, target):
    """QPS at exactly recall target, interpolated (log QPS linear in recall) between the two
    neighbouring points of the sweep that straddle it; None when the sweep does not reach it.
    Less sensitive than best_qps to where the parameter grid happens to fall."""
    pts = run["points"]
    for a, b in zip(pts, pts[1:]):
        if a["recall"] < target <= b["recall"]:
            t = (target - a["recall"]) / (b["recall"] - a["recall"])
            return math.exp(math.log(a["queriesPerSecond"]) * (1 - t) + math.log(b["queriesPerSecond"]) * t)
    return None  # never reached, or already above it at the cheapest setting (no bracket)


def fmt(v, digits=0):
    if v is None:
        return "n/a"
    return f"{v:,.{digits}f}"


def find_run(runs, tool, mode):
    return next((r for r in runs if r["tool"] == tool and r["mode"] == mode), None)


def summary_lines(runs, k, threshold=0.95):
    lines = []
    best = {}
    for tool in TOOL_ORDER:
        for mode in MODES:
            run = find_run(runs, tool, mode)
            if run:
                best[tool, mode] = best_qps(run, threshold)
    parts = []
    for tool in TOOL_ORDER:
        cells = []
        for mode in MODES:
            if (tool, mode) not in best:
                continue
            p = best[tool, mode]
            pname = TOOLS[tool][2]
            run = find_run(runs, tool, mode)
            interp = qps_at_recall(run, threshold)
            at = f", {fmt(interp)} q/s interpolated at {threshold}" if interp else ""
            cells.append(f"{mode} {fmt(p['queriesPerSecond'])} q/s ({pname} {p[pname]}, recall {p['recall']:.3f}{at})"
                         if p else f"{mode} none reaches it")
        if cells:
            parts.append(f"**{TOOLS[tool][0]}**: " + "; ".join(cells))
    lines.append(f"Best QPS at recall@{k} >= {threshold}: " + ". ".join(parts) + ".")
    for ours, ref in (("dmleval-hnsw", "hnswlib"), ("dmleval-ivf", "faiss-ivf")):
        ratios = []
        for mode in MODES:
            a, b = best.get((ours, mode)), best.get((ref, mode))
            if a and b:
                ratio = f"{mode} {a['queriesPerSecond'] / b['queriesPerSecond']:.2f}"
                ia = qps_at_recall(find_run(runs, ours, mode), threshold)
                ib = qps_at_recall(find_run(runs, ref, mode), threshold)
                if ia and ib:
                    ratio += f" (interpolated {ia / ib:.2f})"
                ratios.append(ratio)
        parts = []
        if ratios:
            parts.append(f"best QPS at recall@{k} >= {threshold}: " + ", ".join(ratios) + " (above 1: dmleval faster)")
        ra = find_run(runs, ours, "single-thread") or find_run(runs, ours, "batched")
        rb = find_run(runs, ref, "single-thread") or find_run(runs, ref, "batched")
        if ra and rb and ra["build"].get("seconds") and rb["build"].get("seconds"):
            parts.append(f"build time {ra['build']['seconds'] / rb['build']['seconds']:.2f} (above 1: dmleval slower)")
        if parts:
            lines.append(f"{TOOLS[ours][0]} / {TOOLS[ref][0]}: " + "; ".join(parts) + ".")
    return lines


def contention_check(runs, factor=1.25):
    """How many single-thread reference timings took longer than factor x their CPU time (the
    thread was descheduled: another process wanted the core)."""
    total = slow = 0
    for run in runs:
        if run["mode"] != "single-thread":
            continue
        for p in run["points"]:
            for wall, cpu in zip(p["seconds_all"], p.get("cpu_seconds_all") or []):
                total += 1
                slow += wall > factor * cpu
    if not total:
        return None
    return (f"Contention check: {slow} of {total} single-thread reference timings took more than {factor} x their "
            f"CPU time{' (the machine was busy: treat the QPS figures with care)' if slow > total // 10 else ''}.")


def markdown(ctx, data, runs, nlist, warnings):
    k = ctx["k"]
    lines = []
    pk = ctx["packages"]
    lines.append(f"## Approximate search: recall@{k} vs queries per second")
    lines.append("")
    dml = ctx.get("dmleval")
    dml_text = ""
    if dml and dml.get("version"):
        dml_text = (f"dmleval {dml['version']} (git {ctx['git_commit']}"
                    f"{', Sources modified' if ctx['git_sources_modified'] else ''}, binary {dml['binary_mtime']}); ")
    elif dml:
        dml_text = "dmleval: precomputed results; "
    lines.append(f"{ctx['cpu']}, {ctx['cores']} cores, {ctx['memory_gib']} GiB; {dml_text}"
                 f"hnswlib {pk['hnswlib']}, faiss-cpu {pk['faiss-cpu']}, numpy {pk['numpy']}; {ctx['date']}.")
    gt = data["groundtruth"]
    lines.append(f"Data: {data['title']} ({data['source']}), {data['rows']:,} x {data['dimension']}; "
                 f"{data['query_rows']:,} queries held out (seed {data['split_seed']}), base {data['base_rows']:,} rows "
                 f"({data['base_mib']:.1f} MiB). Exact top-{k} by inner product (numpy, equal scores by lower row index; "
                 f"faiss IndexFlatIP agrees {'up to ties' if gt['faiss_flat_mismatches_are_ties'] else 'NOT only up to ties'}, "
                 f"{gt['queries_with_tie_at_k']} queries have a tie at rank {k}).")
    env = ", ".join(f"{k_}={v}" for k_, v in ctx["openblas_env"].items() if v is not None) or "none set"
    lines.append(f"single-thread: 1 thread, the whole query matrix in one call; batched: {ctx['batch_threads']} threads. "
                 f"Builds on {ctx['build_threads']} threads. Reference points: median of {ctx['repeats']} searches "
                 f"after a warm-up; reference builds: median of {ctx['build_repeats']}. OpenBLAS environment: {env}. "
                 f"Load average before/after: {ctx['loadavg_before']} / {ctx['loadavg_after']}.")
    lines.append("")
    for line in summary_lines(runs, k):
        lines.append(line)
        lines.append("")

    lines.append("### Builds")
    lines.append("")
    lines.append("| tool | index | build (s) | threads | memory (MiB) | memory measured as | other load (cores) |")
    lines.append("| --- | --- | ---: | ---: | ---: | --- | ---: |")
    for tool in TOOL_ORDER:
        run = find_run(runs, tool, "single-thread") or find_run(runs, tool, "batched")
        if not run:
            continue
        b = run["build"]
        idx = ", ".join(f"{k_} {v}" for k_, v in run["index"].items() if k_ != "type")
        secs = fmt(b.get("seconds"), 2)
        if b.get("train_seconds") is not None:
            secs += f" (train {b['train_seconds']:.2f})"
        mem = fmt(b["bytes"] / 2**20, 1) if b.get("bytes") is not None else "n/a"
        if tool.startswith("dmleval"):
            loads = [p.get("other_load_cores") for r in runs if r["tool"] == tool for p in r.get("dmleval_processes", [])]
        else:
            loads = b.get("other_load_cores_all") or []
        loads = [v for v in loads if v is not None]
        load = f"{median(loads):.2f}" if loads else "n/a"
        lines.append(f"| {run['label']} | {run['index'].get('type')}: {idx} | {secs} | {b.get('threads')} | {mem} "
                     f"| {b.get('bytes_method')} | {load} |")
    lines.append("")

    for tool in TOOL_ORDER:
        single, batched = find_run(runs, tool, "single-thread"), find_run(runs, tool, "batched")
        if not (single or batched):
            continue
        label, _, pname = TOOLS[tool]
        lines.append(f"### {label}")
        lines.append("")
        lines.append(f"| {pname} | recall@{k} | recall@{k}, ties counted | QPS 1 thread | QPS {ctx['batch_threads']} threads |")
        lines.append("| ---: | ---: | ---: | ---: | ---: |")
        values = sorted({p[pname] for r in (single, batched) if r for p in r["points"]})
        for v in values:
            ps = [next((p for p in r["points"] if p[pname] == v), None) if r else None for r in (single, batched)]
            first = next(p for p in ps if p)
            rec = f"{first['recall']:.4f}"
            if ps[0] and ps[1] and abs(ps[0]["recall"] - ps[1]["recall"]) > 5e-5:
                rec += f" ({ctx['batch_threads']} threads: {ps[1]['recall']:.4f})"
            ties = f"{first['recall_tie_aware']:.4f}" if first.get("recall_tie_aware") is not None else "n/a"
            qps = [fmt(p["queriesPerSecond"]) if p else "" for p in ps]
            lines.append(f"| {v} | {rec} | {ties} | {qps[0]} | {qps[1]} |")
        lines.append("")
        loads = [f"{r['threads']} thread{'s' if r['threads'] > 1 else ''} {r['other_load_cores']:.2f}"
                 for r in (single, batched) if r and r.get("other_load_cores") is not None]
        if loads:
            lines.append(f"Cores kept busy by other processes during these searches: {', '.join(loads)}.")
            lines.append("")
    contention = contention_check(runs)
    if contention:
        lines.append(contention)
        lines.append("")
    if warnings:
        lines.append("Warnings: " + "; ".join(warnings) + ".")
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def plot(path, ctx, data, runs, min_recall):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    matplotlib.rcParams["svg.hashsalt"] = "dmleval-ann-benchmark"
    matplotlib.rcParams["svg.fonttype"] = "path"
    colours = {"dmleval-hnsw": "#d62728", "hnswlib": "#1f77b4", "dmleval-ivf": "#ff7f0e", "faiss-ivf": "#2ca02c"}
    markers = {"dmleval-hnsw": "o", "hnswlib": "s", "dmleval-ivf": "^", "faiss-ivf": "D"}
    fig, ax = plt.subplots(figsize=(8, 5.5))
    k = ctx["k"]
    for tool in TOOL_ORDER:
        for mode in MODES:
            run = find_run(runs, tool, mode)
            if not run or not run["points"]:
                continue
            pts = run["points"]
            ax.plot([p["recall"] for p in pts], [p["queriesPerSecond"] for p in pts],
                    color=colours[tool], marker=markers[tool], markersize=4,
                    linestyle="-" if mode == "single-thread" else "--",
                    label=f"{run['label']}, {run['threads']} thread{'s' if run['threads'] > 1 else ''}")
    ax.set_yscale("log")
    ax.set_xlim(min_recall, 1.0 + (1.0 - min_recall) * 0.02)
    ax.set_xlabel(f"recall@{k} (row ids against exact search; exact duplicate rows cap it a little below 1)")
    ax.set_ylabel("queries per second (log)")
    ax.grid(True, which="both", linewidth=0.4, alpha=0.5)
    ax.legend(fontsize=8, loc="lower left")
    cpu = ctx["cpu"]
    ax.axvline(0.95, color="0.6", linewidth=0.8, linestyle=":")
    ax.set_title(f"{data['title']}: {data['base_rows']:,} x {data['dimension']} base, {data['query_rows']:,} queries, "
                 f"k = {k}\n{cpu}, {ctx['cores']} cores; hnswlib {ctx['packages']['hnswlib']}, "
                 f"faiss-cpu {ctx['packages']['faiss-cpu']}", fontsize=10)
    fig.tight_layout()
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    fmt_ = os.path.splitext(path)[1].lstrip(".").lower() or "svg"
    # No date in the SVG (and fixed element ids through svg.hashsalt): reruns differ only by the figures.
    fig.savefig(path, format=fmt_, metadata={"Date": None} if fmt_ in ("svg", "pdf") else None)
    plt.close(fig)


# ---------------------------------------------------------------------------------------------


def main(argv):
    args = parse_args(argv)
    try:
        import faiss  # noqa: F401
        import numpy  # noqa: F401
        import threadpoolctl  # noqa: F401
        if "hnswlib" in args.tools:
            import hnswlib  # noqa: F401
        if args.plot:
            import matplotlib  # noqa: F401
    except ImportError as e:
        print(f"error: {e}; run this with .venv-reference/bin/python after bash scripts/setup-reference-env.sh",
              file=sys.stderr)
        return 2
    if any(t.startswith("dmleval") for t in args.tools) and not args.dmleval_json:
        ensure_dmleval(args)

    ctx = context(args)
    log(f"{ctx['cpu']}, {ctx['cores']} cores; hnswlib {ctx['packages']['hnswlib']}, faiss-cpu {ctx['packages']['faiss-cpu']}")
    ctx["loadavg_before"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    started = time.perf_counter()
    base, queries, gt_ids, data = prepare_data(args)
    nlist = args.nlist or int(round(4 * math.sqrt(base.shape[0])))
    log(f"== {data['name']}: base {base.shape[0]} x {base.shape[1]}, {queries.shape[0]} queries, nlist {nlist}")

    warnings = []
    runs = []
    if "hnswlib" in args.tools:
        log("== hnswlib")
        runs += run_hnswlib(args, base, queries, gt_ids)
    if "faiss-ivf" in args.tools:
        log("== faiss IVF-Flat")
        runs += run_faiss_ivf(args, base, queries, gt_ids, nlist)
    if any(t.startswith("dmleval") for t in args.tools):
        log("== dmleval")
        runs += dmleval_runs(args, data, nlist, warnings)
    runs.sort(key=lambda r: (TOOL_ORDER.index(r["tool"]), MODES.index(r["mode"])))
    ctx["loadavg_after"] = " ".join(f"{v:.2f}" for v in os.getloadavg())
    ctx["elapsed_seconds"] = time.perf_counter() - started
    ctx["nlist"] = nlist

    report = markdown(ctx, data, runs, nlist, warnings)
    print(report)
    md_path = os.path.join(args.out_dir, "ann.md")
    json_path = os.path.join(args.out_dir, "ann.json")
    with open(md_path, "w", encoding="utf-8") as f:
        f.write(report)
    with open(json_path, "w", encoding="utf-8") as f:
        figures = {f"{r['tool']}/{r['mode']}": {
            "best_at_0.95": best_qps(r, 0.95), "qps_interpolated_at_0.95": qps_at_recall(r, 0.95),
            "build_seconds": r["build"].get("seconds"), "index_bytes": r["build"].get("bytes")} for r in runs}
        json.dump({"context": ctx, "data": data, "runs": runs, "summary": summary_lines(runs, args.k),
                   "summary_figures": figures,
                   "warnings": warnings}, f, indent=2)
        f.write("\n")
    log(f"wrote {json_path} and {md_path}")
    if args.plot:
        plot(args.plot, ctx, data, runs, args.plot_min_recall)
        log(f"wrote {args.plot}")
    for w in warnings:
        log(f"warning: {w}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
