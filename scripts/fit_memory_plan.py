#!/usr/bin/env python3
"""Refits the memory planner's coefficients (methods/*.cpp, memory_need) to measured peaks.

Input: JSON files written by `xai plan EXPERIMENT.yaml --measure --json` (one per model shape and
sequence length; scripts/bench_memory_plan.sh with JSON_DIR=DIR writes them). Each row carries the
model's units on its sample (ActivationBasis, framework/model/memory.h) and the measured peaks:
resident memory beyond the weights ("resident") and live tensor bytes ("tensors").

For each method it fits non-negative coefficients of the terms the method states (the structure
below mirrors batched_need in methods/common.cpp: per-layer terms times the layers when the method
keeps every layer, per-row terms times the batch, the rest once) by least squares on the relative
error, prints each point's error and the worst, and the coefficients as C++ lines.

  scripts/fit_memory_plan.py [--target resident|tensors] [--heap F] DIR/*.json

--target tensors fits live tensor bytes (exact and repeatable); --heap F then multiplies the
fitted tensor model by F and reports its error against resident memory as well. Pure Python (no
numpy): the problems are a few coefficients over a few dozen points.
"""
import argparse
import json
import sys

# method -> (keeps every layer, candidate terms); the fit keeps the terms it needs (most
# coefficients come out zero). A term it gives zero is left out of the method's C++.
GRADIENT = ["hidden_once", "hidden", "mlp", "qkv", "graph", "scores", "scores_all", "square", "block", "kv_all",
            "logit_rows", "megabytes"]
FORWARD = ["hidden", "qkv", "mlp", "scores", "block", "logit_rows", "megabytes"]
# Terms whose coefficient is known exactly (measured as a slope over layers), not fitted.
FIXED = {"atman": {"kv_all": 1.0}}
METHODS = {
    "atman": (False, FORWARD),
    "attention": (True, GRADIENT),
    "rollout": (True, GRADIENT),
    "chefer": (True, GRADIENT),
    "chefer_lrp": (True, GRADIENT),
    "attattr": (True, GRADIENT),
    "integrated_gradients": (True, GRADIENT),
    "input_x_gradient": (True, GRADIENT),
    "saliency": (True, GRADIENT),
    "attnlrp": (True, GRADIENT),
}
PER_LAYER = {"hidden", "mlp", "qkv", "forward", "graph"}
PER_ROW = PER_LAYER | {"scores", "square", "scores_all", "hidden_once"}


def term(row, name, all_layers):
    """Bytes the term contributes at coefficient 1 (batched_need's rule)."""
    b = row["basis"]
    units = row["units"] if row["knob"] else 1
    layers = b["layers"]
    if name in PER_LAYER:
        v = b[name] * (layers if all_layers else 1)
    elif name == "hidden_once":
        v = b["hidden"]
    elif name == "scores_all":
        v = b["scores"] * layers
    elif name in ("scores", "square"):
        v = b[name]
    elif name == "kv_all":
        return b["kv"] * layers
    elif name == "logit_rows":
        return b["logit_row"] * row["targets"]
    elif name == "megabytes":
        return 1e6
    elif name == "block":
        return b["block"]
    else:
        raise KeyError(name)
    return v * units if name in PER_ROW else v




def tensor_size(row, name):
    """The size of one tensor a term counts (one batch): below the mmap threshold it lives in the
    C library's heap, whose holes make resident memory exceed the live bytes."""
    b = row["basis"]
    units = row["units"] if row["knob"] else 1
    if name in ("hidden", "hidden_once", "forward", "graph"):
        return b["hidden"] * units
    if name == "mlp":
        return b["mlp"] * units
    if name == "qkv":
        return b["qkv"] * units / 3
    if name in ("scores", "scores_all"):
        return b["scores"] * units
    if name == "square":
        return b["square"] * units
    if name == "block":
        return b["block"]
    if name == "kv_all":
        return b["kv"] / 2
    if name == "logit_rows":
        return b["logit_row"] * row["targets"]
    return 0  # megabytes: small blocks


def nnls_offset(a, y, known, iters=20000):
    """min sum_i ((a_i . c + k_i - y_i) / y_i)^2 over c >= 0 (k_i: a known part of estimate i), by
    projected coordinate descent."""
    rows = [[v / yi for v in r] for r, yi in zip(a, y)]
    rhs = [(yi - ki) / yi for yi, ki in zip(y, known)]
    n = len(a[0])
    scale = [max(1e-30, sum(r[j] ** 2 for r in rows) ** 0.5) for j in range(n)]
    rows = [[r[j] / scale[j] for j in range(n)] for r in rows]
    gram = [[sum(r[i] * r[j] for r in rows) for j in range(n)] for i in range(n)]
    atb = [sum(r[i] * t for r, t in zip(rows, rhs)) for i in range(n)]
    c = [0.0] * n
    for _ in range(iters):
        for j in range(n):
            g = sum(gram[j][k] * c[k] for k in range(n)) - atb[j]
            c[j] = max(0.0, c[j] - g / gram[j][j]) if gram[j][j] > 0 else 0.0
    return [c[j] / scale[j] for j in range(n)]


def nnls(a, y, iters=20000):
    """min sum_i ((a_i . c - y_i) / y_i)^2 over c >= 0, by projected coordinate descent."""
    return nnls_offset(a, y, [0.0] * len(y), iters)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("files", nargs="+")
    ap.add_argument("--target", choices=["resident", "tensors"], default="resident")
    ap.add_argument("--heap", type=float, default=0.0,
                    help="with --target tensors: the heap factor to report resident error at")
    ap.add_argument("--methods", default="", help="comma-separated subset")
    ap.add_argument("--heap-model", action="store_true",
                    help="with --target tensors: fit one heap factor for the blocks under the "
                    "mmap threshold and report the error against resident memory")
    ap.add_argument("--holdout", action="store_true",
                    help="also fit without each model shape and report the error on it")
    ap.add_argument("--show", action="store_true", help="print the measurements, fit nothing")
    ap.add_argument("--check", action="store_true",
                    help="the worst error of the plan's estimates in the files, fit nothing")
    args = ap.parse_args()
    if args.show:
        print(f"{'model':<16} {'explainer':<22} {'estimate':>10} {'resident':>10} {'ratio':>6} "
              f"{'tensors':>10} {'ratio':>6}")
        for f in args.files:
            for r in json.load(open(f))["rows"]:
                m = r.get("measured", {})
                if "resident" not in m:
                    continue
                # The plan's own estimate (a file re-planned after measuring holds the new one).
                est = r["total"] if r["streamed"] else r["explanation"]
                res, ten = m["resident"], m.get("tensors", 0)
                print(f"{r['model']:<16} {r['explainer']:<22} {est / 1e6:7.1f} MB {res / 1e6:7.1f} MB "
                      f"{est / max(1, res):6.2f} {ten / 1e6:7.1f} MB {est / max(1, ten):6.2f}")
        return 0
    if args.check:  # the plan's estimates against the measurements, per explainer
        worst = {}
        for f in args.files:
            try:
                plan = json.load(open(f))
            except ValueError:
                continue
            for r in plan["rows"]:
                m = r.get("measured", {})
                if "resident" not in m or r["streamed"]:
                    continue
                est = r["explanation"]
                for what in ("resident", "tensors"):
                    e = est / max(1.0, m[what]) - 1
                    key = (r["explainer"], what)
                    if abs(e) > abs(worst.get(key, (0, ""))[0]):
                        worst[key] = (e, f"{r['model']} T={r['tokens']}")
        for what in ("tensors", "resident"):
            print(f"worst estimate / measured - 1 against {what}:")
            for (x, w), (e, where) in sorted(worst.items()):
                if w == what:
                    print(f"  {x:<22} {e * 100:+6.1f}%  ({where})")
        return 0
    points = {}  # explainer name -> list of rows
    for f in args.files:
        try:
            plan = json.load(open(f))
        except ValueError:
            print(f"skipped {f}: not a plan's JSON (still being written?)", file=sys.stderr)
            continue
        for r in plan["rows"]:
            m = r.get("measured", {})
            if "resident" not in m or r["streamed"]:
                continue
            r["_where"] = f"{r['model']} T={r['tokens']}"
            points.setdefault((r["explainer"], r["method"]), []).append(r)
    wanted = set(args.methods.split(",")) if args.methods else None
    worst_all = {}
    for (name, method), rows in sorted(points.items()):
        if method not in METHODS or (wanted and method not in wanted and name not in wanted):
            continue
        all_layers, terms = METHODS[method]
        fixed = FIXED.get(method, {})
        a = [[term(r, t, all_layers) for t in terms] for r in rows]
        y = [max(1.0, r["measured"][args.target]) for r in rows]
        known = [sum(v * term(r, t, all_layers) for t, v in fixed.items()) for r in rows]
        if fixed:  # fit what is left once the known terms are taken off (relative to the whole)
            c = nnls_offset(a, y, known)
            terms = terms + list(fixed)
            c = c + list(fixed.values())
            a = [ai + [term(r, t, all_layers) for t in fixed] for ai, r in zip(a, rows)]
        else:
            c = nnls(a, y)
        print(f"== {name} ({method}), fitted to {args.target} on {len(rows)} points")
        if args.holdout and not fixed:  # each model shape fitted without its own points
            worst_out = 0.0
            for shape in sorted({r["model"] for r in rows}):
                keep = [i for i, r in enumerate(rows) if r["model"] != shape]
                c_out = nnls([a[i] for i in keep], [y[i] for i in keep])
                for i, r in enumerate(rows):
                    if r["model"] == shape:
                        est = sum(ci * v for ci, v in zip(c_out, a[i]))
                        worst_out = max(worst_out, abs(est / y[i] - 1))
            print(f"  left-out shapes: worst {worst_out * 100:.1f}%")
        worst = worst_res = 0.0
        for r, ai, yi in zip(rows, a, y):
            est = sum(ci * v for ci, v in zip(c, ai))
            err = est / yi - 1
            worst = max(worst, abs(err))
            line = f"  {r['_where']:<22} est {est / 1e6:9.1f} MB  {args.target} {yi / 1e6:9.1f} MB  {err * 100:+6.1f}%"
            if args.heap > 0:
                res = r["measured"]["resident"]
                e2 = est * args.heap / max(1.0, res) - 1
                worst_res = max(worst_res, abs(e2))
                line += f"  x{args.heap}: resident {res / 1e6:8.1f} MB {e2 * 100:+6.1f}%"
            print(line)
        print(f"  worst {worst * 100:.1f}%" +
              (f", against resident at x{args.heap}: {worst_res * 100:.1f}%" if args.heap else ""))
        for t, ci in zip(terms, c):
            if ci > 0:
                print(f"  c.{t} = {ci:.3g};")
        worst_all[name] = worst_res if args.heap else worst
        if args.heap_model:
            # resident = the terms' tensors in mmapped blocks + h x those in the heap
            res = [max(1.0, r["measured"]["resident"]) for r in rows]
            big, small = [], []
            for r, ai in zip(rows, a):
                bg = sm = 0.0
                for t, ci, v in zip(terms, c, ai):
                    if tensor_size(r, t) >= r["basis"].get("heap_threshold", 8 << 20):
                        bg += ci * v
                    else:
                        sm += ci * v
                big.append(bg)
                small.append(sm)
            num = sum((sm / yi) * (1 - bg / yi) for bg, sm, yi in zip(big, small, res))
            den = sum((sm / yi) ** 2 for sm, yi in zip(small, res))
            h = num / den if den > 0 else 1.0
            errs = [(bg + h * sm) / yi - 1 for bg, sm, yi in zip(big, small, res)]
            for r, e, bg, sm, yi in zip(rows, errs, big, small, res):
                print(f"  heap model: {r['_where']:<22} mmapped {bg / 1e6:7.1f} heap {sm / 1e6:7.1f}"
                      f" resident {yi / 1e6:7.1f} MB {e * 100:+6.1f}%")
            worst_h = max(abs(e) for e in errs)
            print(f"  heap model: h = {h:.3f}, worst against resident {worst_h * 100:.1f}%")
            worst_all[name] = worst_h
    print("worst per explainer: " +
          ", ".join(f"{k} {v * 100:.0f}%" for k, v in sorted(worst_all.items(), key=lambda kv: kv[1])))


if __name__ == "__main__":
    sys.exit(main())
