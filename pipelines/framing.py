"""Image maths for fitting finished images to a channel: sampling the border (pure white? a drawn
frame?), the product's box on white, white padding to an aspect and crops that keep the product whole.
Plain images and boxes (x0, y0, x1, y1) in, no channel rules (those are tools/rules.py and tools/publish.py).
"""

from __future__ import annotations

import numpy as np
from PIL import Image


def border_ring(image: Image.Image, frac: float = 0.02) -> np.ndarray:
    """The pixels of the outer ring (`frac` of the short side deep on every side), as (N, 3)."""
    array = np.asarray(image.convert("RGB"))
    h, w = array.shape[:2]
    k = max(1, round(min(h, w) * frac))
    return np.concatenate([array[:k].reshape(-1, 3), array[-k:].reshape(-1, 3),
                           array[:, :k].reshape(-1, 3), array[:, -k:].reshape(-1, 3)])


def white_border(image: Image.Image) -> bool:
    """The outer ring is pure white (every channel >= 253 on 99% of its pixels)."""
    ring = border_ring(image)
    return float((ring.min(axis=1) >= 253).mean()) >= 0.99


def framed(image: Image.Image) -> bool:
    """A drawn frame: on all four sides a flat band of one non-white color, at most 8 % deep, that ends
    in a clear step to what lies inside. A flat backdrop (no step near the edge) is no frame."""
    array = np.asarray(image.convert("RGB")).astype(np.float32)
    h, w = array.shape[:2]
    sides = [array, array[::-1], array.transpose(1, 0, 2), array.transpose(1, 0, 2)[::-1]]  # top, bottom, left, right
    colors = []
    for side in sides:
        depth = max(2, int(side.shape[0] * 0.08))
        lines = side[: depth + 1]
        means, spread = lines.mean(axis=1), lines.std(axis=1).max(axis=1)
        outer = means[0]
        band = 0
        while band <= depth and spread[band] < 4.0 and np.abs(means[band] - outer).max() < 6.0:
            band += 1
        beyond = min(band + 3, depth)  # past the resampling blur at the band's inner edge
        if band == 0 or band > depth or np.abs(means[beyond] - outer).max() < 12.0:
            return False
        colors.append(outer)
    colors = np.array(colors)
    return float(np.abs(colors - colors[0]).max()) < 10.0 and float(colors.mean(axis=0).min()) < 250.0


def inside_crop(box, size: tuple[int, int], aspect: float) -> bool:
    """Whether the box lies inside the centred crop of `aspect` (width / height) of an image of `size`."""
    width, height = size
    crop_w, crop_h = min(width, height * aspect), min(height, width / aspect)
    x0, y0 = (width - crop_w) / 2, (height - crop_h) / 2
    return box[0] >= x0 - 1 and box[1] >= y0 - 1 and box[2] <= x0 + crop_w + 1 and box[3] <= y0 + crop_h + 1


def crop_around(image: Image.Image, box, aspect: float, *, centre: bool = False):
    """The largest crop of `aspect` holding the whole product box (3 % margin), and its offset; the
    centred crop when `centre`; None when the product would not stay whole."""
    width, height = image.size
    cw, ch = (width, round(width / aspect)) if width / height < aspect else (round(height * aspect), height)
    if centre:
        left, top = (width - cw) // 2, (height - ch) // 2
        return image.crop((left, top, left + cw, top + ch)), (left, top)
    if box is None:
        return None
    margin = 0.03 * max(cw, ch)
    bx0, by0, bx1, by1 = box
    cx, cy = (bx0 + bx1) / 2, (by0 + by1) / 2
    left = int(round(min(max(cx - cw / 2, 0), width - cw)))
    top = int(round(min(max(cy - ch / 2, 0), height - ch)))
    if bx0 - margin < left or bx1 + margin > left + cw or by0 - margin < top or by1 + margin > top + ch:
        return None
    return image.crop((left, top, left + cw, top + ch)), (left, top)


def pad_white(image: Image.Image, aspect: float) -> tuple[Image.Image, tuple[int, int]]:
    """The image centred on a white canvas of `aspect` (width / height), and its offset there."""
    width, height = image.size
    if width / height < aspect:
        canvas = Image.new("RGB", (round(height * aspect), height), (255, 255, 255))
    else:
        canvas = Image.new("RGB", (width, round(width / aspect)), (255, 255, 255))
    offset = ((canvas.width - width) // 2, (canvas.height - height) // 2)
    canvas.paste(image, offset)
    return canvas, offset


def product_box_on_white(image: Image.Image, below: int = 245) -> tuple[float, float, float, float] | None:
    """The box of the non-white pixels (any channel below `below`) of a product on white; None when all white."""
    mask = np.asarray(image.convert("RGB")).min(axis=2) < below
    if not mask.any():
        return None
    ys, xs = np.nonzero(mask)
    return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))
