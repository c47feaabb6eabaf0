"""A product's mirrored reflection on a glossy floor: found in the photo, so it is neither cut out as
part of the product nor counted as a lost part of it.

A studio shot on a glossy sweep shows, below the product's foot, the product upside down: each row
below the contact line is the row as far above it, dimmed (the floor reflects only part of the light)
and fading with distance until it runs out into the backdrop. Colour cannot tell that from the product
(it has the product's own colours), so the matting kept it and the check against the photo counted it
as product. The reflection is found by that model instead:

- the line: a row of the product's lower three quarters about which each row below is explained, as a
  difference from the backdrop, by the mirrored row above times a factor between 0 and 1;
- it fades (the factor in its last third is well below the factor in its first third), or it is dim
  all along (at most half the light of what it mirrors);
- it runs out: below it the photo shows nothing that differs from the backdrop;
- it has the outline of what it mirrors (near the line, the same columns), and a length that a
  product's own rounded foot does not have (the tip of a teardrop stone or the lower band of a ring
  also mirrors the part above it, over a few rows).

Used by the matting (pipelines/matting.py) and by the check against the photo
(pipelines/cutout_check.py), so both agree on what the photo shows as the product.
"""

from __future__ import annotations

import cv2
import numpy as np

SEARCH_PX = 320  # longest side at which the line is searched (a reflection spans tens of rows)
MIRROR_FIT = 0.6  # share of a row's difference from the backdrop that its mirrored row must explain
MIRROR_GAIN = (0.05, 0.95)  # a floor reflects some light, never all of it
MIRROR_FADE = 0.6  # its last third at most this share of its first third's strength: it fades
MIRROR_LENGTH = 0.15  # at least this share of the height of what it mirrors
MIRROR_DIM = 0.5  # ... or it is dim all along: at most half of the light of what it mirrors
MIRROR_OUTLINE = 0.8  # share of its near half's outline that matches the rows it mirrors (within a pixel)
RUNS_OUT = 0.1  # below its end, product evidence of at most this share of its area
MIN_ROWS = 4  # rows at the search size


def mirrored_reflection(diff: np.ndarray, product: np.ndarray) -> np.ndarray:
    """Where the photo shows the product's mirrored reflection below it (bool, `product`'s shape; all
    False when it shows none).

    `diff`: (h, w, 3) Lab difference from the backdrop; `product`: bool map of what differs from it (the
    product and its reflection alike).
    """
    h, w = product.shape
    zone = np.zeros((h, w), bool)
    if not product.any():
        return zone
    scale = min(1.0, SEARCH_PX / max(h, w))
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small_diff = cv2.resize(diff.astype(np.float32), size, interpolation=cv2.INTER_AREA)
        small_product = cv2.resize(product.astype(np.float32), size, interpolation=cv2.INTER_AREA) > 0.5
    else:
        small_diff, small_product = diff.astype(np.float32), product.astype(bool)
    found = _mirror_line(small_diff, small_product)
    if found is None:
        return zone
    line, length, columns = found
    sy, sx = h / small_product.shape[0], w / small_product.shape[1]
    # the columns of what it mirrors, with a search pixel's margin; below the line there, as far again as the
    # fit holds (its faint end, which the fit no longer explains, fades out within that)
    cols = np.zeros(w, bool)
    for x in np.flatnonzero(columns):
        cols[int(x * sx):int(np.ceil((x + 1) * sx))] = True
    cols = cv2.dilate(cols.astype(np.uint8)[None], np.ones((1, 2 * int(np.ceil(sx)) + 1), np.uint8))[0].astype(bool)
    rows = max(MIN_ROWS, int(length * sy))
    axis = _refined_axis(diff, cols, (line + 0.5) * sy, rows, max(1, int(np.ceil(2 * sy))))
    zone[axis + 1:axis + 1 + 2 * rows, :] = cols[None, :]
    return zone


def _mirror_fit(above: np.ndarray, below: np.ndarray, counted: np.ndarray | None = None):
    """Per pair of rows (k, w, 3), mirrored about a line: the factor that best explains the row below by the
    row above (least squares over the `counted` pixels, all when None), the share of the row below's
    difference from the backdrop that it explains, and that difference's energy."""
    weight = 1.0 if counted is None else counted
    aa = (np.einsum("kwc,kwc->kw", above, above) * weight).sum(1)
    ab = (np.einsum("kwc,kwc->kw", above, below) * weight).sum(1)
    bb = (np.einsum("kwc,kwc->kw", below, below) * weight).sum(1)
    gain = ab / np.maximum(aa, 1e-6)
    explained = 1.0 - (bb - 2 * gain * ab + gain * gain * aa) / np.maximum(bb, 1e-6)
    return gain, explained, bb


def _outline_match(up: np.ndarray, down: np.ndarray) -> float:
    """Share of two rows-by-columns outlines that lies within a pixel of the other (a thin part's outline
    is a pixel or two wide at the search size, so exact overlap would say little)."""
    near = np.ones((1, 3), np.uint8)
    up_near = cv2.dilate(up.astype(np.uint8), near).astype(bool)
    down_near = cv2.dilate(down.astype(np.uint8), near).astype(bool)
    matched = int((up & down_near).sum() + (down & up_near).sum())
    return matched / max(1, int(up.sum() + down.sum()))


def _refined_axis(diff: np.ndarray, cols: np.ndarray, coarse: float, length: int, reach: int) -> int:
    """The mirror axis at full resolution: the row within `reach` of `coarse` about which the mirrored rows
    explain the most of the reflection's first `length` rows (the search size puts it a few rows off)."""
    h = diff.shape[0]
    region = diff[:, cols].astype(np.float32)
    best_axis, best_fit = int(round(coarse)), -np.inf
    for axis in range(int(round(coarse)) - reach, int(round(coarse)) + reach + 1):
        ks = np.arange(1, min(length, axis, h - 1 - axis) + 1)
        if ks.size < MIN_ROWS:
            continue
        _, explained, _ = _mirror_fit(region[axis - ks], region[axis + ks])
        fit = float(np.mean(explained))
        if fit > best_fit:
            best_axis, best_fit = axis, fit
    return best_axis


def _mirror_line(diff: np.ndarray, product: np.ndarray) -> tuple[int, int, np.ndarray] | None:
    """(line row, length in rows, the columns of what it mirrors) of the strongest mirrored reflection, or None."""
    rows = np.flatnonzero(product.any(1))
    if rows.size < 2 * MIN_ROWS:
        return None
    width = product.shape[1]
    cols = np.flatnonzero(product.any(0))
    x0, x1 = cols[0], cols[-1] + 1
    diff, product = diff[:, x0:x1], product[:, x0:x1]
    y0, y1 = rows[0], rows[-1]
    best = None
    for line in range(y0 + (y1 - y0) // 4, y1 - MIN_ROWS + 1):
        reach = min(line - y0, y1 - line)
        if reach < MIN_ROWS:
            continue
        ks = np.arange(1, reach + 1)
        gain, explained, bb = _mirror_fit(diff[line - ks], diff[line + ks], product[line - ks] | product[line + ks])
        holds = (explained >= MIRROR_FIT) & (gain > MIRROR_GAIN[0]) & (gain < MIRROR_GAIN[1]) & (bb > 0)
        length = reach if holds.all() else int(np.argmin(holds))
        if length < max(MIN_ROWS, MIRROR_LENGTH * (line - y0)):
            continue
        area = int(product[line + 1:line + length + 1].sum())
        if product[line + length + 1:].sum() > RUNS_OUT * area:
            continue
        third = max(1, length // 3)
        fades = gain[length - third:length].mean() <= MIRROR_FADE * gain[:third].mean()
        if not fades and gain[:length].mean() > MIRROR_DIM:
            continue
        half = max(2, length // 2)
        up, down = product[line - ks[:half]], product[line + ks[:half]]
        if _outline_match(up, down) < MIRROR_OUTLINE:
            continue
        strength = float(bb[:length].sum())
        if best is None or strength > best[0]:
            spans = np.zeros(width, bool)
            spans[x0:x1] = product[line - length:line + 1].any(0)
            best = (strength, line, length, spans)
    return None if best is None else best[1:]
