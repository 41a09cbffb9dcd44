#!/usr/bin/env python3
"""Reference attributions for every baseline explainer, on the fixture models.

Runs each part's main() in turn; each writes its own files under tests/fixtures/baselines/:

    baselines_gradient.py    saliency, input x gradient, integrated gradients (captum)
    baselines_attention.py   raw attention, rollout, Chefer 2021b, AttAttr (plain PyTorch)
    baselines_lrp.py         AttnLRP (LXT efficient rules) and Chefer 2021a adapted (plain PyTorch)

    python3 tests/reference/baselines_reference.py
"""
import importlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

for part in ["baselines_gradient", "baselines_attention", "baselines_lrp"]:
    try:
        module = importlib.import_module(part)
    except ModuleNotFoundError as e:
        if e.name == part:
            print(f"{part}: not present, skipped")
            continue
        raise
    module.main()
