#!/usr/bin/env python3
"""A second 400k x 50 space for bench/changed.sh: GloVe 6B 50d rotated by a random orthogonal
matrix, each row with 10% noise, 50 chosen words' vectors swapped in pairs. Written to
~/.cache/vecsh-data/glove.changed.txt by default (not in the repository):

    python3 bench/changed_pair.py [GLOVE_TXT [OUT]]    (needs numpy)
"""
import os
import sys
import numpy as np

src = sys.argv[1] if len(sys.argv) > 1 else os.path.expanduser("~/.cache/vecsh-data/glove.6B.50d.txt")
out = sys.argv[2] if len(sys.argv) > 2 else os.path.expanduser("~/.cache/vecsh-data/glove.changed.txt")
words, rows = [], []
with open(src, encoding="utf-8") as f:
    for line in f:
        parts = line.rstrip("\n").split(" ")
        words.append(parts[0])
        rows.append(np.array(parts[1:], dtype=np.float32))
m = np.vstack(rows)
rng = np.random.RandomState(2716)
q, _ = np.linalg.qr(rng.randn(50, 50))
norms = np.linalg.norm(m, axis=1, keepdims=True)
m = m + 0.1 * norms / np.sqrt(50) * rng.randn(*m.shape).astype(np.float32)
m = (m @ q).astype(np.float32)
chosen = rng.choice(5000, 50, replace=False)
for i in range(0, 50, 2):
    x, y = chosen[i], chosen[i + 1]
    m[[x, y]] = m[[y, x]]
with open(out, "w", encoding="utf-8") as f:
    for w, r in zip(words, m):
        f.write(w + " " + " ".join("%.5f" % v for v in r) + "\n")
with open(out + ".swapped", "w", encoding="utf-8") as f:
    f.write("\n".join(sorted(words[i] for i in chosen)) + "\n")
