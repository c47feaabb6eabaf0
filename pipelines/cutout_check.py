"""Cutout verification against the source photo: does the cutout's alpha agree with what the photo shows?

A cutout is our own intermediate, not the truth. This module gathers evidence from the photo itself,
independently of how the cutout was made:

- the photo's background, modelled from its outer border (a smooth quadratic surface in CIE Lab, its
  noise and its gradient statistics), so white, grey and gradient sweeps all fit;
- pixels the cutout made transparent that do not behave like that background: a colour or a lightness
  the border never shows, or texture (edges, speculars) the smooth border never has. A darker, smooth
  region of the background's own chroma is a cast shadow, unless the neural product map says product;
- pixels the cutout kept that are the background itself (the border's colour and smoothness, touching
  the transparent outside or enclosed like a hole);
- the embedded neural product map (u2netp, see `product_map`) against the cutout's alpha;
- `relay`: a candidate's product laid back over the photo's own background, compared with the photo.

Numbers only (shares of the product's area, noise levels); limits, confidence words and the seller's
sentences live in tools/verification.py. No SKUs, files or catalog here.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import cv2
import numpy as np
from PIL import Image

WORK_PX = 512  # photo longest side for the analysis
EDGE_PX = 4  # transparent pixels this close to kept ones are the cutout's own edge, not evidence
MIN_REGION = 0.002  # a piece of evidence smaller than this share of the product is noise
CLEAR = 0.1  # alpha below this is transparent (partial alpha at thin strands is neither kept nor dropped)


@dataclass
class CutoutEvidence:
    """What the photo says about a cutout. Shares are of the product's area (kept + missing)."""

    missing: float  # transparent although the photo shows product there (colour, lightness or texture)
    missing_grey: float  # ... of which low-chroma (metal, white, steel) pixels
    missing_pieces: int  # separate pieces that became transparent
    added: float  # kept although the photo shows plain background there
    neural_missing: float | None  # the neural map sees product where the cutout is transparent (not background-like)
    neural_added: float | None  # the neural map sees background where the cutout keeps product
    border_noise: float  # ΔE noise of the photo's border around its background model
    border_inliers: float  # share of the border the background model explains
    product_share: float  # kept share of the frame
    method: str = "photo"  # "photo" (+ "neural" when the map ran)

    def as_dict(self) -> dict:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in asdict(self).items()}


# -- the background model ---------------------------------------------------------------------------


def _lab(rgb: np.ndarray) -> np.ndarray:
    """CIE Lab (L 0..100, a/b centred) as float32."""
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).astype(np.float32)
    lab -= np.array([0.0, 128.0, 128.0], np.float32)
    lab[..., 0] *= 100.0 / 255.0
    return lab


def _border_mask(h: int, w: int, width: int) -> np.ndarray:
    m = np.zeros((h, w), bool)
    m[:width], m[-width:], m[:, :width], m[:, -width:] = True, True, True, True
    return m


def _design(h: int, w: int, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    y, x = ys / max(h - 1, 1) - 0.5, xs / max(w - 1, 1) - 0.5
    return np.stack([np.ones_like(x), x, y, x * x, x * y, y * y], axis=-1)


def background_model(lab: np.ndarray, transparent: np.ndarray) -> tuple[np.ndarray, float, float]:
    """A quadratic Lab surface fitted robustly to the outer border (and to far transparent pixels):
    (background Lab image, noise ΔE, share of border pixels it explains)."""
    h, w = lab.shape[:2]
    width = max(3, min(h, w) // 40)
    border = _border_mask(h, w, width)
    ys, xs = np.nonzero(border)
    values = lab[ys, xs]
    design = _design(h, w, ys.astype(np.float32), xs.astype(np.float32))
    keep = np.ones(len(values), bool)
    coef = np.zeros((6, 3), np.float32)
    for _ in range(4):  # iteratively reweighted: drop what the surface does not explain
        coef, *_ = np.linalg.lstsq(design[keep], values[keep], rcond=None)
        residual = np.linalg.norm(values - design @ coef, axis=1)
        scale = max(0.5, 1.4826 * float(np.median(residual[keep])))
        keep = residual < max(3.0, 3.0 * scale)
    yy, xx = np.mgrid[0:h, 0:w]
    surface = (_design(h, w, yy.ravel().astype(np.float32), xx.ravel().astype(np.float32)) @ coef).reshape(h, w, 3)
    residual = np.linalg.norm(values - design @ coef, axis=1)
    noise = 1.4826 * float(np.median(residual[keep])) if keep.any() else 99.0
    return surface.astype(np.float32), max(noise, 0.3), float(keep.mean())


def _gradient(L: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(L, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(L, cv2.CV_32F, 0, 1, ksize=3)
    return np.hypot(gx, gy) / 8.0


def _components(mask: np.ndarray, min_px: int) -> tuple[np.ndarray, int]:
    """Mask of the connected pieces of at least min_px pixels, and how many there are."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    big = [i for i in range(1, count) if stats[i, cv2.CC_STAT_AREA] >= min_px]
    if not big:
        return np.zeros_like(mask, bool), 0
    return np.isin(labels, big), len(big)


# -- the neural product map -----------------------------------------------------------------------


def product_map(rgb: np.ndarray) -> np.ndarray | None:
    """The embedded neural model's product probability (0..1) at the photo's size (pipelines/segmentation.py),
    or None when it is not installed."""
    from pipelines.segmentation import SegmenterError, load_segmenter

    try:
        return load_segmenter(None).predict(rgb).probability
    except SegmenterError:
        return None


# -- verification ------------------------------------------------------------------------------------


def _reduce(photo: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    h, w = alpha.shape
    f = min(1.0, WORK_PX / max(h, w))
    if f >= 1.0:
        return photo, alpha
    size = (max(1, round(w * f)), max(1, round(h * f)))
    return cv2.resize(photo, size, interpolation=cv2.INTER_AREA), cv2.resize(alpha, size, interpolation=cv2.INTER_AREA)


def _unbounded_shadow_removed(candidates: np.ndarray, smooth: np.ndarray, plain: np.ndarray) -> np.ndarray:
    """The shadow pixels the neural map calls product, less those that are a cast shadow after all.

    The neural model fills true holes (a ring's opening), where the ring's own shadow often lies. A cast
    shadow fades smoothly into the plain background beside it; a grey metal face is bounded by its edges.
    So a candidate region joined to plain background by smooth pixels alone stays a shadow."""
    if not candidates.any():
        return candidates
    count, labels = cv2.connectedComponents((smooth | candidates).astype(np.uint8), connectivity=4)
    touches_plain = np.zeros(count, bool)
    touches_plain[np.unique(labels[plain & smooth])] = True
    touches_plain[0] = False
    return candidates & ~touches_plain[labels]


def evidence_maps(photo: np.ndarray, alpha: np.ndarray, neural: np.ndarray | None = None) -> dict:
    """Per-pixel evidence at analysis size: {'product', 'shadow', 'plain', 'transparent', 'kept', ...}.

    `photo` uint8 RGB, `alpha` float 0..1 of the same size (the cutout's), `neural` an optional product
    probability of the same size.
    """
    # 1. Work at a bounded size; the background model from the border.
    rgb, a = _reduce(photo, alpha)
    if neural is not None:
        neural = cv2.resize(neural, (a.shape[1], a.shape[0]), interpolation=cv2.INTER_AREA)
    lab = _lab(rgb)
    transparent, kept = a < CLEAR, a >= 0.5
    bg, noise, inliers = background_model(lab, transparent)
    diff = lab - bg
    d_light, d_chroma = diff[..., 0], np.hypot(diff[..., 1], diff[..., 2])
    # 2. Texture: gradients the border never shows (measured on the border, over the model's residual).
    h, w = a.shape
    border = _border_mask(h, w, max(3, min(h, w) // 40))
    grad = _gradient(cv2.GaussianBlur(lab[..., 0], (3, 3), 0.7))
    g_border = float(np.percentile(grad[border], 99.5))
    textured = grad > max(2.0, 2.0 * g_border)
    # speculars and dark reflections: a local extreme of lightness against its neighbourhood
    local = cv2.blur(lab[..., 0], (5, 5))
    sparkle = np.abs(lab[..., 0] - local) > max(4.0, 6.0 * noise)
    # 3. Colour: a chroma or a lightness the background does not have (lighter than it, or much darker).
    t = max(4.0, 4.0 * noise)
    coloured = d_chroma > t
    lighter = d_light > t
    darker = d_light < -t
    smooth = ~cv2.dilate((textured | sparkle).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    # a cast shadow: darker (but not less than half as light), the background's chroma, no edges
    shadow = darker & ~coloured & smooth & (lab[..., 0] > 0.5 * bg[..., 0])
    strong = coloured | lighter | ((textured | sparkle) & (darker | (d_chroma > 0.5 * t) | (np.abs(d_light) > 0.5 * t)))
    # texture closes over the product's smooth faces between its edges (a polished band)
    closed = cv2.morphologyEx(strong.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)).astype(bool)
    product = closed & ~(shadow & ~strong)
    plain = (np.hypot(d_light, d_chroma) < max(2.5, 2.5 * noise)) & smooth
    if neural is not None:
        product |= _unbounded_shadow_removed(shadow & (neural > 0.9), smooth & ~coloured, plain)
    return {"rgb": rgb, "alpha": a, "transparent": transparent, "kept": kept, "product": product, "plain": plain,
            "shadow": shadow, "chroma": np.hypot(lab[..., 1], lab[..., 2]), "noise": noise, "inliers": inliers,
            "neural": neural}


def verify_cutout(photo: Image.Image | np.ndarray, cutout: Image.Image | np.ndarray, *,
                  neural: np.ndarray | None | bool = True) -> CutoutEvidence:
    """Compare a cutout (RGBA image or alpha 0..1 of the photo's size) with the photo it was cut from.

    `neural`: True runs the embedded product map when it is installed, False skips it, an array is used
    as the map.
    """
    # 1. Check inputs.
    rgb = np.asarray(photo.convert("RGB")) if isinstance(photo, Image.Image) else np.asarray(photo, np.uint8)
    if isinstance(cutout, Image.Image):
        alpha = np.asarray(cutout.convert("RGBA").getchannel("A"), np.float32) / 255.0
    else:
        alpha = np.asarray(cutout, np.float32)
    (h, w), (ah, aw) = rgb.shape[:2], alpha.shape
    if abs(aw / ah - w / h) > 0.01 * w / h:
        raise ValueError(f"the cutout is {aw}x{ah}, the photo {w}x{h}: a cutout must have the photo's shape")
    if (ah, aw) != (h, w):  # the same frame at another resolution
        alpha = cv2.resize(alpha, (w, h), interpolation=cv2.INTER_AREA if aw > w else cv2.INTER_LINEAR)
    if neural is True:
        neural = product_map(rgb)
    elif neural is False:
        neural = None

    # 2. Evidence maps; the product's area (kept plus what the photo shows as missing).
    m = evidence_maps(rgb, alpha, neural)
    kept, transparent = m["kept"], m["transparent"]
    kept_px = int(kept.sum())
    if kept_px == 0:
        raise ValueError("the cutout is empty (no opaque pixel)")
    min_px = max(4, int(MIN_REGION * kept_px))
    # the cutout's own edge: around its pieces, not around specks it left of a part it dropped
    body, _ = _components(kept, min_px)
    near = cv2.dilate(body.astype(np.uint8), np.ones((2 * EDGE_PX + 1,) * 2, np.uint8)).astype(bool)
    far = transparent & ~near

    # 3. Missing: transparent pixels (away from the cutout's own edge) the photo shows as product.
    missing, pieces = _components(m["product"] & far, min_px)
    # the band between a missing piece and the kept product belongs to that piece too
    missing |= transparent & near & cv2.dilate(missing.astype(np.uint8), np.ones((2 * EDGE_PX + 1,) * 2, np.uint8)).astype(bool)
    missing_px = int(missing.sum())
    total = kept_px + missing_px
    grey = missing & (m["chroma"] < 12)

    # 4. Added: kept pixels that are the plain background (away from the cutout's edge).
    inner = cv2.erode(kept.astype(np.uint8), np.ones((2 * EDGE_PX + 1,) * 2, np.uint8)).astype(bool)
    added, _ = _components(m["plain"] & inner, min_px)

    # 5. The neural map against the alpha (where the photo itself is not plainly background).
    neural_missing = neural_added = None
    if m["neural"] is not None:
        sal = m["neural"]
        neural_missing = float((far & (sal > 0.7) & ~m["plain"] & ~m["shadow"]).sum() / total)
        neural_added = float((inner & (sal < 0.2)).sum() / total)
    return CutoutEvidence(
        missing=missing_px / total, missing_grey=float(grey.sum()) / total, missing_pieces=pieces,
        added=float(added.sum()) / total, neural_missing=neural_missing, neural_added=neural_added,
        border_noise=m["noise"], border_inliers=m["inliers"], product_share=kept_px / kept.size,
        method="photo+neural" if m["neural"] is not None else "photo")
