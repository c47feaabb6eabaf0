"""Whether two product photos show the same product, roughly: a small appearance descriptor of the product
in a photo (its colours as a Lab histogram of the pixels that differ from the backdrop, and its outline's
shape) and a similarity between two descriptors in 0..1.

It answers "does this new photo look like the product we are working on?", not "is this candidate true to
the source" (that is pipelines.vision). Photos of one product from another angle stay close; a ring and a
necklace, or a gold ring and a silver one, do not. Image in, numbers out: no SKUs, no catalog.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PIL import Image

SIDE = 256            # analysis size (long side)
BACKDROP_DE = 14.0    # a pixel this far (CIE76 in Lab) from the backdrop is the product
BINS = (4, 6, 6)      # L, a, b histogram bins


@dataclass(frozen=True)
class Descriptor:
    histogram: np.ndarray   # normalized Lab histogram of the product pixels
    hu: np.ndarray          # log-scaled Hu moments of the product's outline
    aspect: float           # short / long side of the product's box
    share: float            # product pixels / frame


def _lab(image: Image.Image) -> np.ndarray:
    rgb = np.asarray(image.convert("RGB"))
    scale = SIDE / max(rgb.shape[:2])
    if scale < 1:
        rgb = cv2.resize(rgb, (max(1, round(rgb.shape[1] * scale)), max(1, round(rgb.shape[0] * scale))),
                         interpolation=cv2.INTER_AREA)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2LAB).astype(np.float32)


def product_mask(lab: np.ndarray) -> np.ndarray:
    """The pixels that differ from the backdrop (the median of the frame's border), cleaned of specks."""
    border = np.concatenate([lab[0], lab[-1], lab[:, 0], lab[:, -1]])
    backdrop = np.median(border, axis=0)
    scale = np.array([100 / 255, 1.0, 1.0], dtype=np.float32)  # OpenCV's 8-bit Lab: L in 0..255
    distance = np.linalg.norm((lab - backdrop) * scale, axis=2)
    mask = (distance > BACKDROP_DE).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((3, 3), np.uint8))
    if mask.sum() < 0.005 * mask.size:  # a busy or unusual frame: the whole photo is the evidence
        mask[:] = 1
    return mask


def describe(image: Image.Image) -> Descriptor:
    """The appearance descriptor of the product in a photo (RGBA cutouts: the alpha is the product)."""
    lab = _lab(image)
    if image.mode == "RGBA":
        alpha = np.asarray(image.getchannel("A").resize((lab.shape[1], lab.shape[0])))
        mask = (alpha > 128).astype(np.uint8)
    else:
        mask = product_mask(lab)
    hist = cv2.calcHist([lab.astype(np.uint8)], [0, 1, 2], mask, list(BINS), [0, 256, 0, 256, 0, 256]).ravel()
    hist = hist / max(hist.sum(), 1.0)
    hu = cv2.HuMoments(cv2.moments(mask, binaryImage=True)).ravel()
    hu = -np.sign(hu) * np.log10(np.abs(hu) + 1e-30)
    ys, xs = np.nonzero(mask)
    h, w = (ys.max() - ys.min() + 1, xs.max() - xs.min() + 1) if len(xs) else mask.shape
    return Descriptor(hist.astype(np.float32), hu[:4], float(min(h, w) / max(h, w)), float(mask.mean()))


def similarity(a: Descriptor, b: Descriptor) -> float:
    """0..1: how alike two products look (colours weigh most, then the outline's shape)."""
    colour = 1.0 - float(cv2.compareHist(a.histogram, b.histogram, cv2.HISTCMP_BHATTACHARYYA))
    shape = float(np.exp(-np.abs(a.hu - b.hu).mean() / 2.0))
    aspect = 1.0 - abs(a.aspect - b.aspect)
    return round(0.6 * colour + 0.25 * shape + 0.15 * aspect, 4)
