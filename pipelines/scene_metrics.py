"""Measurements of rendered scenes, for change requests and candidate variety: backdrop lightness (CIELAB
L*) and warmth (b*) outside the product, the product's share of the frame, how crisp its shadow is, how
much of it is mirrored below it, how its outline stands out from the set, whether it has a contact shadow
(against the same set rendered empty), and a perceptual distance between two images.

The distance (`image_distance`, 0 same .. about 1 unrelated) needs no downloaded weights: the mean of
(1 - SSIM) of the lightness at 128 px (scikit-image), the Bhattacharyya distance of 8x8x8 Lab colour
histograms (OpenCV), and 1 - IoU of dilated Canny edge maps at 128 px (edge layout). Two images closer
than NEAR_DUPLICATE read as the same picture to a person.
"""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image

NEAR_DUPLICATE = 0.10  # image_distance below this: the same picture (resampled, re-encoded, a seed apart)
Box = tuple[float, float, float, float]  # x, y, width, height of the product in the image


def _lab(image: Image.Image) -> np.ndarray:
    return cv2.cvtColor(np.asarray(image.convert("RGB"), np.float32) / 255.0, cv2.COLOR_RGB2Lab)


def _outside(shape: tuple[int, int], box: Box | None, grow: float = 0.08) -> np.ndarray:
    h, w = shape
    mask = np.ones((h, w), bool)
    if box is not None:
        x, y, bw, bh = box
        gx, gy = bw * grow, bh * grow
        mask[max(0, int(y - gy)):min(h, int(y + bh + gy)), max(0, int(x - gx)):min(w, int(x + bw + gx))] = False
    return mask


def backdrop_lab(image: Image.Image, box: Box | None) -> tuple[float, float, float]:
    """Median L*, a*, b* of the frame outside the product's box (grown by 8 %)."""
    lab = _lab(image)
    mask = _outside(lab.shape[:2], box)
    values = lab[mask] if mask.any() else lab.reshape(-1, 3)
    return tuple(float(np.median(values[:, c])) for c in range(3))  # type: ignore[return-value]


def product_share(image: Image.Image, box: Box) -> float:
    """Share of the frame's area the product's box covers."""
    w, h = image.size
    return float(box[2] * box[3]) / float(w * h)


def shadow_sharpness(image: Image.Image, box: Box) -> float:
    """How crisp the shadows at the product's outline are: the 95th percentile of the lightness gradient
    (smoothed at 1.5 px, so grain does not count) in a band just outside the product's box (15 % wide)."""
    lab = _lab(image)
    h, w = lab.shape[:2]
    lum = cv2.GaussianBlur(lab[..., 0], (0, 0), 1.5)
    mag = np.hypot(cv2.Sobel(lum, cv2.CV_32F, 1, 0), cv2.Sobel(lum, cv2.CV_32F, 0, 1))
    band = _outside((h, w), box, 0.0) & ~_outside((h, w), box, 0.15)
    return float(np.percentile(mag[band], 95)) if band.any() else 0.0


def reflection(image: Image.Image, box: Box) -> float:
    """How much of the product is mirrored right below it: the correlation of the band under its foot with
    the product's lower part flipped (0 none .. 1 a mirror)."""
    arr = cv2.cvtColor(np.asarray(image.convert("RGB")), cv2.COLOR_RGB2GRAY).astype(np.float32)
    h, w = arr.shape
    x, y, bw, bh = (int(round(v)) for v in box)
    rows = min(bh // 3, h - (y + bh))
    if rows < 4 or bw < 4:
        return 0.0
    x0, x1 = max(0, x), min(w, x + bw)
    below = arr[y + bh:y + bh + rows, x0:x1]
    mirrored = arr[y + bh - rows:y + bh, x0:x1][::-1]
    a, b = below - below.mean(), mirrored - mirrored.mean()
    denom = float(np.sqrt((a * a).sum() * (b * b).sum()))
    return max(0.0, float((a * b).sum()) / denom) if denom > 1e-6 else 0.0


def image_distance(a: Image.Image, b: Image.Image) -> float:
    """Perceptual distance without weights (see the module docstring): 0 the same .. about 1 unrelated."""
    from skimage.metrics import structural_similarity

    side = 128
    la, lb = (_lab(im.convert("RGB").resize((side, side), Image.BILINEAR)) for im in (a, b))
    ssim = structural_similarity(la[..., 0], lb[..., 0], data_range=100.0)
    hists = []
    for lab in (la, lb):
        values = lab.reshape(-1, 3)
        hist, _ = np.histogramdd(values, bins=(8, 8, 8), range=((0, 100), (-60, 60), (-60, 60)))
        hists.append((hist / max(hist.sum(), 1)).astype(np.float32).ravel())
    colour = float(cv2.compareHist(hists[0], hists[1], cv2.HISTCMP_BHATTACHARYYA))
    edges = []
    for lab in (la, lb):
        gray = np.clip(lab[..., 0] * 2.55, 0, 255).astype(np.uint8)
        e = cv2.Canny(cv2.GaussianBlur(gray, (3, 3), 0), 40, 120) > 0
        edges.append(cv2.dilate(e.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0)
    union = (edges[0] | edges[1]).sum()
    layout = 1.0 - float((edges[0] & edges[1]).sum()) / float(union) if union else 0.0
    return float(np.clip(((1.0 - ssim) + colour + layout) / 3.0, 0.0, 1.0))


def frame_fill(image: Image.Image, tolerance: int = 3) -> float:
    """Share of the frame that is picture rather than blank padding: border rows and columns of one flat
    colour (every pixel within `tolerance` of the corner's colour) are padding. A full-bleed close-up is
    1.0; a small crop centred on a blank canvas is its own area share."""
    arr = np.asarray(image.convert("RGB")).astype(np.int16)
    h, w = arr.shape[:2]
    flat = (np.abs(arr - arr[0, 0]).max(axis=2) <= tolerance)
    rows, cols = flat.all(axis=1), flat.all(axis=0)

    def run(values) -> int:
        n = 0
        for v in values:
            if not v:
                break
            n += 1
        return n

    top, bottom = run(rows), run(rows[::-1])
    left, right = run(cols), run(cols[::-1])
    if top >= h or left >= w:
        return 0.0
    return float(max(0, h - top - bottom) * max(0, w - left - right)) / float(h * w)


def photo_share(image: Image.Image, photo: Image.Image, crop: tuple[int, int, int, int], tolerance: float = 6.0) -> float:
    """Share of the frame that shows the photo: pixels within `tolerance` ΔE (CIE76, lightly blurred) of the
    photo's `crop` (x0, y0, x1, y1) resampled to the frame. A close-up cut from the photo is about 1.0, its
    plain backdrop included; a crop on a blank canvas or a re-drawn region is not."""
    shown = photo.convert("RGB").crop(crop).resize(image.size, Image.LANCZOS)
    soft = [cv2.GaussianBlur(_lab(x), (0, 0), 1.5) for x in (image, shown)]
    return float((np.linalg.norm(soft[0] - soft[1], axis=-1) < tolerance).mean())


def near_duplicates(images: list[Image.Image], limit: float = NEAR_DUPLICATE) -> list[tuple[int, int, float]]:
    """Pairs (i, j, distance) of images closer than `limit`: the same picture to a person."""
    pairs = []
    for i in range(len(images)):
        for j in range(i + 1, len(images)):
            d = image_distance(images[i], images[j])
            if d < limit:
                pairs.append((i, j, round(d, 3)))
    return pairs


def shadow_edges(before: Image.Image, after: Image.Image, box: Box) -> tuple[float, float]:
    """Shadow crispness of two renders of the same set (a change request's before and after): each image's
    shadow is its darkening against the lighter of the two at every pixel (the set itself cancels out);
    the 99th percentile of that shadow map's gradient where the two differ near the product (its box grown
    30 %), per image."""
    lb, la = (cv2.GaussianBlur(_lab(im)[..., 0], (0, 0), 1.0) for im in (before, after))
    if lb.shape != la.shape:
        raise ValueError("shadow_edges compares two renders of the same size")
    ref = np.maximum(lb, la)
    h, w = lb.shape
    changed = cv2.dilate((np.abs(la - lb) > 0.5).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    band = changed & ~_outside((h, w), box, 0.3)  # where the shadows differ, near the product
    out = []
    for lum in (lb, la):
        shade = ref - lum
        mag = np.hypot(cv2.Sobel(shade, cv2.CV_32F, 1, 0), cv2.Sobel(shade, cv2.CV_32F, 0, 1))
        out.append(float(np.percentile(mag[band], 99)) if band.any() else 0.0)
    return out[0], out[1]


def outline_contrast(image: Image.Image, mask: np.ndarray) -> float:
    """How the product's outline stands out from the set right around it: the CIE76 colour difference
    between the median Lab of a thin band just inside the product's silhouette (`mask`, a bool map of the
    frame) and the median Lab of a band just outside it (1.5 % to 4 % of the product's size away, past
    the antialiased edge; a contact shadow covers only part of it). A silver band on a set of its own
    lightness measures a few units; silver on white about 12 and more."""
    lab = _lab(image)
    m = mask.astype(np.uint8)
    ys, xs = np.nonzero(m)
    if not len(ys):
        return 0.0
    size = max(int(ys.max() - ys.min()), int(xs.max() - xs.min())) + 1
    r = max(1, round(0.015 * size))

    def grown(k: int) -> np.ndarray:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
        return cv2.dilate(m, kernel) > 0 if k > 0 else m > 0

    inner = (m > 0) & ~(cv2.erode(m, np.ones((2 * r + 1, 2 * r + 1), np.uint8)) > 0)
    outer = grown(max(r + 1, round(0.04 * size))) & ~grown(r)
    if not (inner.any() and outer.any()):
        return 0.0
    return float(np.linalg.norm(np.median(lab[inner], axis=0) - np.median(lab[outer], axis=0)))


# How much of the set's L* a contact shadow takes right against the product, at least (see contact_darkening).
# Standing, the shadow under the foot is a dark, tight line: 15 % is 13 L* on a white sweep (L* 90) and 3 L* on
# a dark set (L* 20), a step seen at a glance on either. Lying flat, seen from above, it is a soft halo hugging
# the outline: 6 % (5 L* on a white set).
CONTACT_SHADOW_MIN = {"standing": 0.15, "flat": 0.06}


def contact_band(mask: np.ndarray, pose: str = "standing") -> np.ndarray:
    """The set's pixels right against the product where it rests on the surface, as a bool map of the frame
    (`mask`: where the product is visible, alpha > 8). Standing: the few rows right under its lowest points
    (the columns whose lowest product pixel lies within 2 % of its height of the lowest of all), from the
    cutout's own outline, so a narrow foot or one lens of a pair of glasses is measured where it is. Lying
    flat: a thin ring right around its whole outline."""
    m = mask.astype(bool)
    ys, xs = np.nonzero(m)
    band = np.zeros(m.shape, bool)
    if not len(ys):
        return band
    size = max(int(ys.max() - ys.min()), int(xs.max() - xs.min())) + 1
    if pose == "flat":
        r = max(2, round(0.012 * size))

        def grown(k: int) -> np.ndarray:
            kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * k + 1, 2 * k + 1))
            return cv2.dilate(m.astype(np.uint8), kernel) > 0

        return grown(r) & ~grown(2)
    h = m.shape[0]
    height = int(ys.max() - ys.min()) + 1
    reach, depth = max(2, round(0.02 * height)), max(3, round(0.02 * height))
    lowest = np.where(m.any(axis=0), h - 1 - np.argmax(m[::-1], axis=0), -1)  # per column; -1: no product
    foot = lowest >= int(ys.max()) - reach
    rows = np.arange(h)[:, None]
    band = foot[None, :] & (rows > lowest[None, :]) & (rows <= lowest[None, :] + depth)
    return band & ~m


def contact_darkening(image: Image.Image, empty: Image.Image, mask: np.ndarray, pose: str = "standing") -> float:
    """How much the product's contact shadow darkens the set: over `contact_band`, the median of the
    pixel-by-pixel L* drop from `empty` (the same set rendered without the product, its shadows and
    reflection) to `image`, as a share of the empty set's median L* there (a shadow darkens in proportion,
    so on a set of L* 20 it is a smaller step than on one of L* 90). The set's own texture (wood grain, a
    marble vein) is in both images and cancels out. 0 when there is no band."""
    band = contact_band(mask, pose)
    if not band.any():
        return 0.0
    lit, shaded = _lab(empty)[..., 0][band], _lab(image)[..., 0][band]
    return float(np.median(lit - shaded)) / max(float(np.median(lit)), 5.0)


def contact_shadow_present(image: Image.Image, empty: Image.Image, mask: np.ndarray, pose: str = "standing") -> bool:
    """Whether the product visibly rests on the set: `contact_darkening` of at least CONTACT_SHADOW_MIN."""
    return contact_darkening(image, empty, mask, pose) >= CONTACT_SHADOW_MIN[pose]
