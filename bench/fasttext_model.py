#!/usr/bin/env python3
"""Makes a fastText model of realistic size for the load-time figure in README.md, and times
gensim's load_facebook_vectors on it.

    /work/venv-formats/bin/python bench/fasttext_model.py OUT.bin

Trains gensim's FastText (skipgram, 100 dims, fastText's default 2,000,000 buckets, n-grams
3-6) on gensim's Lee corpus repeated to a few MB, saves it in fastText's native format,
then loads it back with gensim three times and prints the best time.
"""
import os
import sys
import time

from gensim.models import FastText
from gensim.models.fasttext import load_facebook_vectors, save_facebook_model
from gensim.test.utils import datapath
from gensim.utils import simple_preprocess

out = sys.argv[1]
if not os.path.exists(out):
    with open(datapath("lee_background.cor"), encoding="utf-8") as f:
        lines = [simple_preprocess(line) for line in f]
    corpus = lines * 12
    size = sum(len(" ".join(s)) for s in corpus)
    print(f"corpus: {len(corpus)} lines, {size / 1e6:.1f} MB of text")
    model = FastText(vector_size=100, sg=1, bucket=2_000_000, min_n=3, max_n=6, min_count=1,
                     epochs=1, workers=2, seed=1)
    model.build_vocab(corpus)
    model.train(corpus, total_examples=len(corpus), epochs=1)
    save_facebook_model(model, out)
print(f"model: {os.path.getsize(out) / 1e6:.0f} MB")
best = None
for _ in range(3):
    t = time.perf_counter()
    kv = load_facebook_vectors(out)
    dt = time.perf_counter() - t
    best = dt if best is None else min(best, dt)
    del kv
print(f"gensim load_facebook_vectors: best of 3 {best:.2f} s")
