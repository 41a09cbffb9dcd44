#!/usr/bin/env python3
"""Golden paired tests and summary statistics (framework/metrics/statistics.h) from scipy and
numpy: scipy.stats.wilcoxon(a, b, zero_method="wilcox", correction=False, method="approx") on
paired samples with ties, zero differences and NaN-free values of 8 to 200 pairs, with W+ and
W- and the rank-biserial effect size (W+ - W-) / (W+ + W-); and the mean and sample standard
deviation of a few value lists.

    tests/fixtures/metrics/statistics.json: {"wilcoxon": [{a, b, statistic, p_value, w_plus,
        w_minus, effect_size}], "summary": [{values, mean, std}], "correlation": [{a, b,
        spearman, kendall}]} (scipy's spearmanr and kendalltau, tau-b, with ties)

    /usr/bin/python3 tests/reference/statistics_fixtures.py    (needs numpy, scipy)
"""
import json
import os

import numpy as np
from scipy.stats import kendalltau, rankdata, spearmanr, wilcoxon

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "metrics", "statistics.json")


def main():
    rng = np.random.default_rng(23)
    cases = []
    for n, kind in ((8, "plain"), (30, "ties"), (50, "zeros"), (200, "plain"), (40, "shifted"),
                    (12, "ties")):
        a = rng.random(n)
        b = rng.random(n)
        if kind == "ties":  # AP-like values on a coarse grid: many equal |differences|
            a = np.round(a * 4) / 4
            b = np.round(b * 4) / 4
        if kind == "zeros":
            b[: n // 5] = a[: n // 5]
        if kind == "shifted":
            b = a - 0.1 + 0.05 * rng.standard_normal(n)
        res = wilcoxon(a, b, zero_method="wilcox", correction=False, method="approx")
        d = a - b
        d = d[d != 0]
        r = rankdata(np.abs(d))
        w_plus, w_minus = float(np.sum(r[d > 0])), float(np.sum(r[d < 0]))
        cases.append({"kind": kind, "a": a.tolist(), "b": b.tolist(),
                      "statistic": float(res.statistic), "p_value": float(res.pvalue),
                      "w_plus": w_plus, "w_minus": w_minus,
                      "effect_size": (w_plus - w_minus) / (w_plus + w_minus)})
    summary = []
    for n in (2, 7, 100):
        v = rng.standard_normal(n) * 3 + 1
        summary.append({"values": v.tolist(), "mean": float(np.mean(v)),
                        "std": float(np.std(v, ddof=1))})
    correlation = []
    for n, kind in ((5, "plain"), (40, "ties"), (300, "related")):
        a = rng.random(n)
        b = rng.random(n)
        if kind == "ties":
            a = np.round(a * 5)
            b = np.round(b * 3)
        if kind == "related":
            b = a + 0.3 * rng.standard_normal(n)
        correlation.append({"kind": kind, "a": a.tolist(), "b": b.tolist(),
                            "spearman": float(spearmanr(a, b).correlation),
                            "kendall": float(kendalltau(a, b).correlation)})
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"wilcoxon": cases, "summary": summary, "correlation": correlation}, f)
        f.write("\n")
    print("wrote", len(cases), "paired tests and", len(summary), "summaries to", OUT)


if __name__ == "__main__":
    main()
