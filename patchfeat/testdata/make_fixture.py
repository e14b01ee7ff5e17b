#!/usr/bin/python3
"""Reference for patchfeat.Features: PatchCore's local aggregation in PyTorch (Debian python3-torch).
Inputs come from a formula so only the expected output is stored. Run: /usr/bin/python3 make_fixture.py > fixture.json
"""
import json, math
import torch
import torch.nn.functional as F

def layer(n, c, h, w, k):
    i = torch.arange(n * c * h * w, dtype=torch.float64)
    return torch.sin(0.37 * i + 1.3 * k).reshape(n, c, h, w).float()

cases = []
for (shapes) in [[(2, 3, 6, 6), (2, 4, 3, 3)], [(1, 2, 7, 5), (1, 3, 4, 3), (1, 2, 2, 2)]]:
    layers = [layer(*s, k) for k, s in enumerate(shapes)]
    h, w = shapes[0][2], shapes[0][3]
    outs = []
    for l in layers:
        p = F.avg_pool2d(l, 3, stride=1, padding=1, count_include_pad=True)
        if p.shape[-2:] != (h, w):
            p = F.interpolate(p, size=(h, w), mode="bilinear", align_corners=False)
        outs.append(p)
    out = torch.cat(outs, dim=1)
    cases.append({"shapes": shapes, "want": [float("%.8g" % v) for v in out.flatten().tolist()]})
print(json.dumps(cases))
