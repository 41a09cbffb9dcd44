#!/usr/bin/env python3
"""Golden segmentation metrics (framework/metrics/segmentation.h) computed as Chefer et al.'s
ViT segmentation evaluation does (imagenet_seg_eval.py and utils/metrices.py of
hila-chefer/Transformer-Explainability, re-written here from their definitions): the map upsampled
with torch.nn.functional.interpolate (bilinear, align_corners=False), min-max normalised,
thresholded at its mean; pixel accuracy, IoU of both classes (intersection / (spacing(1) +
union)) averaged, and sklearn's average_precision_score over both classes' channels.

    tests/fixtures/metrics/segmentation.json: {"cases": [{g, s, grid (g*g), mask (s*s), seg_acc,
        seg_miou, seg_ap, upsampled (s*s), counts: [correct, labeled, inter bg, inter obj,
        union bg, union obj]}], "pooled": {seg_acc, seg_miou}}: the counts as their
        batch_pix_accuracy and batch_intersection_union give them (histc over class ids 1, 2),
        pooled over every case as their evaluation loop sums them.

    /usr/bin/python3 tests/reference/segmentation_fixtures.py    (needs torch, numpy, sklearn)
"""
import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT = os.path.join(ROOT, "tests", "fixtures", "metrics", "segmentation.json")


def case(rng, g, s, kind):
    grid = rng.random((g, g))
    if kind == "ties":  # many equal scores: AP's tie handling
        grid = np.round(grid * 3) / 3
    if kind == "sparse":
        grid[grid < 0.7] = 0
    y, x = np.mgrid[0:s, 0:s]
    cy, cx, r = rng.uniform(0.3, 0.7) * s, rng.uniform(0.3, 0.7) * s, rng.uniform(0.2, 0.35) * s
    mask = (np.hypot(y - cy, x - cx) < r).astype(np.float32)
    if kind == "soft":  # soft edges: the object is where the mask is >= 0.5
        mask = np.clip((r - np.hypot(y - cy, x - cx)) / 3 + 0.5, 0, 1).astype(np.float32)
    labels = torch.tensor((mask >= 0.5).astype(np.int64))

    res = F.interpolate(torch.tensor(grid, dtype=torch.float64)[None, None], size=(s, s),
                        mode="bilinear", align_corners=False)[0, 0]
    up = res.clone()
    res = (res - res.min()) / (res.max() - res.min())
    ret = res.mean()
    res_1 = res.gt(ret).long()
    res_0 = res.le(ret).long()
    output = torch.stack([res_0, res_1])  # (2, s, s)
    predict = output.argmax(0)
    correct = (predict == labels).sum().item()
    ious = []
    for c in (0, 1):
        inter = ((predict == c) & (labels == c)).sum().item()
        union = ((predict == c) | (labels == c)).sum().item()
        ious.append(inter / (np.spacing(1) + union))
    # batch_pix_accuracy / batch_intersection_union (utils/metrices.py), nclass = 2.
    pred1, target1 = predict + 1, labels + 1
    labeled = (target1 > 0).sum().item()
    correct_c = ((pred1 == target1) * (target1 > 0)).sum().item()
    pred1 = pred1 * (target1 > 0)
    inter_map = pred1 * (pred1 == target1)
    hist = lambda t: torch.histc(t.double(), bins=2, min=1, max=2)
    area_inter, area_pred, area_lab = hist(inter_map), hist(pred1), hist(target1)
    area_union = area_pred + area_lab - area_inter
    counts = [correct_c, labeled] + area_inter.tolist() + area_union.tolist()
    output_ap = torch.stack([1 - res, res])
    onehot = torch.stack([(labels == 0).long(), (labels == 1).long()])
    ap = average_precision_score(onehot.numpy().reshape(-1), output_ap.numpy().reshape(-1))
    return {"g": g, "s": s, "kind": kind, "grid": grid.reshape(-1).tolist(),
            "mask": mask.reshape(-1).tolist(), "upsampled": up.numpy().reshape(-1).tolist(),
            "seg_acc": correct / (s * s), "seg_miou": float(np.mean(ious)), "seg_ap": float(ap),
            "counts": counts}


def main():
    rng = np.random.default_rng(11)
    cases = []
    for g, s in ((4, 16), (8, 32), (3, 10), (14, 56)):
        for kind in ("plain", "ties", "sparse", "soft"):
            if s == 56 and kind != "plain":
                continue
            cases.append(case(rng, g, s, kind))
    # The evaluation loop: totals over the images, then pixAcc and mIoU of the totals.
    total = np.sum([c["counts"] for c in cases], axis=0).astype(np.float64)
    eps = np.spacing(1, dtype=np.float64)
    pooled = {"seg_acc": float(total[0] / (eps + total[1])),
              "seg_miou": float(np.mean(total[2:4] / (eps + total[4:6])))}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump({"cases": cases, "pooled": pooled}, f)
        f.write("\n")
    print("wrote", len(cases), "cases to", OUT)


if __name__ == "__main__":
    main()
