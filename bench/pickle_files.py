#!/usr/bin/env python3
"""Writes GloVe 6B 50d's 400k words as a pickled dict and as gensim's KeyedVectors.save, for
bench/pickle_load.sh, and prints how long Python itself takes to load each (best of 3).

    python3 bench/pickle_files.py GLOVE.w2v.bin OUTDIR

OUTDIR/glove400k.pkl: pickle.dump({word: float32 array}, f, protocol 4), as a Python 3 user
writes one; OUTDIR/glove400k.kv (+ .kv.vectors.npy): KeyedVectors.save. Both are written once.
"""
import os
import pickle
import sys
import time

import numpy as np
from gensim.models import KeyedVectors

src, out = sys.argv[1], sys.argv[2]
os.makedirs(out, exist_ok=True)
pkl = os.path.join(out, "glove400k.pkl")
kv_path = os.path.join(out, "glove400k.kv")
if not (os.path.exists(pkl) and os.path.exists(kv_path)):
    kv = KeyedVectors.load_word2vec_format(src, binary=True)
    with open(pkl, "wb") as f:
        pickle.dump({w: kv.vectors[i].astype(np.float32) for i, w in enumerate(kv.index_to_key)}, f, 4)
    kv.save(kv_path)


def best(load):
    times = []
    for _ in range(3):
        t = time.perf_counter()
        load()
        times.append(time.perf_counter() - t)
    return min(times)


def load_pkl():
    with open(pkl, "rb") as f:
        pickle.load(f)


print(f"python pickle.load {pkl}: {best(load_pkl):.2f} s (best of 3)")
print(f"gensim KeyedVectors.load {kv_path}: {best(lambda: KeyedVectors.load(kv_path)):.2f} s (best of 3)")
