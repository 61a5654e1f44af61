"""Reference numbers for tests/acceptance/expected-analogy.json, computed with gensim itself.

    python gensim_reference.py GLOVE_TXT QUESTIONS SIMLEX WORDSIM OUT_JSON [STAGE ...]

STAGE: add300000, add30000, pairs, mul300000 (default: all). Results are merged into OUT_JSON
after each stage. Needs gensim 4.4 (numpy, scipy).

- addN: gensim's own evaluate_word_analogies (3CosAdd) with restrict_vocab N.
- pairs: evaluate_word_pairs on SimLex-999 and WordSim-353 (defaults: restrict 300,000,
  case-insensitive, dummy4unknown False).
- mul300000: evaluate_word_analogies with most_similar replaced by most_similar_cosmul, on a
  KeyedVectors holding only the first 300,000 words. (gensim 4.4's evaluate_word_analogies
  ignores its similarity_function argument, and most_similar_cosmul ignores restrict_vocab, so
  the restriction is made by the vocabulary itself.)
"""
import json
import os
import sys
import time

import gensim
from gensim.models import KeyedVectors


def analogy(kv, questions, restrict):
    started = time.time()
    score, sections = kv.evaluate_word_analogies(questions, restrict_vocab=restrict)
    seconds = time.time() - started
    total = sections.pop()
    return {
        "restrict": restrict,
        "seconds": round(seconds, 2),
        "sections": [
            {"name": s["section"], "correct": len(s["correct"]), "seen": len(s["correct"]) + len(s["incorrect"])}
            for s in sections
        ],
        "correct": len(total["correct"]),
        "seen": len(total["correct"]) + len(total["incorrect"]),
        "accuracy": score,
        # Every question answered wrongly, so a disagreement can be traced to its question.
        "wrong": [" ".join(q) for s in sections for q in s["incorrect"]],
    }


def main():
    glove, questions, simlex, wordsim, out_path = sys.argv[1:6]
    stages = sys.argv[6:] or ["add300000", "add30000", "pairs", "mul300000"]
    result = {}
    if os.path.exists(out_path):
        with open(out_path) as f:
            result = json.load(f)

    def save():
        with open(out_path + ".part", "w") as f:
            json.dump(result, f, indent=1)
        os.replace(out_path + ".part", out_path)

    started = time.time()
    kv = KeyedVectors.load_word2vec_format(glove, binary=False, no_header=True)
    result["gensim"] = gensim.__version__
    result["load_seconds"] = round(time.time() - started, 2)
    with open(questions, encoding="utf8") as f:
        result["questions_total"] = sum(1 for line in f if len(line.split()) == 4)
    for stage in stages:
        if stage.startswith("add"):
            result["analogy_" + stage] = analogy(kv, questions, int(stage[3:]))
        elif stage == "pairs":
            for name, path in (("simlex999", simlex), ("wordsim353", wordsim)):
                pearson, spearman, oov = kv.evaluate_word_pairs(path)
                result[name] = {"pearson": float(pearson[0]), "spearman": float(spearman[0]), "oov_percent": float(oov)}
        elif stage.startswith("mul"):
            n = int(stage[3:])
            small = KeyedVectors(kv.vector_size, dtype=kv.vectors.dtype)
            small.add_vectors(kv.index_to_key[:n], kv.vectors[:n])
            small.most_similar = small.most_similar_cosmul
            result["analogy_" + stage] = analogy(small, questions, n)
        else:
            raise SystemExit(f"unknown stage {stage}")
        save()


if __name__ == "__main__":
    main()
