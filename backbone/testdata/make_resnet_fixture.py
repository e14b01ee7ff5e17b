"""Expected layer2/layer3 outputs of torchvision ResNets on formula weights (run with /usr/bin/python3 from this
directory). No weights are stored: the Go test computes the same weights from the same formulas.

For the k-th trunk tensor in sorted name order (conv/bn tensors up to layer3, num_batches_tracked excluded), element i
of the flattened tensor is
    conv weight   w[i]   = sin(0.37*i + 1.3*k) * sqrt(2 / fan_in)      (fan_in = Cin*KH*KW)
    bn weight     g[i]   = 1 + 0.2*sin(0.5*i + k)
    bn bias       b[i]   = 0.1*sin(0.3*i + 2*k)
    running_mean  m[i]   = 0.1*sin(0.7*i + k)
    running_var   v[i]   = 0.75 + 0.5*sin(0.11*i + 0.7*k)
The input is 2 x 3 x 64 x 48 with x[i] = sin(0.013*i) + 0.5*cos(0.031*i) over the flat NCHW index i.
The model runs in float64, eval mode; outputs are stored as float32 in <name>.safetensors (layer2, layer3).
"""
import collections
import json
import struct
import sys

import numpy as np
import torch
import torchvision


def formula(name, shape, k):
    i = np.arange(int(np.prod(shape)), dtype=np.float64)
    if name.endswith("running_mean"):
        v = 0.1 * np.sin(0.7 * i + k)
    elif name.endswith("running_var"):
        v = 0.75 + 0.5 * np.sin(0.11 * i + 0.7 * k)
    elif len(shape) == 4:
        fan_in = shape[1] * shape[2] * shape[3]
        v = np.sin(0.37 * i + 1.3 * k) * np.sqrt(2.0 / fan_in)
    elif name.endswith("weight"):
        v = 1 + 0.2 * np.sin(0.5 * i + k)
    else:
        v = 0.1 * np.sin(0.3 * i + 2 * k)
    return torch.from_numpy(v.reshape(shape))


def trunk(model, x):
    x = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    x = model.layer1(x)
    l2 = model.layer2(x)
    l3 = model.layer3(l2)
    return l2, l3


def write_safetensors(path, tensors):
    header, blobs, off = collections.OrderedDict(), [], 0
    for k, v in tensors.items():
        raw = v.detach().numpy().astype("<f4").tobytes()
        header[k] = {"dtype": "F32", "shape": list(v.shape), "data_offsets": [off, off + len(raw)]}
        off += len(raw)
        blobs.append(raw)
    hj = json.dumps(header).encode()
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)) + hj + b"".join(blobs))


def main():
    for name in sys.argv[1:] or ["resnet18", "wide_resnet50_2"]:
        model = getattr(torchvision.models, name)().double().eval()
        sd = model.state_dict()
        names = sorted(n for n in sd if not n.endswith("num_batches_tracked")
                       and not n.startswith(("layer4", "fc")))
        new = {n: formula(n, tuple(sd[n].shape), k) for k, n in enumerate(names)}
        model.load_state_dict(new, strict=False)
        i = np.arange(2 * 3 * 64 * 48, dtype=np.float64)
        x = torch.from_numpy((np.sin(0.013 * i) + 0.5 * np.cos(0.031 * i)).reshape(2, 3, 64, 48))
        with torch.no_grad():
            l2, l3 = trunk(model, x)
        write_safetensors(name + ".safetensors", collections.OrderedDict(layer2=l2, layer3=l3))
        print(name, tuple(l2.shape), tuple(l3.shape), float(l2.abs().max()), float(l3.abs().max()))


if __name__ == "__main__":
    main()
