"""Writes small JPEGs and the pixels Pillow decodes from them, the reference
for dataset's JPEG decoder (run here with /usr/bin/python3, Pillow 9 on
Debian's libjpeg-turbo 2.1):

  jpeg/NAME.jpg   a 37x23 test picture (gradients, a disc, seeded noise)
                  encoded as NAME says: 420, 422, 444 chroma subsampling,
                  grey, progressive 4:2:0
  jpeg/NAME.raw   what Image.open(...).convert("RGB") (or "L" for grey)
                  decodes: 8-bit samples, row-major, RGB interleaved

Pillow reads JPEGs through libjpeg with its defaults (accurate integer
inverse DCT, fancy chroma upsampling), which is how PyTorch's, anomalib's
and PatchCore's data loaders see these files.
"""
import os
import random

from PIL import Image

W, H = 37, 23
rng = random.Random(7)
img = Image.new("RGB", (W, H))
for y in range(H):
    for x in range(W):
        r = 7 * x
        g = 11 * y
        b = 255 if (x - 18) ** 2 + (y - 11) ** 2 < 49 else 40
        n = rng.randint(-25, 25)
        img.putpixel((x, y), tuple(max(0, min(255, v + n)) for v in (r, g, b)))

os.makedirs("jpeg", exist_ok=True)
cases = {
    "420": dict(subsampling=2, quality=85),
    "422": dict(subsampling=1, quality=85),
    "444": dict(subsampling=0, quality=95),
    "progressive": dict(subsampling=2, quality=80, progressive=True),
}
for name, opts in cases.items():
    img.save(f"jpeg/{name}.jpg", **opts)
img.convert("L").save("jpeg/grey.jpg", quality=85)
for name in list(cases) + ["grey"]:
    m = Image.open(f"jpeg/{name}.jpg")
    m = m.convert("L" if name == "grey" else "RGB")
    with open(f"jpeg/{name}.raw", "wb") as f:
        f.write(m.tobytes())
