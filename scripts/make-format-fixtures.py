#!/usr/bin/env python3
"""Writes fixtures/formats/: the same embeddings in every input format dmleval reads, as
PyTorch, numpy and safetensors write them, plus the broken files of docs/formats.md.

    python3 -m venv /tmp/fx && /tmp/fx/bin/pip install numpy safetensors torch
    /tmp/fx/bin/python scripts/make-format-fixtures.py fixtures/formats

Every value is k/64 for an integer k in [-128, 127]: 8 significant bits, so float16 and
bfloat16 hold it exactly and every file below carries exactly the values of reference.npy.
Tests/RetrievalEvalTests/FormatFixtureTests.swift reads each file and checks it against
reference.npy (values, labels, and the metrics of a full evaluation).
"""
import os
import struct
import sys
import zipfile

import numpy as np
import torch
from safetensors.numpy import save_file as save_numpy
from safetensors.torch import save_file as save_torch

out = sys.argv[1] if len(sys.argv) > 1 else "fixtures/formats"
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(13)
n, d, classes = 120, 12, 6
labels = rng.integers(0, classes, n).astype(np.int64)
# Class centres plus noise, rounded to multiples of 1/64 within [-2, 2).
centres = rng.integers(-40, 41, (classes, d))
k = np.clip(centres[labels] + rng.integers(-40, 41, (n, d)), -128, 127)
x = (k / 64.0).astype(np.float32)
p = lambda name: os.path.join(out, name)

np.save(p("reference.npy"), x)                       # float32, C order: what the others must equal
np.save(p("labels.npy"), labels)
np.save(p("float16.npy"), x.astype(np.float16))      # mixed-precision output
np.save(p("fortran.npy"), np.asfortranarray(x))      # Fortran order (x.T of a (d, n) array)
np.save(p("big-endian.npy"), x.astype(">f4"))
np.save(p("big-endian-float16.npy"), np.asfortranarray(x.astype(">f2")))  # both at once
np.savez(p("stored.npz"), emb=x, labels=labels)                 # stored members
np.savez_compressed(p("deflated.npz"), emb=x, labels=labels)    # deflated members
np.savez(p("single.npz"), x)                                     # one array, named arr_0

t = torch.from_numpy(x)
tl = torch.from_numpy(labels)
save_torch({"emb": t, "labels": tl}, p("float32.safetensors"))
save_torch({"emb": t.half(), "labels": tl}, p("float16.safetensors"))
save_torch({"emb": t.bfloat16(), "labels": tl.int()}, p("bfloat16.safetensors"))
save_numpy({"emb": x}, p("single.safetensors"))

# Broken files: each must be one error line naming the file, member or tensor, and byte.
bad = x.astype(np.float16)
bad[3, 5] = np.inf
np.save(p("bad-float16-inf.npy"), bad)
with zipfile.ZipFile(p("bad-member.npz"), "w") as z:
    z.writestr("emb.npy", b"not an array\n")
raw = open(p("float32.safetensors"), "rb").read()
(hlen,) = struct.unpack("<Q", raw[:8])
open(p("bad-truncated-header.safetensors"), "wb").write(raw[: 8 + hlen // 2])
open(p("bad-past-end.safetensors"), "wb").write(raw[:-100])
print("wrote", sorted(os.listdir(out)))
