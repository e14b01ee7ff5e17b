"""Writes the weights package test fixtures (run with /usr/bin/python3 from this directory).

tiny.pth          torch.save of an OrderedDict (zip format) with float32, float16, float64 and int64 tensors,
                  a non-contiguous (transposed) tensor, a tensor sharing storage at an offset, and a Parameter.
tiny.safetensors  safetensors written by hand (struct + json): F32, F16, BF16 and F64 tensors plus metadata.
expected.json     the float64 values of every tensor, for both files.
"""
import collections
import json
import struct

import numpy as np
import torch

torch.manual_seed(0)
a = torch.arange(24, dtype=torch.float32).reshape(2, 3, 4) / 7.0 - 1.5
base = torch.linspace(-2, 2, 20, dtype=torch.float32)
sd = collections.OrderedDict()
sd["conv.weight"] = a
sd["half"] = (torch.arange(6, dtype=torch.float32) * 0.3 - 0.7).half()
sd["double"] = torch.tensor([[1e-3, -2.5], [3.25, 1e5]], dtype=torch.float64)
sd["bn.num_batches_tracked"] = torch.tensor(7, dtype=torch.int64)
sd["transposed"] = torch.arange(12, dtype=torch.float32).reshape(3, 4).t()  # stride (1, 4)
sd["view"] = base[5:11].view(2, 3)  # storage offset 5, shared storage
sd["param"] = torch.nn.Parameter(torch.tensor([0.5, -0.25]))
torch.save(sd, "tiny.pth")

expected = {"pth": {k: {"shape": list(v.shape), "data": v.detach().double().flatten().tolist()} for k, v in sd.items()}}

# safetensors by hand.
st = collections.OrderedDict()
st["f32"] = np.array([[1.5, -2.0, 3.25], [0.0, 1e-8, -7.0]], dtype="<f4")
st["f16"] = np.array([1.0, -0.5, 65504.0, 6.0e-8, 0.0, -3.140625], dtype="<f2")
st["bf16_src"] = np.array([1.0, -2.5, 3.140625, 1e30], dtype="<f4")
st["f64"] = np.array([[1.0 / 3.0]], dtype="<f8")
header = collections.OrderedDict()
header["__metadata__"] = {"format": "pt", "note": "hand written"}
blobs = []
off = 0
for name, arr in st.items():
    if name == "bf16_src":
        raw = (arr.view("<u4") >> 16).astype("<u2").tobytes()  # truncate to bfloat16
        name, dtype = "bf16", "BF16"
        vals = ((arr.view("<u4") >> 16) << 16).astype("<u4").view("<f4").astype("<f8")
    else:
        raw = arr.tobytes()
        dtype = {"<f4": "F32", "<f2": "F16", "<f8": "F64"}[arr.dtype.str]
        vals = arr.astype("<f8")
    header[name] = {"dtype": dtype, "shape": list(arr.shape), "data_offsets": [off, off + len(raw)]}
    blobs.append(raw)
    off += len(raw)
    expected.setdefault("safetensors", {})[name] = {"shape": list(arr.shape), "data": vals.flatten().tolist()}
hj = json.dumps(header).encode()
with open("tiny.safetensors", "wb") as f:
    f.write(struct.pack("<Q", len(hj)))
    f.write(hj)
    for b in blobs:
        f.write(b)
expected["safetensors_meta"] = header["__metadata__"]
with open("expected.json", "w") as f:
    json.dump(expected, f, indent=1)
