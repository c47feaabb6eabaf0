"""Cutout verification against the source photo: does the cutout's alpha agree with what the photo shows?

A cutout is our own intermediate, not the truth. This module gathers evidence from the photo itself,
independently of how the cutout was made:

- the photo's background, modelled from its outer border (a smooth quadratic surface in CIE Lab, its
  noise and its gradient statistics), so white, grey and gradient sweeps all fit;
- pixels the cutout made transparent that do not behave like that background: a colour or a lightness
  the border never shows, or texture (edges, speculars) the smooth border never has. A darker, smooth
  region of the background's own chroma is a cast shadow, unless the neural product map says product;
  a faint detached tint beside a thin edge is the JPEG echo of that edge (the same rule as the matting's);
- pixels the cutout kept that are the background itself (the border's colour and smoothness, touching
  the transparent outside or enclosed like a hole);
- the embedded neural product map (u2netp, see `product_map`) against the cutout's alpha;
- `relay`: a candidate's product laid back over the photo's own background, compared with the photo.

Numbers only (shares of the product's area, noise levels); limits, confidence words and the seller's
sentences live in tools/verification.py. No SKUs, files or catalog here.
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict
from dataclasses import asdict, dataclass

import cv2
import numpy as np
from PIL import Image

from pipelines.matting import ECHO_REACH, chroma_fringe, compression_echoes, shadow_ramps
from pipelines.reflection import mirrored_reflection

WORK_PX = 512  # photo longest side for the analysis
EDGE_PX = 4  # transparent pixels this close to kept ones are the cutout's own edge, not evidence
MIN_REGION = 0.002  # a piece of evidence smaller than this share of the product is noise
CLEAR = 0.1  # alpha below this is transparent (partial alpha at thin strands is neither kept nor dropped)
NEURAL_SEES = 0.7  # neural probability from which the map sees product
RAMP_STEP = 8.0  # ΔL between neighbouring analysis pixels: a larger step is an edge, not a shadow's ramp


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
    reflection: float = 0.0  # kept although the photo shows it as the product's mirrored reflection on the floor
    shadow_kept: float | None = None  # kept although the photo shows the backdrop in shade there (a cast shadow's
    #                                   smooth ramp) and the neural map does not see product: a hole or a gap
    #                                   between parts filled with the shadow seen through it (None: no map)

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
    x = (np.arange(w, dtype=np.float32) / max(w - 1, 1) - 0.5)[None, :, None]
    y = (np.arange(h, dtype=np.float32) / max(h - 1, 1) - 0.5)[:, None, None]
    c = coef.astype(np.float32)  # the _design terms: 1, x, y, x², xy, y²
    surface = c[0] + c[1] * x + c[2] * y + c[3] * x * x + c[4] * x * y + c[5] * y * y
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


def _reduce(photo: np.ndarray, alpha: np.ndarray, work_px: int = WORK_PX) -> tuple[np.ndarray, np.ndarray]:
    h, w = alpha.shape
    f = min(1.0, work_px / max(h, w))
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


def _largest_step(lightness: np.ndarray) -> np.ndarray:
    """Each pixel's largest lightness difference to a 4-neighbour (ΔL per analysis pixel)."""
    step = np.zeros_like(lightness)
    dy = np.abs(np.diff(lightness, axis=0))
    dx = np.abs(np.diff(lightness, axis=1))
    step[1:] = np.maximum(step[1:], dy)
    step[:-1] = np.maximum(step[:-1], dy)
    step[:, 1:] = np.maximum(step[:, 1:], dx)
    step[:, :-1] = np.maximum(step[:, :-1], dx)
    return step


def _thin_cored(ramps: np.ndarray, deep: np.ndarray) -> np.ndarray:
    """The ramps with a dark core (`deep`: darker than a cast shadow alone may be) no thicker than their
    lighter part: a contact shadow is darkest in a band along the product's foot, narrower than the
    penumbra around it, while a flat black face met at a soft step would be a broad dark plateau. A ramp
    without such a core is left to the ordinary shadow rule (a grey metal face shades like a ramp too)."""
    count, labels = cv2.connectedComponents(ramps.astype(np.uint8), connectivity=8)
    if count <= 1:
        return ramps
    core, light = ramps & deep, ramps & ~deep
    core_depth = cv2.distanceTransform(core.astype(np.uint8), cv2.DIST_L2, 3)
    light_depth = cv2.distanceTransform(light.astype(np.uint8), cv2.DIST_L2, 3)
    thickest_core = np.zeros(count, np.float32)
    thickest_light = np.zeros(count, np.float32)
    np.maximum.at(thickest_core, labels[core], core_depth[core])
    np.maximum.at(thickest_light, labels[light], light_depth[light])
    keep = (thickest_core > 0) & (thickest_core <= thickest_light)
    keep[0] = False
    return keep[labels]


def evidence_maps(photo: np.ndarray, alpha: np.ndarray, neural: np.ndarray | None = None,
                  work_px: int = WORK_PX) -> dict:
    """Per-pixel evidence at analysis size: {'product', 'shadow', 'plain', 'transparent', 'kept', ...}.

    `photo` uint8 RGB, `alpha` float 0..1 of the same size (the cutout's), `neural` an optional product
    probability of the same size; `work_px` the analysis size's longest side.
    """
    # 1. Work at a bounded size; the background model from the border.
    rgb, a = _reduce(photo, alpha, work_px)
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
    # a cast shadow: darker (but not less than half as light), the background's chroma, no edges; from where
    # the backdrop stops being plain, so a penumbra's faint end is shadow too, not neither
    faint = max(2.5, 2.5 * noise)
    shadow = (d_light < -faint) & ~coloured & smooth & (lab[..., 0] > 0.5 * bg[..., 0])
    # a contact shadow's ramp: its lightness climbs from its dark core to the backdrop in small steps (more
    # than the border's texture, less than an edge), and it runs out into the backdrop
    gentle = (_largest_step(lab[..., 0]) < RAMP_STEP) & ~sparkle
    deep = lab[..., 0] <= 0.5 * bg[..., 0]  # darker than a cast shadow alone may be
    ramp = _thin_cored(shadow_ramps((d_light < -faint) & ~coloured & gentle, gentle), deep)
    shadow |= ramp
    strong = coloured | lighter | ((textured | sparkle) & (darker | (d_chroma > 0.5 * t) | (np.abs(d_light) > 0.5 * t)))
    # darker than a cast shadow may be and not a shadow's ramp: a dark face of the product, flat or not
    strong |= deep & ~coloured
    strong &= ~ramp
    # a faint tint beside a thin, contrasted edge (a gold chain) is the JPEG echo of that edge, not product
    reach = max(2, round(ECHO_REACH * a.shape[0] / alpha.shape[0]))
    echo = compression_echoes(strong, np.hypot(d_light, d_chroma), neural, reach=reach)
    echo |= chroma_fringe(d_light, d_chroma, t, reach)
    strong &= ~echo
    # texture closes over the product's smooth faces between its edges (a polished band)
    closed = cv2.morphologyEx(strong.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8)).astype(bool)
    product = closed & ~(shadow & ~strong)
    plain = (np.hypot(d_light, d_chroma) < faint) & smooth
    if neural is not None:
        product |= _unbounded_shadow_removed(shadow & (neural > 0.9), smooth & ~coloured, plain)
    # the product's mirrored reflection on a glossy floor shows its colours but is not the product
    below = mirrored_reflection(diff, product)
    reflection = below & (product | shadow)
    product &= ~below
    return {"rgb": rgb, "alpha": a, "transparent": transparent, "kept": kept, "product": product, "plain": plain,
            "shadow": shadow, "chroma": np.hypot(lab[..., 1], lab[..., 2]), "noise": noise, "inliers": inliers,
            "neural": neural, "diff": diff, "border": border, "echo": echo, "reflection": reflection}


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
    reflected, _ = _components(m["reflection"] & kept, min_px)

    # 5. The neural map against the alpha (where the photo itself is not plainly background), and where
    #    neither the photo nor the map sees product inside the kept area: the backdrop in the product's shade.
    neural_missing = neural_added = shadow_kept = None
    if m["neural"] is not None:
        sal = m["neural"]
        neural_missing = float((far & (sal > NEURAL_SEES) & ~m["plain"] & ~m["shadow"]).sum() / total)
        neural_added = float((inner & (sal < 0.2)).sum() / total)
        shaded, _ = _components(inner & m["shadow"] & ~m["product"] & (sal < NEURAL_SEES), min_px)
        shadow_kept = float(shaded.sum() / total)
    return CutoutEvidence(
        missing=missing_px / total, missing_grey=float(grey.sum()) / total, missing_pieces=pieces,
        added=float(added.sum()) / total, neural_missing=neural_missing, neural_added=neural_added,
        border_noise=m["noise"], border_inliers=m["inliers"], product_share=kept_px / kept.size,
        method="photo+neural" if m["neural"] is not None else "photo", reflection=float(reflected.sum()) / total,
        shadow_kept=shadow_kept)


# -- a candidate laid back over the photo ---------------------------------------------------------------


RELAY_PX = 1536  # longest side of the relay's analysis: the photo's own resolution, so thin parts count
RELAY_MIN_PIECE = 256  # analysis px the smallest piece that counts (MIN_REGION of the product) needs, at most
RELAY_EDGE = 3  # px (at analysis size) along the outline of the product a candidate shows, where edges mix
RELAY_MAX_TOLERANCE = 15.0  # ΔE: a candidate pixel further than this from the photo's does not show it
RELAY_WINDOW = 0.012  # side of the window (share of the photo's longest side) a faint region is averaged over
RELAY_BLUR = 1.0  # px (sigma at analysis size) of blur both images get before they are compared
ECC_FINE_STEPS = 15  # iterations of the alignment's last fit at the comparison's size
ECC_MARGIN = 8  # px (at WORK_PX) around the product's box that the sub-pixel alignment looks at
RELAY_SHIFT = 1  # px of misregistration (at analysis size) a resampled candidate may show against the photo
RELAY_FAITHFUL = 0.8  # below this share of the kept product reproduced, the engine changed the product's look


@dataclass
class RelayEvidence:
    """A candidate's product laid back over the photo's background, against the photo. Shares are of the
    product's area (what the candidate reproduces plus what is missing); None where it cannot be measured."""

    missing: float | None  # the photo shows product there, the candidate shows its own background
    missing_grey: float | None  # ... of which low-chroma (metal, white, steel) pixels
    missing_pieces: int
    faint: float | None  # ... the photo's local mean there is lighter or tinted against its backdrop, more than
    #                      its border ever is: a part as light as the backdrop but not the backdrop (weaker)
    added: float | None  # the candidate shows the photo's plain background as product (None: its own background
    #                      is not plain enough to tell)
    reproduced: float  # share of the cutout's kept pixels the candidate shows as the photo does
    tolerance: float  # ΔE within which a candidate pixel counts as the photo's
    reason: str = ""  # why nothing was measured
    lost_area: float | None = None  # where there is missing or faint evidence, the background the candidate
    #                                 shows within the product's outline, as a share of that outline (what the
    #                                 seller sees missing: a ghosted face shows evidence only at its rim)
    reflection: float | None = None  # the candidate shows the photo's mirrored reflection of the product as product

    def as_dict(self) -> dict:
        return {k: (round(v, 5) if isinstance(v, float) else v) for k, v in asdict(self).items()}


def _shifted_distance(a: np.ndarray, b: np.ndarray, shift: int, within: tuple[slice, slice] | None = None) -> np.ndarray:
    """Per pixel (of the box `within`, else of the whole image), the smallest ΔE between `a` and `b` moved by
    up to `shift` px either way (a resampled image is off by a pixel); `b` is edge-padded, so its shifted
    copies are views, not copies."""
    rows, cols = within or (slice(0, a.shape[0]), slice(0, a.shape[1]))
    y0, x0 = rows.start, cols.start
    h, w = rows.stop - y0, cols.stop - x0
    a = a[rows, cols]
    padded = cv2.copyMakeBorder(b, shift, shift, shift, shift, cv2.BORDER_REPLICATE)
    best = None
    for dy in range(-shift, shift + 1):
        for dx in range(-shift, shift + 1):
            diff = a - padded[y0 + shift - dy:y0 + shift - dy + h, x0 + shift - dx:x0 + shift - dx + w]
            d2 = np.einsum("ijk,ijk->ij", diff, diff)
            best = d2 if best is None else np.minimum(best, d2, out=best)
    return np.sqrt(best)


def _around(mask: np.ndarray, margin: int) -> tuple[slice, slice]:
    """The box of `mask`'s pixels grown by `margin` px (within the image); the whole image when it has none."""
    h, w = mask.shape
    if not mask.any():
        return slice(0, h), slice(0, w)
    x, y, bw, bh = cv2.boundingRect(mask.astype(np.uint8))
    return slice(max(0, y - margin), min(h, y + bh + margin)), slice(max(0, x - margin), min(w, x + bw + margin))


def _opened(mask: np.ndarray) -> np.ndarray:
    return cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_OPEN, np.ones((3, 3), np.uint8)).astype(bool)


def _own_background(candidate: np.ndarray) -> tuple[np.ndarray, float, float, float]:
    """The candidate's own background as the photo's is modelled (a smooth surface fitted to its border),
    in Lab at analysis size, with its noise, the share of the border it explains, and the analysis scale
    (analysis px per candidate px)."""
    h, w = candidate.shape[:2]
    f = min(1.0, WORK_PX / max(h, w))
    small = cv2.resize(candidate, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
    surface, noise, inliers = background_model(_lab(small), np.zeros(small.shape[:2], bool))
    return surface, noise, inliers, small.shape[1] / w


def candidate_in_photo(candidate: np.ndarray, box: tuple[float, float, float, float],
                       source_box: tuple[float, float, float, float], photo_size: tuple[int, int],
                       factor: float, border: int = cv2.BORDER_CONSTANT) -> tuple[np.ndarray, np.ndarray]:
    """The candidate resampled into the photo's frame at `factor` (analysis px per photo px), and where it
    covers that frame. `box` (x, y, w, h, candidate px) is where the source's tight box `source_box`
    (x, y, w, h, photo px) landed, as the engine placed it and the vision check found it."""
    (bx, by, bw, bh), (ox, oy, sw, sh) = box, source_box
    w, h = photo_size
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    # analysis px q -> candidate px c (pixel centres): c + .5 = bx + ((q + .5) / factor - ox) * (bw / sw)
    ax, ay = bw / sw / factor, bh / sh / factor
    cx, cy = bx + (0.5 / factor - ox) * bw / sw - 0.5, by + (0.5 / factor - oy) * bh / sh - 0.5
    r = min(1.0, 1.0 / max(ax, ay))  # average the candidate down first where it is finer than the analysis
    image = candidate
    if r < 1.0:
        image = cv2.resize(image, (max(1, round(image.shape[1] * r)), max(1, round(image.shape[0] * r))),
                           interpolation=cv2.INTER_AREA)
        ax, ay, cx, cy = ax * r, ay * r, cx * r + 0.5 * r - 0.5, cy * r + 0.5 * r - 0.5
    image = image.astype(np.float32)
    matrix = np.array([[ax, 0.0, cx], [0.0, ay, cy]], np.float32)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    warped = cv2.warpAffine(image, matrix, size, flags=flags, borderMode=border)
    cover = cv2.warpAffine(np.ones(image.shape[:2], np.float32), matrix, size, flags=flags,
                           borderMode=cv2.BORDER_CONSTANT) > 0.999
    return (warped if candidate.dtype != np.uint8 else np.clip(warped, 0, 255).astype(np.uint8)), cover


def _local_mean(values: np.ndarray, mask: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """The mean of `values` (H x W x C) over the masked pixels of each window, and the masked share."""
    weight = mask.astype(np.float32)
    share = cv2.blur(weight, (window, window))
    total = cv2.blur(values * weight[..., None], (window, window))
    return total / np.maximum(share, 1e-3)[..., None], share


def faint_background(diff: np.ndarray, mask: np.ndarray, border: np.ndarray, window: int) -> np.ndarray:
    """Masked pixels whose local mean (over the masked pixels of a window) is lighter than the background
    model, or tinted without being darker, by more than twice what the border's own local means reach.
    `diff`: Lab minus the background model. Darker alone is left out: a cast shadow is darker."""
    def offsets(where: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        mean, share = _local_mean(diff, where, window)
        return mean[..., 0], np.hypot(mean[..., 1], mean[..., 2]), share

    b_light, b_tint, b_share = offsets(border)
    inside = border & (b_share >= 0.5)
    if inside.sum() < 50:
        return np.zeros_like(mask)
    light_limit = max(1.0, 2.0 * float(np.percentile(b_light[inside], 99)))
    tint_limit = max(1.0, 2.0 * float(np.percentile(b_tint[inside], 99)))
    light, tint, share = offsets(mask)
    return mask & (share >= 0.5) & ((light > light_limit) | ((tint > tint_limit) & (light > -light_limit)))


def _filled(mask: np.ndarray) -> np.ndarray:
    """The mask with every region it encloses (not connected to the frame's edge) filled."""
    outside = np.pad(~mask, 1, constant_values=True).astype(np.uint8)
    cv2.floodFill(outside, None, (0, 0), 2)
    return mask | (outside[1:-1, 1:-1] != 2)


def lost_part(evidence: np.ndarray, shows_own: np.ndarray, body: np.ndarray, window: int) -> np.ndarray:
    """Where the candidate shows its own background within the product's outline (what it shows of the
    product, `body`, closed over a window and filled), and the evidence pixels: what a seller sees missing
    once the evidence says something is. Evidence is only where the photo gives a lost part away (a ghosted
    watch face shows a few pale or grey pixels at its rim, and background over its whole extent); the
    outline also holds true openings (a ring's hole), so this is said as "within the outline"."""
    if not evidence.any():
        return evidence.copy()
    kernel = np.ones((window, window), np.uint8)
    outline = _filled(cv2.morphologyEx((body | evidence).astype(np.uint8), cv2.MORPH_CLOSE, kernel).astype(bool))
    return evidence | (shows_own & outline)


def _registered(warped: np.ndarray, cover: np.ndarray, photo: np.ndarray, alpha: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The candidate (already in the photo's frame) aligned to the photo to a fraction of a pixel: the box the
    vision check found is good to a pixel or two and a percent of scale, enough to miss a thin chain's links.
    An affine ECC fit on the product's lightness (at WORK_PX); the candidate as it was when it does not converge."""
    h, w = alpha.shape
    g = min(1.0, WORK_PX / max(h, w))
    size = (max(1, round(w * g)), max(1, round(h * g)))
    grey = [cv2.resize(cv2.cvtColor(x, cv2.COLOR_RGB2GRAY), size, interpolation=cv2.INTER_AREA).astype(np.float32)
            for x in (photo, warped)]
    mask = cv2.resize(((alpha >= 0.5) & cover).astype(np.uint8), size, interpolation=cv2.INTER_NEAREST)
    mask = cv2.dilate(mask, np.ones((5, 5), np.uint8))
    if not mask.any():
        return warped, cover
    # fitted over the product's box only (what lies outside the mask does not count, and costs time)
    x, y, bw, bh = cv2.boundingRect(mask)
    x0, y0 = max(0, x - ECC_MARGIN), max(0, y - ECC_MARGIN)
    x1, y1 = min(size[0], x + bw + ECC_MARGIN), min(size[1], y + bh + ECC_MARGIN)
    crop = (slice(y0, y1), slice(x0, x1))
    matrix = np.eye(2, 3, dtype=np.float32)
    try:
        _, matrix = cv2.findTransformECC(grey[0][crop], grey[1][crop], matrix, cv2.MOTION_AFFINE,
                                         (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 60, 1e-5), mask[crop], 3)
    except cv2.error:
        return warped, cover
    # back to the whole frame: x' = A (x - o) + t + o
    origin = np.array([x0, y0], np.float32)
    matrix[:, 2] += origin - matrix[:, :2] @ origin
    if np.abs(matrix[:, :2] - np.eye(2)).max() > 0.05 or np.abs(matrix[:, 2]).max() > 0.02 * max(size):
        return warped, cover  # a jump, not a refinement
    matrix[:, 2] /= g
    if g < 1.0:
        matrix = _refined(matrix, photo, warped, (alpha >= 0.5) & cover)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    aligned = cv2.warpAffine(warped, matrix, (w, h), flags=flags, borderMode=cv2.BORDER_REPLICATE)
    moved = cv2.warpAffine(cover.astype(np.uint8), matrix, (w, h), flags=cv2.INTER_NEAREST | cv2.WARP_INVERSE_MAP)
    return aligned, moved.astype(bool)


def _refined(matrix: np.ndarray, photo: np.ndarray, warped: np.ndarray, kept: np.ndarray) -> np.ndarray:
    """The alignment found on the reduced copy, settled at the comparison's own size: a pixel there is
    1 / g pixels here, and an edge compared pixel by pixel needs better than that. A few steps of the
    same fit from where it stands; the reduced copy's answer when it does not converge or moves away."""
    h, w = kept.shape
    mask = cv2.dilate(kept.astype(np.uint8), np.ones((5, 5), np.uint8))
    x, y, bw, bh = cv2.boundingRect(mask)
    x0, y0 = max(0, x - ECC_MARGIN), max(0, y - ECC_MARGIN)
    crop = (slice(y0, min(h, y + bh + ECC_MARGIN)), slice(x0, min(w, x + bw + ECC_MARGIN)))
    grey = [cv2.cvtColor(im, cv2.COLOR_RGB2GRAY)[crop].astype(np.float32) for im in (photo, warped)]
    origin = np.array([x0, y0], np.float32)
    start = matrix.copy()  # in the crop's frame: x' = A (x + o) + t - o
    start[:, 2] += start[:, :2] @ origin - origin
    try:
        _, fine = cv2.findTransformECC(grey[0], grey[1], start, cv2.MOTION_AFFINE,
                                       (cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, ECC_FINE_STEPS, 1e-6),
                                       mask[crop], 1)
    except cv2.error:
        return matrix
    fine[:, 2] += origin - fine[:, :2] @ origin
    if np.abs(fine - matrix).max() > 0.01 * max(h, w) or np.abs(fine[:, :2] - matrix[:, :2]).max() > 0.01:
        return matrix
    return fine


_PHOTO_EVIDENCE: OrderedDict[bytes, dict] = OrderedDict()  # the last few photos' evidence, by content
_PHOTO_EVIDENCE_LOCK = threading.Lock()  # the candidates of several shots are checked at once


def relay_factor(alpha: np.ndarray) -> float:
    """Analysis px per photo px for the relay: the photo's own resolution up to RELAY_PX, and no finer than
    the smallest piece that counts needs. A missing piece counts from MIN_REGION of the product's area; on a
    product that fills half the frame that is a thousand photo px, which RELAY_MIN_PIECE analysis px resolve
    as well, at a fraction of the cost (a thin chain's pieces count from a few pixels: it keeps full size)."""
    h, w = alpha.shape
    factor = min(1.0, RELAY_PX / max(h, w))
    smallest = MIN_REGION * float((alpha >= 0.5).sum()) * factor * factor
    if smallest > RELAY_MIN_PIECE:
        factor *= float(np.sqrt(RELAY_MIN_PIECE / smallest))
    return factor


def _photo_evidence(rgb: np.ndarray, alpha: np.ndarray, work_px: int = RELAY_PX) -> dict:
    """evidence_maps at `work_px` (no neural map) plus the photo's Lab: the same for every candidate made from
    one photo and cutout, so it is computed once per process for the last few of them."""
    key = hashlib.blake2b(np.asarray(rgb.shape + (work_px,)).tobytes(), digest_size=16)
    key.update(np.ascontiguousarray(rgb).tobytes())
    key.update(np.ascontiguousarray(alpha, np.float32).tobytes())
    digest = key.digest()
    with _PHOTO_EVIDENCE_LOCK:  # computed once: a second thread asking for the same photo waits for it
        if digest in _PHOTO_EVIDENCE:
            _PHOTO_EVIDENCE.move_to_end(digest)
            return _PHOTO_EVIDENCE[digest]
        m = evidence_maps(rgb, alpha, None, work_px)
        m["lab"] = _lab(m["rgb"])
        _PHOTO_EVIDENCE[digest] = m
        while len(_PHOTO_EVIDENCE) > 4:
            _PHOTO_EVIDENCE.popitem(last=False)
        return m


def _filled_in(image: np.ndarray, hole: np.ndarray) -> np.ndarray:
    """`image` (H x W x 3 float) with the `hole` pixels filled from the pixels around them (pull-push over an
    image pyramid: each hole pixel takes the mean of the nearest known pixels, at the finest scale that has
    some). Only the hole's rim needs to be close: deeper inside, the product covers what is behind."""
    known = (~hole).astype(np.float32)
    if known.all() or not known.any():
        return image
    return _pull_push(image * known[..., None], known)


def _pull_push(weighted: np.ndarray, weight: np.ndarray) -> np.ndarray:
    h, w = weight.shape
    here = weighted / np.maximum(weight, 1e-6)[..., None]
    if weight.min() >= 1e-3 or min(h, w) < 4:
        return here
    coarse = _pull_push(cv2.pyrDown(weighted), cv2.pyrDown(weight))
    up = cv2.pyrUp(coarse, dstsize=(w, h))
    trust = np.clip(weight * 4.0, 0.0, 1.0)[..., None]  # a quarter of a pixel's neighbourhood known is enough
    return trust * here + (1.0 - trust) * up


def _as_mixed(colours: np.ndarray, alpha: np.ndarray, warped: np.ndarray, cover: np.ndarray,
              within: tuple[slice, slice]) -> np.ndarray:
    """ΔE between the candidate (in the photo's frame) and the product's colours mixed by the cutout's alpha with
    the candidate's own backdrop behind it (filled in from the candidate's pixels around the product); measured
    in the box `within` (which holds every pixel the cutout keeps), infinite elsewhere."""
    h, w = alpha.shape
    if colours.shape[:2] != (h, w):
        colours = cv2.resize(colours, (w, h), interpolation=cv2.INTER_AREA)
    out = np.full((h, w), np.inf, np.float32)
    colours, alpha, warped, cover = colours[within], alpha[within], warped[within], cover[within]
    under = cv2.dilate((alpha > 0.02).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool)
    behind = _filled_in(warped.astype(np.float32), under & cover)
    a = alpha[..., None]
    expected = np.clip(a * colours + (1.0 - a) * behind, 0, 255).astype(np.uint8)
    soft = [cv2.GaussianBlur(_lab(x), (0, 0), RELAY_BLUR) for x in (warped, expected)]
    out[within] = np.where(cover, np.linalg.norm(soft[0] - soft[1], axis=-1), np.inf)
    return out


def relay(photo: Image.Image | np.ndarray, cutout: Image.Image | np.ndarray, candidate: Image.Image | np.ndarray,
          box: tuple[float, float, float, float], source_box: tuple[float, float, float, float],
          maps: dict | None = None, seam_px: float | None = None) -> RelayEvidence:
    """Lay the candidate's product back over the photo's own background and compare with the photo.

    The candidate is resampled into the photo's frame (`box`/`source_box`, see `candidate_in_photo`). Where
    it shows the photo's own pixels it shows the product; elsewhere it shows its own background, so the
    reconstruction there is the photo's background model. Where the photo shows product (colour, lightness
    or texture its background lacks) but the reconstruction shows background, part of the product is
    missing from the candidate; where the candidate shows the photo's plain background although its own
    background there looks different, something was added. The cutout (the photo's frame) is used
    only to calibrate: which pixels tell how faithfully the engine reproduced the product, and where the
    candidate's own background can be read. `maps`, when given, receives the per-pixel maps (to look at);
    `seam_px`, the width (photo px) of the band along the outline that the engine blended into its scene.
    """
    rgb = np.asarray(photo.convert("RGB")) if isinstance(photo, Image.Image) else np.asarray(photo, np.uint8)
    if isinstance(cutout, Image.Image):
        alpha = np.asarray(cutout.convert("RGBA").getchannel("A"), np.float32) / 255.0
    else:
        alpha = np.asarray(cutout, np.float32)
    cand = np.asarray(candidate.convert("RGB")) if isinstance(candidate, Image.Image) else np.asarray(candidate, np.uint8)
    # the product's own colours as the cutout carries them (estimated foreground at the edges); the photo's otherwise
    colours = np.asarray(cutout.convert("RGB")) if isinstance(cutout, Image.Image) else rgb
    if alpha.shape != rgb.shape[:2]:
        raise ValueError(f"the cutout is {alpha.shape[1]}x{alpha.shape[0]}, the photo {rgb.shape[1]}x{rgb.shape[0]}: "
                         "a cutout must have the photo's shape")
    if min(box[2], box[3], source_box[2], source_box[3]) <= 0:
        raise ValueError("the product's box in the candidate or in the photo is empty")

    # 1. Both images in the photo's frame at analysis size; the photo's own evidence (no neural map: the
    #    cutout's check already asked it).
    h, w = alpha.shape
    work_px = min(max(h, w), max(64, round(max(h, w) * relay_factor(alpha))))
    factor = work_px / max(h, w)  # exactly the scale evidence_maps reduces the photo by
    m = _photo_evidence(rgb, alpha, work_px)
    a, lab_p = m["alpha"], m["lab"]
    warped, cover = candidate_in_photo(cand, box, source_box, (w, h), factor)
    warped, cover = _registered(warped, cover, m["rgb"], a)
    cover = cv2.erode(cover.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    lab_c = _lab(warped)
    kept_core = cover & (cv2.erode((a >= 0.98).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0)
    if kept_core.sum() < 50:
        return RelayEvidence(None, None, 0, None, None, 0.0, 0.0, "too little of the product lies in the candidate")

    # 2. The candidate's own background (a plain one, modelled from its border as the photo's is): where the
    #    candidate shows it, the product is not shown, so those pixels say nothing of how faithfully it is.
    own, own_noise, own_inliers, f = _own_background(cand)
    own_lab, _ = candidate_in_photo(own, tuple(v * f for v in box), source_box, (w, h), factor, cv2.BORDER_REPLICATE)
    plain_own = own_inliers >= 0.5 and own_noise <= 5.0
    own_like = (np.linalg.norm(lab_c - own_lab, axis=-1) < max(4.0, 4.0 * own_noise)) if plain_own else np.zeros_like(cover)
    shown = kept_core & ~own_like
    if shown.sum() < 50:
        return RelayEvidence(None, None, 0, None, None, 0.0, 0.0, "the candidate shows too little of the product to compare")

    # 3. Colour calibration: engines may grade the product slightly; a per-channel affine map, fitted
    #    robustly where the candidate shows the kept product, brings it back to the photo's colours.
    for ch in range(3):
        x, y = lab_c[..., ch][shown], lab_p[..., ch][shown]
        slope, offset = 1.0, float(np.median(y - x))
        if x.std() > 2.0:
            slope = float(np.clip(np.std(y) / np.std(x), 0.8, 1.25))
            offset = float(np.median(y - slope * x))
        lab_c[..., ch] = slope * lab_c[..., ch] + offset
    # compared a little blurred: two resamplings of fine texture (pavé, chain links) differ pixel by pixel
    soft_c, soft_p = (cv2.GaussianBlur(x, (0, 0), RELAY_BLUR) for x in (lab_c, lab_p))
    # a pixel of misregistration matters along the product and its edges: around what the photo shows as
    # product or the cutout keeps, the distance allows for it; on the backdrop beyond, the plain one does
    window = 2 * max(3, round(RELAY_WINDOW * max(h, w) * factor) // 2) + 1
    edge = max(RELAY_EDGE, int(np.ceil((seam_px or 0.0) * factor)) + 1)
    near_product = _around((a > 0.02) | m["product"], window + 2 * edge + 8)
    distance = np.linalg.norm(soft_c - soft_p, axis=-1)
    distance[near_product] = _shifted_distance(soft_c, soft_p, RELAY_SHIFT, near_product)

    # 4. How faithfully the candidate shows the product sets the tolerance (and whether to measure at all).
    core_d = distance[shown]
    floor = max(4.0, 4.0 * m["noise"])
    tolerance = float(np.clip(2.0 * np.percentile(core_d, 90), floor, RELAY_MAX_TOLERANCE))
    reproduced_share = float((distance[kept_core] < tolerance).mean())
    if float((core_d < max(10.0, 4.0 * m["noise"])).mean()) < RELAY_FAITHFUL:
        return RelayEvidence(None, None, 0, None, None, reproduced_share, tolerance,
                             "the candidate shows the product with other colours than the photo (re-rendered)")
    # a pixel the cutout keeps in part (a thin chain, an edge) shows the product mixed with the candidate's own
    # backdrop, not with the photo's: it shows the product when it matches that mix
    mixed = _as_mixed(colours, a, warped, cover, near_product)
    shows_photo = cover & ((distance < tolerance) | ((a >= 0.5) & (mixed < tolerance)))
    shows_own = cover & ~shows_photo

    # 6. Missing: the photo shows product, the candidate its own background. The outline's mixed pixels
    #    (a soft edge, a pixel of misregistration, the band an engine blended into its scene: `seam_px`, photo
    #    px) are not evidence: only what lies beyond that edge of the product the candidate shows, and is wider than a pixel, is; a piece found there takes its edge band along.
    product = m["product"]
    kept = shows_photo & ((a >= 0.5) | product)
    kept_px = int(kept.sum())
    min_px = max(4, int(MIN_REGION * max(kept_px, 1)))
    body, _ = _components(kept, min_px)
    band = np.ones((2 * edge + 1,) * 2, np.uint8)
    near = cv2.dilate(body.astype(np.uint8), band).astype(bool)
    lost = _opened(product & shows_own)
    missing, pieces = _components(lost & ~near, min_px)
    missing |= lost & near & cv2.dilate(missing.astype(np.uint8), band).astype(bool)
    missing_px = int(missing.sum())
    # a region as light as the backdrop: told apart by its mean over many pixels, not pixel by pixel
    # (nor is the faint tint that JPEG leaves beside a thin edge, its echo: no product lies there)
    quiet = shows_own & ~cv2.dilate((kept | product | m["echo"]).astype(np.uint8), band).astype(bool)
    faint, _ = _components(_opened(faint_background(m["diff"], quiet, m["border"] & ~product, window) & ~missing),
                           min_px)
    total = max(kept_px + missing_px, 1)
    part = lost_part(missing | faint, shows_own, kept, window)
    part_px = int(part.sum())
    grey = missing & (m["chroma"] < 12)

    # 7. Added: the candidate shows the photo's plain background where its own background would look
    #    different.
    #    (A smooth darker grey may be a cast shadow or a grey face: only the plain backdrop counts.)
    #    Only where the cutout put the product: elsewhere a scene's own backdrop may resemble the photo's.
    placed = cv2.dilate((a >= 0.5).astype(np.uint8), band).astype(bool)
    # only where the candidate's own background differs from the photo can it be told to show the photo's
    # pixel (measured where the product was placed: nothing else is asked of it)
    telling = np.zeros_like(placed)
    if placed.any():
        x, y, bw, bh = cv2.boundingRect(placed.astype(np.uint8))
        crop = (slice(y, y + bh), slice(x, x + bw))
        telling[crop] = _shifted_distance(own_lab[crop], lab_p[crop], RELAY_SHIFT) >= tolerance
    added, _ = _components(_opened(shows_photo & m["plain"] & ~product & telling & placed), min_px)
    added_share = float(added.sum()) / total if plain_own else None
    # the product's mirrored reflection on the photo's floor, carried into the image as if it were the product
    reflected, _ = _components(_opened(shows_photo & m["reflection"] & placed), min_px)
    if maps is not None:
        maps.update(photo=m["rgb"], candidate=warped, missing=missing, added=added, product=product,
                    shows_own=shows_own, telling=telling, kept=kept, faint=faint, lost_part=part)
    return RelayEvidence(missing=missing_px / total, missing_grey=float(grey.sum()) / total, missing_pieces=pieces,
                         faint=float(faint.sum()) / total, added=added_share, reproduced=reproduced_share,
                         tolerance=tolerance, lost_area=part_px / (kept_px + part_px),
                         reflection=float(reflected.sum()) / total)
