"""PyTorch CPU reference speed for the truncated ResNet trunks (stem + layer1..layer3), to compare with
`go test -bench ResNetForward ./backbone/` (run with /usr/bin/python3; unset OPENBLAS_CORETYPE and OPENBLAS_L2_SIZE
for that command, as for the Go benchmark).

    usage: bench_torch.py [--threads 2] [--runs 7] [--size 224] [names...]

Prints, per backbone and batch size (1 and 8), the median (and best) over runs of images/s and the achieved GFLOP/s (2 x conv
multiply-accumulates, counted with forward hooks). Weights are random: speed does not depend on them.
"""
import argparse
import statistics
import time

import torch
import torchvision


class Trunk(torch.nn.Module):
    def __init__(self, m):
        super().__init__()
        self.stem = torch.nn.Sequential(m.conv1, m.bn1, m.relu, m.maxpool, m.layer1)
        self.layer2, self.layer3 = m.layer2, m.layer3

    def forward(self, x):
        l2 = self.layer2(self.stem(x))
        return l2, self.layer3(l2)


def conv_macs(model, size):
    total = [0]

    def hook(mod, inp, out):
        total[0] += out.numel() * mod.in_channels // mod.groups * mod.kernel_size[0] * mod.kernel_size[1]

    hs = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, torch.nn.Conv2d)]
    with torch.no_grad():
        model(torch.zeros(1, 3, size, size))
    for h in hs:
        h.remove()
    return total[0]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--size", type=int, default=224)
    ap.add_argument("names", nargs="*", default=["wide_resnet50_2", "resnet18"])
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, mkldnn {torch.backends.mkldnn.is_available()}")
    for name in a.names:
        model = Trunk(getattr(torchvision.models, name)()).eval()
        macs = conv_macs(model, a.size)
        for batch in (1, 8):
            x = torch.randn(batch, 3, a.size, a.size)
            times = []
            with torch.no_grad():
                model(x)  # warm up
                for _ in range(a.runs):
                    t0 = time.perf_counter()
                    model(x)
                    times.append(time.perf_counter() - t0)
            t, best = statistics.median(times), min(times)
            print(f"{name}/batch{batch}: {batch / t:.3f} images/s, {2 * macs * batch / t / 1e9:.2f} GFLOP/s "
                  f"(median of {a.runs}; best {batch / best:.3f} images/s, {2 * macs * batch / best / 1e9:.2f} GFLOP/s; "
                  f"{macs / 1e9:.3f} GMAC/image)")


if __name__ == "__main__":
    main()
