"""Writes the small image fixtures that Go's encoders cannot produce (run with /usr/bin/python3, Pillow 9).

  la8.png    4x3 PNG, colour type grey+alpha 8-bit: grey = 20*x + 60*y, alpha = 255 - 40*x
  cmyk.jpg   8x8 CMYK JPEG (Adobe marker), flat C=50 M=100 Y=150 K=0, quality 100: RGB about (205, 155, 105)
"""
from PIL import Image

la = Image.new("LA", (4, 3))
for y in range(3):
    for x in range(4):
        la.putpixel((x, y), (20 * x + 60 * y, 255 - 40 * x))
la.save("la8.png")

Image.new("CMYK", (8, 8), (50, 100, 150, 0)).save("cmyk.jpg", quality=100)
