"""Classical product matting for studio photos: image in, RGBA cutout and a small report out.

The background is modelled from the image border (a smooth quadratic surface in CIE Lab, so white,
grey and gradient sweeps all fit); pixels are separated by their perceptual distance to it, soft cast
shadows (darker, same chroma, no edges) are kept out, GrabCut refines the boundary along real edges on
a reduced copy, and the alpha is taken back to full resolution with soft edges. Background regions
enclosed by the product (ring, hoop and bangle holes) stay open; thin chains survive because strong
colour evidence is always kept. A busy background raises `BusyBackground` (no guessing).

No SKUs, files or catalog here: tools/prepare.py does that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

GRABCUT_MAX_PIXELS = 90_000  # GrabCut runs on a reduced copy of the product's surroundings
GRABCUT_ITERATIONS = 1  # the trimap from colour evidence is good; one pass settles the boundary
TEXTURED = 1.3  # a product is textured where its brightest nearby pixel stands 30 % above its mean
SHADOW_OPEN = 2  # a cast shadow is broader than 2 * SHADOW_OPEN + 1 px


class MattingError(ValueError):
    """The photo cannot be cut out by the classical engine; the message says why and what to do."""


class BusyBackground(MattingError):
    """The background is not a studio background (scene, clutter, texture)."""


@dataclass
class CutoutResult:
    rgba: Image.Image
    background: str  # plain | gradient | transparent
    confidence: float
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 of the product (alpha > 0.5)
    coverage: float  # share of the frame the product covers
    holes: int  # background regions kept open inside the product
    seconds: float
    notes: list[str] = field(default_factory=list)

    def report(self) -> dict:
        return {"background": self.background, "confidence": round(self.confidence, 3), "bbox": list(self.bbox),
                "coverage": round(self.coverage, 4), "holes": self.holes, "seconds": round(self.seconds, 3),
                "width": self.rgba.width, "height": self.rgba.height, "notes": self.notes}


def cut_out(image: Image.Image, *, refine: bool = True) -> CutoutResult:
    """Cut the product out of a studio photo. Raises BusyBackground / MattingError when it cannot."""
    start = time.perf_counter()
    # 1. Check inputs; an image that already has transparency is its own cutout.
    if not isinstance(image, Image.Image):
        raise MattingError(f"image must be a PIL image, got {type(image).__name__}")
    if image.mode == "RGBA":
        alpha = np.asarray(image.getchannel("A"))
        if alpha.min() < 250:
            return _result(image.copy(), alpha.astype(np.float32) / 255.0, "transparent", 1.0, 0, start,
                           ["used the transparency already in the image"])
    rgb = np.asarray(image.convert("RGB"))
    h, w = rgb.shape[:2]
    if min(h, w) < 32:
        raise MattingError(f"image is {w}x{h}; a cutout needs at least 32 px on each side")

    # 2. Model the background from the border: a quadratic surface per Lab channel, fitted robustly.
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).astype(np.float32)
    lab -= np.array([0.0, 128.0, 128.0], np.float32)
    lab[..., 0] *= 100.0 / 255.0
    bg_lab, bg_rgb, sigma, inliers, spread = _fit_background(lab, rgb)
    if inliers < 0.45 or sigma > 5.0:
        why = (f"only {inliers:.0%} of the border looks like one studio background" if inliers < 0.45
               else f"the border varies by {sigma:.1f} dE where a studio background varies by less than 5")
        raise BusyBackground(
            f"the background is busy ({why}): shoot on a plain white, grey or gradient background, upload a "
            "cutout with transparency, or configure a segmentation model"
        )
    kind = "plain" if spread < 4.0 else "gradient"

    # 3. Perceptual distance to the background; soft shadows (darker, same chroma, smooth) apart.
    diff = lab - bg_lab
    d_light, d_chroma = diff[..., 0], np.hypot(diff[..., 1], diff[..., 2])
    dist = np.hypot(d_light, d_chroma)
    t_lo, t_hi = max(2.5, 3.0 * sigma), max(7.0, 6.0 * sigma)
    grad = _gradient(lab[..., 0])
    g_noise = max(0.6, float(np.percentile(_border(grad, max(3, min(h, w) // 50)), 90)))
    ratio = (lab[..., 0] + 1.0) / (bg_lab[..., 0] + 1.0)
    darker = (d_light < -t_lo) & (d_chroma < np.maximum(3.0, 0.22 * -d_light)) & (ratio > 0.55)
    # smooth: no edge nearby (a cast shadow is a blurred copy of the product; metal and stones of the
    # background's tone still show edges everywhere)
    smooth = grad < np.maximum(3.0 * g_noise, 1.5 + 0.25 * -d_light)
    shadow = _soft_shadows(darker & smooth)
    strong = (dist > t_hi) & ~shadow
    weak = (dist > t_lo) & ~shadow
    if strong.sum() < 30:
        raise MattingError("found no product in the photo (it looks like an empty background)")

    # 4. Refine the boundary with GrabCut on a reduced crop around the product.
    mask = _clean(weak, strong)
    if refine:
        # broad darker regions of the background's chroma are left for GrabCut to decide (shadow or
        # grey product part); everything else with strong evidence stays product
        grey = _soft_shadows(darker)
        mask = _grabcut(rgb, mask, strong, weak, grey, dist < t_lo) | _clean(strong & ~grey, strong & ~grey)

    # 5. Holes: enclosed regions that look like the background stay open; enclosed product is filled.
    mask, holes, in_small_hole = _fill_holes(mask, dist < t_lo, shadow | (darker & smooth), darker, smooth)

    # 6. Soft alpha along the boundary: the pixel's distance from the background (RGB) relative to the
    #    most distinct colour nearby (linear mixing of product and background), then a light smoothing.
    delta = rgb.astype(np.float32) - bg_rgb
    offset = np.sqrt(np.einsum("ijk,ijk->ij", delta, delta))
    offset[shadow] = 0.0
    peak = reach = cv2.dilate(offset, np.ones((7, 7), np.uint8))
    # next to the product, the product's own mean colour distance is the reference (a textured product,
    # pavé or links, is not judged against its brightest sparkle)
    interior = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=1).astype(np.float32)
    num = cv2.boxFilter(offset * interior, -1, (13, 13))
    den = cv2.boxFilter(interior, -1, (13, 13))
    reach = np.where(den > 0.05, num / np.maximum(den, 1e-3), reach)
    soft = np.clip(offset / np.maximum(reach, 12.0), 0.0, 1.0)
    soft[dist < t_lo] = 0.0
    # a shadow cast into a small gap (a watch lug, a clasp) is not taken for a thin, partial product edge
    cast = in_small_hole & darker & smooth
    soft[cast] = np.minimum(soft[cast], 0.45)
    kernel = np.ones((3, 3), np.uint8)
    band = cv2.dilate(mask.astype(np.uint8), kernel, iterations=2).astype(bool) & ~cv2.erode(
        mask.astype(np.uint8), kernel, iterations=1).astype(bool)
    alpha = mask.astype(np.float32)
    alpha[band] = soft[band]
    # on a textured product (pavé, links, engraving) colour mixing says little: there the segmentation
    # decides the silhouette and its outermost pixels stay more product than background
    inner = band & mask & (peak > TEXTURED * reach)
    alpha[inner] = np.maximum(soft[inner], 0.6)
    alpha = np.where(band, cv2.GaussianBlur(alpha, (3, 3), 0.6), alpha)
    coverage = float((alpha > 0.5).mean())
    if coverage > 0.97:
        raise MattingError("the product fills the whole frame; there is no background to remove")

    # 7. Confidence: clean background, clear separation, sensible size.
    confidence = float(np.clip(inliers, 0, 1) * np.clip(1.2 - sigma / 5.0, 0, 1) * (1.0 if 0.002 < coverage < 0.9 else 0.6))
    # 8. Edge colours: where the alpha is partial, take the background's share out of the colour, so the
    #    product shows no white (or grey) fringe on another background.
    rgb = rgb.copy()
    edge = (alpha > 0.05) & (alpha < 0.98)
    if edge.any():
        a = alpha[edge][:, None]
        fg = (rgb[edge].astype(np.float32) - (1.0 - a) * bg_rgb[edge]) / np.maximum(a, 0.25)
        rgb[edge] = np.clip(fg, 0, 255).astype(np.uint8)
    rgba = np.dstack([rgb, np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)])
    notes = [f"background {kind}, noise {sigma:.1f} dE"]
    return _result(Image.fromarray(rgba, "RGBA"), alpha, kind, min(confidence, 1.0), holes, start, notes)


def _result(rgba: Image.Image, alpha: np.ndarray, kind: str, confidence: float, holes: int, start: float,
            notes: list[str]) -> CutoutResult:
    ys, xs = np.nonzero(alpha > 0.5)
    bbox = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1) if len(xs) else (0, 0, 0, 0)
    return CutoutResult(rgba, kind, confidence, bbox, float((alpha > 0.5).mean()), holes,
                        time.perf_counter() - start, notes)


def _border(array: np.ndarray, width: int) -> np.ndarray:
    return np.concatenate([array[:width].reshape(-1, *array.shape[2:]), array[-width:].reshape(-1, *array.shape[2:]),
                           array[:, :width].reshape(-1, *array.shape[2:]), array[:, -width:].reshape(-1, *array.shape[2:])])


def _fit_background(lab: np.ndarray, rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, float, float]:
    """Robust quadratic fit of the border; returns (background Lab, background RGB, noise, inlier share,
    spread of the background across the frame in dE)."""
    h, w = lab.shape[:2]
    width = max(3, min(h, w) // 40)
    # border coordinates in the order _border lists the pixels (top, bottom, left, right strips)
    strips = [np.mgrid[0:width, 0:w], np.mgrid[h - width:h, 0:w], np.mgrid[0:h, 0:width], np.mgrid[0:h, w - width:w]]
    pts = np.concatenate([np.stack([sx.ravel() / w, sy.ravel() / h], axis=1) for sy, sx in strips]).astype(np.float32)
    vals = _border(lab, width)
    rgb_vals = _border(rgb, width).astype(np.float32)
    step = max(1, len(pts) // 6000)
    pts, vals, rgb_vals = pts[::step], vals[::step], rgb_vals[::step]

    def design(x, y):
        return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)

    a = design(pts[:, 0], pts[:, 1])
    keep = np.ones(len(pts), bool)
    for _ in range(4):
        coef = _solve(a[keep], vals[keep])
        resid = np.linalg.norm(vals - a @ coef, axis=1)
        scale = 1.4826 * np.median(resid[keep]) + 0.3
        keep = resid < max(3.0 * scale, 2.0)
    sigma = float(1.4826 * np.median(resid[keep])) if keep.any() else 99.0
    rgb_coef = _solve(a[keep], rgb_vals[keep]) if keep.any() else coef
    # the surface is smooth: evaluate it on a coarse grid and enlarge it
    gw, gh = min(w, 96), min(h, 96)
    gx, gy = np.meshgrid((np.arange(gw, dtype=np.float32) + 0.5) / gw, (np.arange(gh, dtype=np.float32) + 0.5) / gh)
    basis = design(gx, gy).astype(np.float32)
    bg = cv2.resize(np.ascontiguousarray(basis @ coef.astype(np.float32)), (w, h), interpolation=cv2.INTER_LINEAR)
    bg_rgb = cv2.resize(np.ascontiguousarray(basis @ rgb_coef.astype(np.float32)), (w, h), interpolation=cv2.INTER_LINEAR)
    corners = bg[[0, 0, -1, -1], [0, -1, 0, -1]]
    spread = float(np.linalg.norm(corners.max(0) - corners.min(0)))
    return bg, bg_rgb, max(sigma, 0.4), float(keep.mean()), spread


def _solve(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Least squares through the (6 x 6) normal equations, slightly regularised."""
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    return np.linalg.solve(a64.T @ a64 + 1e-6 * np.eye(a.shape[1]), a64.T @ b64)


def _gradient(channel: np.ndarray) -> np.ndarray:
    blurred = cv2.GaussianBlur(channel, (0, 0), 1.0)
    gx = cv2.Scharr(blurred, cv2.CV_32F, 1, 0) / 16.0
    gy = cv2.Scharr(blurred, cv2.CV_32F, 0, 1) / 16.0
    return np.hypot(gx, gy)


def _soft_shadows(candidate: np.ndarray) -> np.ndarray:
    """Keep only broad regions among the darker, same-chroma ones: a cast shadow is wide, while a thin
    chain or a grey outline of the same tone is product."""
    kernel = np.ones((3, 3), np.uint8)
    broad = cv2.dilate(cv2.erode(candidate.astype(np.uint8), kernel, iterations=SHADOW_OPEN), kernel,
                       iterations=SHADOW_OPEN)
    return broad.astype(bool) & candidate


def _clean(mask: np.ndarray, strong: np.ndarray) -> np.ndarray:
    """Drop specks: keep components that hold strong evidence and are not single-pixel noise."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask.astype(bool)
    strong_counts = np.bincount(labels[strong], minlength=count)
    areas = stats[:, cv2.CC_STAT_AREA]
    biggest = areas[1:].max()
    min_area = max(6, int(0.0004 * biggest))
    keep = (areas >= min_area) & (strong_counts >= 3)
    keep[0] = False
    return keep[labels]


def _grabcut(rgb, mask, strong, weak, shadow, plain) -> np.ndarray:
    """GrabCut on a reduced crop: sure product where colour evidence is strong, sure background far away."""
    h, w = mask.shape
    ys, xs = np.nonzero(mask | shadow)
    pad = max(8, int(0.04 * max(h, w)))
    x0, y0 = max(0, xs.min() - pad), max(0, ys.min() - pad)
    x1, y1 = min(w, xs.max() + pad + 1), min(h, ys.max() + pad + 1)
    cw, ch = x1 - x0, y1 - y0
    scale = min(1.0, (GRABCUT_MAX_PIXELS / (cw * ch)) ** 0.5)
    size = (max(8, int(cw * scale)), max(8, int(ch * scale)))

    def small(a, interp=cv2.INTER_AREA):
        return cv2.resize(a[y0:y1, x0:x1].astype(np.float32), size, interpolation=interp)

    img = cv2.resize(rgb[y0:y1, x0:x1], size, interpolation=cv2.INTER_AREA)
    s_strong, s_weak, s_shadow = small(strong) > 0.6, small(weak) > 0.3, small(shadow) > 0.5
    s_mask = small(mask) > 0.5
    gc = np.full(size[::-1], cv2.GC_BGD, np.uint8)
    near = cv2.dilate(s_mask.astype(np.uint8), np.ones((5, 5), np.uint8), iterations=2).astype(bool)
    gc[near] = cv2.GC_PR_BGD
    gc[s_weak] = cv2.GC_PR_FGD
    gc[s_shadow & ~s_strong] = cv2.GC_PR_BGD
    # background-coloured and away from any evidence: background for sure
    s_plain = cv2.erode((small(plain) > 0.95).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    gc[s_plain & ~s_weak] = cv2.GC_BGD
    gc[cv2.erode(s_strong.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)] = cv2.GC_FGD
    if not (gc == cv2.GC_FGD).any() or not (gc == cv2.GC_BGD).any():
        return mask
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    # GrabCut seeds its colour models from OpenCV's global RNG: fix it, so a cutout does not depend on
    # what ran before it in the process.
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(cv2.cvtColor(img, cv2.COLOR_RGB2BGR), gc, None, bgd, fgd, GRABCUT_ITERATIONS, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return mask
    fg_small = ((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)).astype(np.float32)
    up = cv2.resize(fg_small, (cw, ch), interpolation=cv2.INTER_LINEAR) > 0.5
    out = np.zeros_like(mask)
    # at full resolution the boundary follows the colour evidence, not the reduced copy's pixels (grown
    # by less than one reduced pixel, so compression noise just off the edge is not taken in)
    crop_weak = weak[y0:y1, x0:x1]
    grown = cv2.dilate(up.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(1, int(0.6 / scale))).astype(bool)
    shrunk = cv2.erode(up.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(1, int(1 / scale))).astype(bool)
    out[y0:y1, x0:x1] = shrunk | (grown & crop_weak)
    return out


def _fill_holes(mask: np.ndarray, plain: np.ndarray, grey: np.ndarray, darker: np.ndarray,
                smooth: np.ndarray) -> tuple[np.ndarray, int, np.ndarray]:
    """Holes: enclosed regions of the background's colour (with the shadows cast into them) stay open,
    other enclosed gaps are product and are filled. A hole is smooth like the background: a gap of
    background tone among pavé stones or links is textured, and is product. Returns the mask, the
    number of holes and the opened pixels of the small holes."""
    solid = mask & ~grey  # shadows cast into a ring's hole are set aside while looking for holes
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~solid).astype(np.uint8), connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    areas = np.maximum(stats[:, cv2.CC_STAT_AREA], 1)
    like = plain | darker
    like_share = np.bincount(labels[like], minlength=count) / areas
    smooth_share = np.bincount(labels[smooth], minlength=count) / areas
    enclosed = np.ones(count, bool)
    enclosed[0] = False
    enclosed[border] = False
    hole = enclosed & (like_share > 0.6) & (smooth_share > 0.5) & (areas > 12)
    fill = enclosed & ~hole
    open_pixels = hole[labels] & (plain | (darker & smooth) | grey)
    small = hole & (areas < 0.005 * max(1, int(mask.sum())))
    return (mask | fill[labels]) & ~open_pixels, int(hole.sum()), small[labels] & open_pixels
