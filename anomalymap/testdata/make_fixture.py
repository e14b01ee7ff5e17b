#!/usr/bin/python3
"""Make fixture.json, the PyTorch reference for the anomalymap tests.

Run with Debian's python3 (python3-torch 1.13, python3-numpy):

    /usr/bin/python3 anomalymap/testdata/make_fixture.py

Resizing is F.interpolate (bilinear with align_corners=False, and the default
"nearest" mode). The blur is written out the way anomalib's GaussianBlur2d
computes it with kornia: a 1-D Gaussian kernel of size 2*int(4*sigma+0.5)+1,
x = arange(size) - size//2, exp(-x^2 / (2 sigma^2)) normalised to sum 1; the
2-D kernel is its outer product normalised by its absolute sum; the input is
padded with F.pad(mode="reflect") and convolved with F.conv2d (a full 2-D
kernel, not separable). For images smaller than the kernel radius, which
PyTorch's reflect padding rejects, the padding is done by numpy.pad(mode=
"reflect"), which repeats the reflection.

The "symmetric" border cases are scipy.ndimage.gaussian_filter(img, sigma)
(mode "reflect" in scipy's naming, which repeats the edge pixel; truncate 4),
as the PatchCore paper's code smooths its maps.
"""
import json
import os

import numpy as np
import scipy
import scipy.ndimage
import torch
import torch.nn.functional as F

torch.manual_seed(7)
rng = np.random.default_rng(7)


def kernel1d(sigma):
    size = 2 * int(4.0 * sigma + 0.5) + 1
    x = torch.arange(size, dtype=torch.float32) - size // 2
    g = torch.exp(-(x ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def blur(img, sigma):
    g = kernel1d(sigma)
    k2 = torch.outer(g, g)
    k2 = k2 / k2.abs().sum()
    r = g.numel() // 2
    x = torch.from_numpy(img)[None, None]
    h, w = img.shape
    if r < h and r < w:
        padded = F.pad(x, [r, r, r, r], mode="reflect")
    else:
        padded = torch.from_numpy(np.pad(img, r, mode="reflect"))[None, None]
    return F.conv2d(padded, k2[None, None])[0, 0].numpy()


def arr(a):
    # 9 significant digits identify a float32 exactly (the Go side parses
    # them as float32).
    return [float("%.9g" % v) for v in np.asarray(a, dtype=np.float32).ravel()]


def resize(img, h, w, mode):
    x = torch.from_numpy(img)[None, None]
    if mode == "bilinear":
        y = F.interpolate(x, size=(h, w), mode="bilinear", align_corners=False)
    else:
        y = F.interpolate(x, size=(h, w), mode="nearest")
    return y[0, 0].numpy()


def grid(h, w):
    return rng.normal(size=(h, w)).astype(np.float32) + 2


resizes = []
for (gh, gw, h, w, mode) in [
    (7, 5, 40, 33, "bilinear"),   # the brief's case
    (5, 7, 13, 11, "bilinear"),   # non-integer ratios
    (6, 6, 48, 48, "bilinear"),   # integer ratio 8, as 28 -> 224
    (40, 33, 9, 7, "bilinear"),   # downscale, no antialias
    (3, 4, 3, 4, "bilinear"),     # identity
    (7, 5, 40, 33, "nearest"),
    (14, 10, 20, 7, "nearest"),
    (6, 2, 74, 82, "nearest"),    # float32 rounding: row 37 takes source 2, column 41 source 0 (exact: 3, 1)
    (6, 6, 12, 13, "nearest"),    # 2x fast path in one axis
    (40, 33, 9, 7, "nearest"),
]:
    g = grid(gh, gw)
    resizes.append({"gh": gh, "gw": gw, "h": h, "w": w, "mode": mode,
                    "grid": arr(g), "out": arr(resize(g, h, w, mode))})

def scipy_blur(img, sigma):
    return scipy.ndimage.gaussian_filter(img.astype(np.float64), sigma, mode="reflect", truncate=4.0)


blurs = []
for (h, w, sigma, border) in [(37, 29, 4.0, "reflect"), (20, 20, 1.5, "reflect"), (5, 3, 4.0, "reflect"),
                              (1, 6, 1.0, "reflect"), (24, 18, 0.6, "reflect"),
                              (37, 29, 4.0, "symmetric"), (5, 3, 4.0, "symmetric")]:
    img = rng.random((h, w)).astype(np.float32)
    out = blur(img, sigma) if border == "reflect" else scipy_blur(img, sigma)
    blurs.append({"h": h, "w": w, "sigma": sigma, "border": border, "img": arr(img), "out": arr(out),
                  "kernel": arr(kernel1d(sigma))})

maps = []
for (gh, gw, h, w, sigma, mode, border) in [(7, 7, 56, 56, 4.0, "bilinear", "reflect"),
                                            (7, 7, 56, 56, 4.0, "nearest", "reflect"),
                                            (5, 6, 45, 41, 2.0, "bilinear", "reflect"),
                                            (7, 7, 56, 56, 4.0, "bilinear", "symmetric")]:
    g = grid(gh, gw)
    up = resize(g, h, w, mode)
    out = blur(up, sigma) if border == "reflect" else scipy_blur(up, sigma)
    maps.append({"gh": gh, "gw": gw, "h": h, "w": w, "sigma": sigma, "mode": mode, "border": border,
                 "grid": arr(g), "out": arr(out)})

out = {"generator": "anomalymap/testdata/make_fixture.py, torch %s, numpy %s, scipy %s"
                    % (torch.__version__, np.__version__, scipy.__version__),
       "resize": resizes, "blur": blurs, "map": maps}
path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "fixture.json")
with open(path + ".tmp", "w") as f:
    json.dump(out, f, separators=(",", ":"))
os.replace(path + ".tmp", path)
print("wrote", path, os.path.getsize(path), "bytes")
