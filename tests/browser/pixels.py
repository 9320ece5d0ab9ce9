"""What a screenshot of a chart shows, measured: a canvas that exists but draws nothing is
not a chart, and two screenshots can differ by a blinking cursor alone.

- ``Drawing``: how much of the picture is not the background, and how many pixels have
  the candles' own colours (``theme.ts``: up #26a69a, down #ef5350): a chart with candles
  has hundreds; an empty chart, or one with only axes and a grid, has none.
- ``changed_box``: the box around the pixels that differ between two screenshots.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import cast

from PIL import Image, ImageChops

RGB = tuple[int, int, int]

UP = (0x26, 0xA6, 0x9A)
DOWN = (0xEF, 0x53, 0x50)
#: Per-channel distance within which a pixel counts as a candle colour (antialiased edges).
TOLERANCE = 12


def rgb(png: bytes) -> Image.Image:
    return Image.open(io.BytesIO(png)).convert("RGB")


@dataclass(frozen=True)
class Drawing:
    size: tuple[int, int]
    background: RGB
    drawn: float  # the fraction of pixels that are not the background
    candle_pixels: int  # pixels of the up or down colour

    def __str__(self) -> str:
        return (
            f"{self.size[0]}x{self.size[1]} px, background {self.background}, "
            f"{self.drawn:.1%} drawn, {self.candle_pixels} candle-coloured px"
        )


def _near(pixel: RGB, color: RGB) -> bool:
    return all(abs(a - b) <= TOLERANCE for a, b in zip(pixel, color, strict=True))


def drawing(png: bytes) -> Drawing:
    image = rgb(png)
    total = image.width * image.height
    # (count, (r, g, b)) of every colour: an RGB image's colours are tuples
    colors = [(n, cast(RGB, c)) for n, c in image.getcolors(total) or []]
    count, background = max(colors)
    candles = sum(n for n, c in colors if _near(c, UP) or _near(c, DOWN))
    return Drawing(image.size, background, 1 - count / total, candles)


def changed_box(first: bytes, second: bytes) -> tuple[int, int, int, int] | None:
    """(left, top, right, bottom) around the pixels that differ; None if none do."""
    a, b = rgb(first), rgb(second)
    if a.size != b.size:
        return (0, 0, max(a.width, b.width), max(a.height, b.height))
    return ImageChops.difference(a, b).getbbox()
