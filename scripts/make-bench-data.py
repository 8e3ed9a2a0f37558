#!/usr/bin/env python3
"""Writes the benchmark inputs of scripts/compare-reference.py into a directory.

    .venv-reference/bin/python scripts/make-bench-data.py [DIR] [--force] [--no-real]

DIR defaults to .bench-data/ (gitignored). Files written:

  clustered-20000x512.fbin          20,000 x 512 float32 (big-ann-benchmarks fbin layout)
  clustered-20000x512-labels.npy    int64 class ids, 200 classes of 100
  clustered-60000x128.npy           60,000 x 128 float32 (.npy)
  clustered-60000x128-labels.txt    text labels ("class-0000" ...), 600 classes of 100
  deep-30001x384.npy                30,001 x 384 float32 (.npy): 20 unequal classes, the largest
  deep-30001x384-labels.npy         5,001 items (MAP@R searches 5,000 deep), int64 class ids
  large-classes-42375x384.npy       42,375 x 384 float32 (.npy): the held-back set's shape (58
  large-classes-42375x384-labels.npy  classes of 46 to 4,512 items, mean R 2,008), int64 class ids
  datasets.json                     the manifest compare-reference.py reads: name, files, shape

Each synthetic set is Gaussian clusters: a random unit centre per class, plus isotropic noise
of norm about `noise` times the centre's, the rows then L2-normalised and shuffled (so classes
are not contiguous). Seeded: the same numpy writes the same bytes. The noise levels are chosen
so that the sets are neither trivial nor hopeless (recall@1 about 0.8-0.9, MAP@R about 0.2-0.3).

The real set, when /work/shared/data/debian-descriptions/ exists (or --real-dir points at a
copy), is listed in the manifest by its path, not copied: 21,306 x 384 sentence embeddings,
labelled by Debian archive section (58 classes of 6 to 2,199 items).

Files already present are kept unless --force.
"""
import argparse
import json
import os
import sys

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_REAL_DIR = "/work/shared/data/debian-descriptions"

# Class sizes of the deep set: unequal, like real large-class data (the held-back set has
# 58 classes with R up to 4,511 and mean R 2,020); the largest gives a depth of 5,000.
DEEP_SIZES = [5001, 4200, 3500, 2900, 2400, 2000, 1700, 1450, 1250, 1100,
              950, 800, 680, 560, 450, 350, 270, 200, 140, 100]
assert sum(DEEP_SIZES) == 30001

# The held-back set's shape, as the issue gives it: 42,375 rows, 58 unequal classes, R up to
# 4,511, mean R 2,020 (these sizes: 4,512 down to 46, n_i = 4,512 exp(-0.2126 i^0.76), mean R
# 2,008). Its vectors are not the held-back ones (those are not ours), so only its shape, and
# with it the search's depth and the work per query, is like it.
LARGE_CLASS_SIZES = [4512, 3648, 3148, 2764, 2452, 2191, 1968, 1775, 1607, 1459, 1328, 1211, 1107, 1014, 929,
                     854, 785, 723, 667, 615, 568, 526, 486, 451, 418, 388, 360, 334, 311, 289, 269, 251, 234,
                     218, 203, 190, 177, 165, 154, 144, 135, 126, 118, 111, 104, 97, 91, 85, 80, 75, 71, 66, 62,
                     59, 55, 52, 49, 46]
assert sum(LARGE_CLASS_SIZES) == 42375 and len(LARGE_CLASS_SIZES) == 58

# name, classes, items per class (or the list of class sizes), dimension, noise, seed,
# embeddings format, labels format, heavy (PML comparison only with --heavy)
SYNTHETIC = [
    ("clustered-20000x512", 200, 100, 512, 3.0, 20000512, "fbin", "npy", False),
    ("clustered-60000x128", 600, 100, 128, 2.0, 60000128, "npy", "txt", False),
    ("deep-30001x384", len(DEEP_SIZES), DEEP_SIZES, 384, 3.5, 30000384, "npy", "npy", True),
    ("large-classes-42375x384", len(LARGE_CLASS_SIZES), LARGE_CLASS_SIZES, 384, 3.5, 42375384, "npy", "npy", True),
]


def clustered(classes, per_class, dim, noise, seed):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim), dtype=np.float32)
    centres /= np.linalg.norm(centres, axis=1, keepdims=True)
    labels = np.repeat(np.arange(classes, dtype=np.int64), per_class)
    rng.shuffle(labels)
    x = rng.standard_normal((labels.size, dim), dtype=np.float32)
    x *= np.float32(noise / np.sqrt(dim))
    x += centres[labels]
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return np.ascontiguousarray(x, dtype=np.float32), labels


def write_fbin(path, x):
    with open(path, "wb") as f:
        np.array(x.shape, dtype="<u4").tofile(f)
        x.astype("<f4", copy=False).tofile(f)


def write_labels(path, labels, fmt):
    if fmt == "npy":
        np.save(path, labels.astype(np.int64))
    else:
        with open(path, "w", encoding="utf-8") as f:
            f.write("".join(f"class-{v:04d}\n" for v in labels))


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir", nargs="?", default=os.path.join(REPO, ".bench-data"))
    ap.add_argument("--force", action="store_true", help="rewrite files that exist")
    ap.add_argument("--no-real", action="store_true", help="leave the real data set out of the manifest")
    ap.add_argument("--real-dir", default=DEFAULT_REAL_DIR, help="folder with embeddings.npy and sections.txt")
    args = ap.parse_args()

    os.makedirs(args.dir, exist_ok=True)
    manifest = []
    for name, classes, per_class, dim, noise, seed, efmt, lfmt, heavy in SYNTHETIC:
        emb = os.path.join(args.dir, f"{name}.{efmt}")
        lab = os.path.join(args.dir, f"{name}-labels.{lfmt}")
        if args.force or not (os.path.exists(emb) and os.path.exists(lab)):
            x, labels = clustered(classes, per_class, dim, noise, seed)
            if efmt == "fbin":
                write_fbin(emb, x)
            else:
                np.save(emb, x)
            write_labels(lab, labels, lfmt)
            print(f"wrote {emb} ({x.shape[0]} x {x.shape[1]}) and {lab}")
        else:
            print(f"kept {emb} and {lab}")
        sizes = per_class if isinstance(per_class, list) else [per_class] * classes
        entry = {
            "name": name, "embeddings": os.path.abspath(emb), "labels": os.path.abspath(lab),
            "rows": sum(sizes), "dimensions": dim, "classes": classes,
            "kind": f"synthetic: {classes} Gaussian clusters of "
                    + (f"{min(sizes)} to {max(sizes)}" if isinstance(per_class, list) else f"{per_class}")
                    + f", noise {noise}, seed {seed}",
        }
        if heavy:
            # MAP@R searches max(sizes) - 1 deep: the PML comparison only with --heavy.
            entry["heavy"] = True
        manifest.append(entry)

    real_emb = os.path.join(args.real_dir, "embeddings.npy")
    real_lab = os.path.join(args.real_dir, "sections.txt")
    if not args.no_real and os.path.exists(real_emb) and os.path.exists(real_lab):
        x = np.load(real_emb, mmap_mode="r")
        with open(real_lab, encoding="utf-8") as f:
            classes = len({line.strip() for line in f})
        manifest.append({
            "name": "debian-sections", "embeddings": real_emb, "labels": real_lab,
            "rows": int(x.shape[0]), "dimensions": int(x.shape[1]), "classes": classes,
            "kind": "real: Debian package descriptions (all-MiniLM-L6-v2), labelled by archive section",
            # MAP@R and R-Precision search as deep as the largest class (2,198 neighbours here):
            # compare-reference.py runs its PML comparison on this set only with --heavy.
            "heavy": True,
        })
        print(f"listed {real_emb} ({x.shape[0]} x {x.shape[1]}, {classes} classes)")
    elif not args.no_real:
        print(f"no real data set at {args.real_dir}; left out", file=sys.stderr)

    path = os.path.join(args.dir, "datasets.json")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(manifest, f, indent=2)
        f.write("\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
