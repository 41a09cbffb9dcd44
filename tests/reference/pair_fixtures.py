#!/usr/bin/env python3
"""Golden text-pair encodings (premise + hypothesis) from the Hugging Face tokenizers library, for
Tokenizer::encode_pair (tests/unit/text/test_tokenizer_pairs.cpp):

    tests/fixtures/tokenizers/pairs.json: {tokenizer: [{a, b, special, ids, type_ids,
        sequence_ids (-1 for an inserted special token), offsets (flat byte offsets, each token's
        into its own text)}]}

    /usr/bin/python3 tests/reference/pair_fixtures.py
"""
import json
import os

from tokenizers import Tokenizer

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
DIR = os.path.join(ROOT, "tests", "fixtures", "tokenizers")
NAMES = ["wordpiece_bert", "roberta_style", "llama2_metaspace", "metaspace_pretok",
         "byte_level_bpe", "word_level", "bpe_suffix_prefix"]
PAIRS = [
    ("The cat sat on the mat.", "A cat is sitting."),
    ("Mara lives in Oslo.", "Where does Mara live?"),
    ("héllo wörld", "naïve café"),
    ("x", "y"),
    ("  spaced  out ", " again"),
]


def byte_offsets(text, offsets):
    prefix = [0]
    for ch in text:
        prefix.append(prefix[-1] + len(ch.encode("utf-8")))
    return [prefix[o] for pair in offsets for o in pair]


def main():
    out = {}
    for name in NAMES:
        tok = Tokenizer.from_file(os.path.join(DIR, name, "tokenizer.json"))
        cases = []
        for a, b in PAIRS:
            for special in (True, False):
                enc = tok.encode(a, b, add_special_tokens=special)
                seq = [-1 if s is None else s for s in enc.sequence_ids]
                offsets = []
                for (begin, end), s in zip(enc.offsets, seq):
                    text = b if s == 1 else a
                    offsets += byte_offsets(text, [(begin, end)]) if s >= 0 else [0, 0]
                cases.append({"a": a, "b": b, "special": special, "ids": enc.ids,
                              "type_ids": enc.type_ids, "sequence_ids": seq, "offsets": offsets})
        out[name] = cases
    with open(os.path.join(DIR, "pairs.json"), "w", encoding="utf-8") as f:
        json.dump(out, f, ensure_ascii=False)
        f.write("\n")
    print("pairs.json:", sum(len(c) for c in out.values()), "cases")


if __name__ == "__main__":
    main()
