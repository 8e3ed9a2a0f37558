#!/usr/bin/env python3
"""Splits labelled embeddings by class, half of the classes for training and half for testing,
as the paper splits CUB-200 and Cars196, so that no test class is seen in training.

    python3 scripts/split-classes.py EMBEDDINGS.npy LABELS.txt OUT_PREFIX

Classes with a single item are dropped (nothing could be retrieved for them). The classes are
sorted by name; even positions go to training, odd to testing. Writes OUT_PREFIX-train.npy,
OUT_PREFIX-train.txt, OUT_PREFIX-test.npy and OUT_PREFIX-test.txt, and prints the sizes.
Needs numpy only.
"""
import sys

import numpy as np


def main():
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    embeddings_path, labels_path, prefix = sys.argv[1:]
    x = np.load(embeddings_path)
    with open(labels_path, encoding="utf-8") as f:
        labels = np.array([line.strip() for line in f if line.strip()])
    if len(labels) != len(x):
        sys.exit(f"{labels_path}: {len(labels)} labels for {len(x)} rows of {embeddings_path}")
    names, counts = np.unique(labels, return_counts=True)
    kept = sorted(names[counts >= 2])
    halves = {"train": set(kept[0::2]), "test": set(kept[1::2])}
    for part, classes in halves.items():
        rows = np.array([label in classes for label in labels])
        np.save(f"{prefix}-{part}.npy", x[rows])
        with open(f"{prefix}-{part}.txt", "w", encoding="utf-8") as f:
            f.write("\n".join(labels[rows]) + "\n")
        print(f"{prefix}-{part}: {rows.sum()} items in {len(classes)} classes")


if __name__ == "__main__":
    main()
