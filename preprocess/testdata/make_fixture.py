#!/usr/bin/python3
"""Reference outputs for preprocess: PIL's antialiased bilinear resize (what torchvision's Resize does on PIL images)
on float ("F" mode) planes, then torchvision's CenterCrop rounding, then ImageNet normalisation.

Run with Debian's python3 (python3-pil, python3-numpy): /usr/bin/python3 make_fixture.py > fixture.json
"""
import json, math
import numpy as np
from PIL import Image

def src_image(w, h):
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    planes = [0.5 + 0.5 * np.sin(0.37 * x + 0.21 * y * (c + 1) + c) * np.cos(0.13 * y - 0.05 * x * c) for c in range(3)]
    return [p.astype(np.float32) for p in planes]

MEAN = (0.485, 0.456, 0.406)
STD = (0.229, 0.224, 0.225)

cases = []
for (w, h, resize, crop) in [(37, 23, 20, 16), (23, 19, 40, 32), (50, 50, 17, 17), (31, 14, 24, 20)]:
    planes = src_image(w, h)
    out = []
    for c, p in enumerate(planes):
        im = Image.fromarray(p, mode="F").resize((resize, resize), Image.BILINEAR)
        a = np.asarray(im, dtype=np.float64)
        top = int(round((resize - crop) / 2.0))
        left = int(round((resize - crop) / 2.0))
        a = a[top:top + crop, left:left + crop]
        out.append(((a - MEAN[c]) / STD[c]).ravel().tolist())
    cases.append({"w": w, "h": h, "resize": resize, "crop": crop,
                  "src": [[float("%.9g" % v) for v in p.ravel()] for p in planes], "want": [[float("%.8g" % v) for v in o] for o in out]})
print(json.dumps(cases))
