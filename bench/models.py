#!/usr/bin/env python3
"""Synthetic model directories the size of today's LLM input embeddings, for bench/models.sh (issue 26).

    python bench/models.py OUT_DIR      # needs numpy and tokenizers (pip install tokenizers)

Writes, unless already complete (a `.complete` file), under OUT_DIR:
- qwen3-0.6b-size/: `model.safetensors` with `model.embed_tokens.weight` BF16 151,936 x 1,024 (311 MB) and
  `model.norm.weight`, a byte-level BPE `tokenizer.json` with 151,643 tokens + 26 special tokens (ids up to
  151,668; rows 151,669.. are padding, as in Qwen3), `config.json`.
- llama3-8b-size/: `model.embed_tokens.weight` BF16 128,256 x 4,096 (1.05 GB), a byte-level BPE with 128,000
  tokens + 256 special tokens (as Llama 3).

The vocabulary is synthesised deterministically: the 256 byte-level characters, then for GloVe-like words (from
~/.cache/vecsh-data/glove.6B.50d.txt when present, else made-up ones) `Ġword` and `word`, each built left to right by
one merge per character, until the size is reached: a valid BPE whose tokenizer.json has as many merges as a
real one (about 151k), so parsing it costs what a real one costs. Values are seeded normal noise (bf16 by
truncation of float32).
"""
import json
import os
import struct
import sys

import numpy as np
from tokenizers import Tokenizer, decoders, models, pre_tokenizers

GLOVE = os.path.expanduser("~/.cache/vecsh-data/glove.6B.50d.txt")

SIZES = {
    "qwen3-0.6b-size": dict(rows=151936, dim=1024, regular=151643,
                            specials=["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
                            + ["<|extra_%d|>" % i for i in range(23)]),
    "llama3-8b-size": dict(rows=128256, dim=4096, regular=128000,
                           specials=["<|begin_of_text|>", "<|end_of_text|>"]
                           + ["<|reserved_special_token_%d|>" % i for i in range(254)]),
}


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs, n = bs[:], 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return [chr(c) for c in cs]


def words():
    if os.path.exists(GLOVE):
        with open(GLOVE, encoding="utf-8") as f:
            for line in f:
                w = line.split(" ", 1)[0]
                if w.isascii() and w.isalnum():
                    yield w
    rng = np.random.default_rng(1)
    letters = "abcdefghijklmnopqrstuvwxyz"
    while True:
        yield "".join(letters[i] for i in rng.integers(0, 26, int(rng.integers(3, 12))))


def vocabulary(regular):
    vocab, merges = {}, []
    for c in bytes_to_unicode():
        vocab[c] = len(vocab)
    for w in words():
        for form in ("Ġ" + w, w, "Ġ" + w.capitalize()):
            cur = form[0]
            for ch in form[1:]:
                new = cur + ch
                if new not in vocab:
                    if len(vocab) == regular:
                        return vocab, merges
                    vocab[new] = len(vocab)
                    merges.append((cur, ch))
                cur = new


def write_tokenizer(path, regular, specials):
    vocab, merges = vocabulary(regular)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(specials)
    tok.save(path, pretty=False)
    assert tok.get_vocab_size(with_added_tokens=True) == regular + len(specials)


def write_matrix(path, rows, dim, seed):
    name = "model.embed_tokens.weight"
    size = rows * dim * 2
    header = {
        "__metadata__": {"format": "pt"},
        "model.norm.weight": {"dtype": "BF16", "shape": [dim], "data_offsets": [0, dim * 2]},
        name: {"dtype": "BF16", "shape": [rows, dim], "data_offsets": [dim * 2, dim * 2 + size]},
    }
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    rng = np.random.default_rng(seed)
    with open(path + ".part", "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        f.write((np.ones(dim, dtype=np.float32).view(np.uint32) >> 16).astype("<u2").tobytes())
        step = max(1, (64 << 20) // (dim * 4))
        for start in range(0, rows, step):
            n = min(step, rows - start)
            block = rng.standard_normal((n, dim), dtype=np.float32) * np.float32(0.02)
            f.write((block.view(np.uint32) >> 16).astype("<u2").tobytes())
    os.replace(path + ".part", path)


def main():
    out = sys.argv[1] if len(sys.argv) > 1 else "/work/data/models"
    only = sys.argv[2:] or list(SIZES)
    for i, (name, s) in enumerate(SIZES.items()):
        if name not in only:
            continue
        d = os.path.join(out, name)
        if os.path.exists(os.path.join(d, ".complete")):
            print(f"{d}: already made", flush=True)
            continue
        os.makedirs(d, exist_ok=True)
        print(f"{d}: writing {s['rows']} x {s['dim']} BF16 and a tokenizer of {s['regular']} + "
              f"{len(s['specials'])} tokens", flush=True)
        write_tokenizer(os.path.join(d, "tokenizer.json"), s["regular"], s["specials"])
        write_matrix(os.path.join(d, "model.safetensors"), s["rows"], s["dim"], 26 + i)
        with open(os.path.join(d, "config.json"), "w") as f:
            json.dump({"model_type": name.split("-")[0], "vocab_size": s["rows"], "hidden_size": s["dim"],
                       "torch_dtype": "bfloat16"}, f, indent=2)
        open(os.path.join(d, ".complete"), "w").close()


if __name__ == "__main__":
    main()
