#!/usr/bin/env python3
"""Golden attribution trees (methods/attribution_tree.h) built the way the paper's code builds them
(examples/attribution_tree.py of YRdddream/attattr, re-written here from its logic with numpy, with
its state list per token: -1 not in the tree, 0 in the tree without children, 1 with children),
generalised from its 12 layers (top edges at layer 10, then layers 9..0) to L layers (L - 2, then
L - 3..0). Random head-summed attributions with a few strong entries, so that trees grow.

    tests/fixtures/attribution_tree/trees.json: [{T, L, tau, layers (L*T*T), top,
        edges: [[layer, from, to], ...]}]

    /usr/bin/python3 tests/reference/attribution_tree_fixtures.py    (needs numpy)
"""
import json
import os

import numpy as np

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "attribution_tree", "trees.json")


def tree(att, tau):
    """att (L, T, T) summed over heads -> (top, [(layer, from, to)])."""
    L, T, _ = att.shape
    prop = att.copy()
    for l in range(L):
        prop[l] = prop[l] / abs(prop[l][1:, :].max())
    prop = prop * (prop > tau)
    state = [-1] * T
    combined = att.sum(0) / abs(att.sum(0).max())
    combined = combined * (1 - np.identity(T)) * (combined > 0)
    combined[0] = 0
    order = np.argsort(combined.sum(-1), kind="stable")[::-1]
    top = int(order[0]) if order[0] != 0 else int(order[1])
    state[top] = 0
    edges = []
    first = L - 2 if L >= 2 else 0
    for j in range(T):
        if j != top and prop[first][top][j] > tau:
            state[j] = 0
            state[top] = 1
            edges.append((first, j, top))
    for l in range(first - 1, -1, -1):
        for i in range(1, T):
            for j in range(T):
                if prop[l][i][j] < tau or state[i] == -1:
                    continue
                if state[j] != -1:  # already in the tree (with or without children)
                    continue
                state[i] = 1
                state[j] = 0
                edges.append((l, j, i))
    return top, edges


def main():
    rng = np.random.default_rng(17)
    cases = []
    for L, T, tau in ((2, 5, 0.4), (3, 9, 0.4), (4, 9, 0.3), (12, 14, 0.4), (6, 12, 0.5),
                      (1, 6, 0.4), (3, 7, 0.4), (12, 20, 0.4)):
        att = rng.random((L, T, T)) * 0.3
        hot = rng.integers(0, T, size=(L, T // 2, 2))
        for l in range(L):
            for i, j in hot[l]:
                att[l, i, j] += rng.uniform(0.5, 1.5)
        att[:, :, :] -= 0.05  # a few negative entries
        top, edges = tree(att, tau)
        cases.append({"L": L, "T": T, "tau": tau, "layers": att.reshape(-1).tolist(),
                      "top": top, "edges": [list(e) for e in edges]})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(cases, f)
        f.write("\n")
    print("wrote", len(cases), "trees to", OUT, "with", [len(c["edges"]) for c in cases], "edges")


if __name__ == "__main__":
    main()
