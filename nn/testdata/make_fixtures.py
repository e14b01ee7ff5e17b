"""PyTorch reference outputs for the nn package tests (run with /usr/bin/python3 from this directory).

Writes ops.safetensors: inputs, parameters and expected outputs (float32), written by hand in the safetensors
format. TensorFlow "same" padding is emulated with explicit asymmetric F.pad (zeros for conv, -inf for max
pooling) and, for average pooling, a sum divided by the count of in-image cells: the TensorFlow definition.
"""
import collections
import json
import struct

import torch
import torch.nn.functional as F

torch.manual_seed(1234)
out = collections.OrderedDict()


def put(name, t):
    out[name] = t.detach().to(torch.float32).contiguous()


# Convolution, stride 2, padding 1, followed by batch norm (eps 1e-5) and ReLU.
x = torch.randn(2, 5, 11, 9)
w = torch.randn(7, 5, 3, 3) * 0.3
b = torch.randn(7) * 0.1
gamma, beta = torch.rand(7) + 0.5, torch.randn(7) * 0.2
mean, var = torch.randn(7) * 0.3, torch.rand(7) + 0.2
y = F.conv2d(x, w, b, stride=2, padding=1)
y = F.batch_norm(y, mean, var, gamma, beta, training=False, eps=1e-5)
put("conv.x", x); put("conv.w", w); put("conv.b", b)
put("conv.gamma", gamma); put("conv.beta", beta); put("conv.mean", mean); put("conv.var", var)
put("conv.y", F.relu(y))

# 7x7 stride-2 stem-like conv with padding 3, no bias.
x2 = torch.randn(1, 3, 20, 17)
w2 = torch.randn(4, 3, 7, 7) * 0.1
put("stem.x", x2); put("stem.w", w2); put("stem.y", F.conv2d(x2, w2, stride=2, padding=3))

# TensorFlow "same" conv, 3x3 stride 2 on even and odd sizes (asymmetric padding), and 1x7 stride 1.
def tf_same_pad(n, k, s):
    out_n = -(-n // s)
    total = max((out_n - 1) * s + k - n, 0)
    return total // 2, total - total // 2

x3 = torch.randn(1, 4, 10, 9)
w3 = torch.randn(6, 4, 3, 3) * 0.2
pt, pb = tf_same_pad(10, 3, 2); pl, pr = tf_same_pad(9, 3, 2)
put("same.x", x3); put("same.w", w3)
put("same.y", F.conv2d(F.pad(x3, (pl, pr, pt, pb)), w3, stride=2))
w4 = torch.randn(5, 4, 1, 7) * 0.2
pl, pr = tf_same_pad(9, 7, 1)
put("same17.w", w4); put("same17.y", F.conv2d(F.pad(x3, (pl, pr, 0, 0)), w4))

# Pooling, PyTorch semantics.
xp = torch.randn(2, 3, 9, 8)
put("pool.x", xp)
put("pool.max3s2p1", F.max_pool2d(xp, 3, 2, 1))
put("pool.avg3s1p1.incl", F.avg_pool2d(xp, 3, 1, 1, count_include_pad=True))
put("pool.avg3s1p1.excl", F.avg_pool2d(xp, 3, 1, 1, count_include_pad=False))
put("pool.avg3s2p1.excl", F.avg_pool2d(xp, 3, 2, 1, count_include_pad=False))
# TensorFlow "same" pooling, 3x3 stride 1 (avg) and 3x3 stride 2 (max).
pt, pb = tf_same_pad(9, 3, 1); pl, pr = tf_same_pad(8, 3, 1)
s = F.avg_pool2d(F.pad(xp, (pl, pr, pt, pb)), 3, 1, divisor_override=1)
cnt = F.avg_pool2d(F.pad(torch.ones_like(xp), (pl, pr, pt, pb)), 3, 1, divisor_override=1)
put("pool.avg3s1.same", s / cnt)
pt, pb = tf_same_pad(9, 3, 2); pl, pr = tf_same_pad(8, 3, 2)
put("pool.max3s2.same", F.max_pool2d(F.pad(xp, (pl, pr, pt, pb), value=float("-inf")), 3, 2))

# Bilinear resize, align_corners=False, up, down, and non-integer ratios.
xr = torch.randn(1, 3, 7, 5)
put("resize.x", xr)
put("resize.14x10", F.interpolate(xr, size=(14, 10), mode="bilinear", align_corners=False))
put("resize.13x9", F.interpolate(xr, size=(13, 9), mode="bilinear", align_corners=False))
put("resize.3x2", F.interpolate(xr, size=(3, 2), mode="bilinear", align_corners=False))

header = collections.OrderedDict()
off = 0
blobs = []
for k, v in out.items():
    raw = v.numpy().astype("<f4").tobytes()
    header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(raw)]}
    off += len(raw)
    blobs.append(raw)
hj = json.dumps(header).encode()
with open("ops.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))
