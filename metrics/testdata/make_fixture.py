#!/usr/bin/python3
"""Make fixture.json, the reference values for the metrics package tests.

Run with Debian's python3 (python3-sklearn, python3-scipy, python3-numpy):

    /usr/bin/python3 metrics/testdata/make_fixture.py

AUROC, ROC and precision-recall curves come from scikit-learn. F1-max is the
maximum of 2 P R / (P + R) over scikit-learn's precision_recall_curve; its
threshold is the lowest threshold whose F1 is within 1e-12 of the maximum.

AUPRO is computed by a deliberately naive reference, independent of the Go
code's single-sort sweep: regions are labelled with scipy.ndimage.label and a
3x3 all-ones structure (8-connectivity, as in the official MVTec AD code), and
for every distinct score t (descending) the binary prediction map >= t is
formed and FPR and the mean per-region overlap are counted directly. The curve
starts at (0, 0), is integrated with the trapezoid rule up to the FPR limit
(interpolated at the limit) and divided by the limit.
"""
import json
import os

import numpy as np
import scipy.ndimage
import sklearn
from sklearn.metrics import precision_recall_curve, roc_auc_score, roc_curve

rng = np.random.default_rng(20240117)


def score_set(name, scores, labels, float32=False):
    scores = np.asarray(scores, dtype=np.float32 if float32 else np.float64)
    labels = np.asarray(labels, dtype=bool)
    both = labels.any() and not labels.all()
    fpr, tpr, thr = roc_curve(labels, scores, drop_intermediate=False) if both else ([], [], [None])
    prec, rec, pthr = precision_recall_curve(labels, scores)
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(prec + rec > 0, 2 * prec * rec / (prec + rec), 0.0)
    best = f1.max()
    # f1[:-1] pairs with pthr; the last point (P=1, R=0) has F1 = 0.
    f1_thr = pthr[np.flatnonzero(f1[:-1] >= best - 1e-12).min()]
    return {
        "name": name,
        "float32": float32,
        "scores": [float(s) for s in scores],
        "labels": [int(b) for b in labels],
        "auroc": float(roc_auc_score(labels, scores)) if both else None,
        "f1max": float(best),
        "f1_threshold": float(f1_thr),
        # roc_curve's first threshold is max+1 (sklearn < 1.3) or inf: skipped.
        "roc_fpr": [float(v) for v in fpr],
        "roc_tpr": [float(v) for v in tpr],
        "roc_thresholds": [float(v) for v in thr[1:]],
        "pr_precision": [float(v) for v in prec],
        "pr_recall": [float(v) for v in rec],
        "pr_thresholds": [float(v) for v in pthr],
    }


sets = []
n = 60
sets.append(score_set("rounded-normal-60", np.round(rng.normal(size=n) + 0.8 * (lab := rng.random(n) < 0.3), 1), lab))
n = 300
lab = rng.random(n) < 0.5
sets.append(score_set("integers-300", rng.integers(0, 8, size=n) + lab * rng.integers(0, 3, size=n), lab))
n = 1000
lab = rng.random(n) < 0.1
sc = rng.gamma(2.0, size=n) + 1.5 * lab
sc[::3] = np.round(sc[::3], 0)  # a third of the scores tied on integers
sets.append(score_set("gamma-ties-1000", sc, lab))
n = 40
lab = rng.random(n) < 0.5
sets.append(score_set("negative-scores-40", -np.round(rng.exponential(size=n), 1) - lab * 0.3, lab))
sets.append(score_set("all-tied-10", np.full(10, 2.5), [0, 1, 0, 0, 1, 1, 0, 0, 0, 1]))
sets.append(score_set("separated-8", [0.1, 0.2, 0.3, 0.35, 0.5, 0.9, 0.95, 1.0], [0, 0, 0, 0, 1, 1, 1, 1]))
sets.append(score_set("no-negatives-5", [0.3, 0.1, 0.3, 0.7, 0.2], [1, 1, 1, 1, 1]))
n = 5000
lab = rng.random(n) < 0.05
sc = (rng.normal(size=n) + 2.0 * lab).astype(np.float32)
sc = np.round(sc * 64) / 64  # float32 with many ties
sets.append(score_set("float32-pixels-5000", sc, lab, float32=True))


# ---------------------------------------------------------------- AUPRO
STRUCT = np.ones((3, 3), dtype=int)


def pro_reference(maps, masks, limits):
    labelled = [scipy.ndimage.label(m, STRUCT) for m in masks]
    regions = [(i, lab == k) for i, (lab, nk) in enumerate(labelled) for k in range(1, nk + 1)]
    n_ok = sum(int((~m).sum()) for m in masks)
    thresholds = np.unique(np.concatenate([m.ravel() for m in maps]))[::-1]
    xs, ys = [0.0], [0.0]
    for t in thresholds:
        pred = [m >= t for m in maps]
        fp = sum(int((p & ~m).sum()) for p, m in zip(pred, masks))
        pro = np.mean([pred[i][r].sum() / r.sum() for i, r in regions])
        xs.append(fp / n_ok)
        ys.append(float(pro))
    out = []
    for lim in limits:
        area = 0.0
        for k in range(1, len(xs)):
            x0, y0, x1, y1 = xs[k - 1], ys[k - 1], xs[k], ys[k]
            if x1 > lim:
                yl = y0 + (y1 - y0) * (lim - x0) / (x1 - x0)
                area += 0.5 * (y0 + yl) * (lim - x0)
                break
            area += 0.5 * (y0 + y1) * (x1 - x0)
        out.append(area / lim)
    return out, len(regions), xs, ys


def blob_mask(h, w, centers):
    yy, xx = np.mgrid[0:h, 0:w]
    m = np.zeros((h, w), dtype=bool)
    for cy, cx, r in centers:
        m |= (yy - cy) ** 2 + (xx - cx) ** 2 <= r * r
    return m


def aupro_case(name, shapes, limits=(0.3, 0.05, 1.0), step=0.05):
    maps, masks = [], []
    for h, w, centers, extra in shapes:
        m = blob_mask(h, w, centers)
        for y, x in extra:
            m[y, x] = True
        smooth = scipy.ndimage.gaussian_filter(m.astype(float), 1.0)
        s = smooth + 0.35 * rng.random((h, w))
        s = (np.round(s / step) * step).astype(np.float32)  # many ties
        maps.append(s)
        masks.append(m)
    values, nreg, xs, ys = pro_reference(maps, masks, limits)
    return {
        "name": name,
        "images": [{"h": int(m.shape[0]), "w": int(m.shape[1]),
                    "map": [float(v) for v in m.ravel()],
                    "mask": [int(b) for b in k.ravel()]} for m, k in zip(maps, masks)],
        "regions": nreg,
        "limits": list(limits),
        "aupro": values,
        "curve_fpr": xs,
        "curve_pro": ys,
    }


aupro = [
    aupro_case("three-images", [
        (12, 10, [(3, 3, 1.5), (8, 7, 2.2)], [(0, 9), (1, 8)]),  # (0,9)-(1,8): diagonal pair, one region
        (9, 14, [], []),  # a good image: only normal pixels
        (16, 11, [(7, 5, 3.0)], [(15, 0), (13, 10)]),  # single-pixel regions
    ]),
    aupro_case("diagonal-only", [
        (8, 8, [], [(1, 1), (2, 2), (3, 3), (5, 1), (6, 0)]),  # two regions under 8-connectivity
    ], step=0.1),
    aupro_case("coarse-scores", [
        (10, 10, [(4, 4, 2.5)], []),
        (10, 10, [(2, 7, 1.0), (7, 2, 1.9)], []),
    ], step=0.25),
]

out = {
    "generator": "metrics/testdata/make_fixture.py, scikit-learn %s, scipy %s, numpy %s"
                 % (sklearn.__version__, scipy.__version__, np.__version__),
    "sets": sets,
    "aupro": aupro,
}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixture.json")
with open(path + ".tmp", "w") as f:
    json.dump(out, f, separators=(",", ":"))
os.replace(path + ".tmp", path)
print("wrote", path, os.path.getsize(path), "bytes")
for a in aupro:
    print(a["name"], "regions", a["regions"], "aupro", a["aupro"])
