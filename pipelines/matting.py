"""Product matting: photo in, RGBA cutout (true foreground colours, solved alpha) and a report out.

Studio photos: the background is modelled from the image border (a smooth quadratic surface in CIE
Lab, so white, grey and gradient sweeps all fit); pixels are separated by their perceptual distance to
it, soft cast shadows (darker, same chroma, no edges, running out into the backdrop) are kept out
while grey faces framed by the product's own outlines stay in, GrabCut refines the boundary along
real edges on a reduced copy. Where colour cannot tell product from background (polished metal, white
enamel or pearls on white), the embedded neural saliency map (pipelines/segmentation.py) adds evidence
inside the product, but never fills a region that is smooth and of the background's colour and
enclosed by the product (a ring's hole stays open). A shaded opening is a hole only where its shade fades
out to the backdrop's tone or the neural map is unsure (a tinted lens stays whole), and a hole is framed by
the product's edges (a white bulb's highlight of the backdrop's white is no pinhole). Faint specks beside a
thin edge (the JPEG echo of a gold chain) are dropped, and so is the product's mirrored reflection on a
glossy floor (pipelines/reflection.py). The alpha is then solved in the uncertain band
with pymatting's closed-form matting, and the foreground colour is estimated there
(`estimate_foreground_ml`), so the cutout carries no rim of the old background.

Photos not on a studio background (a hand, a wooden table) are cut out by the neural map alone and
labelled with a lower confidence; a close-up whose product fills the frame is accepted as a detail
photo. A person's keep / remove strokes are hard constraints everywhere. An image that already has
real transparency is the seller's own cutout and is used as it is.

No SKUs, files or catalog here: tools/prepare.py does that.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image
from scipy.ndimage import find_objects

from pipelines.reflection import mirrored_reflection

GRABCUT_MAX_PIXELS = 90_000  # GrabCut runs on a reduced copy of the product's surroundings
GRABCUT_ITERATIONS = 1  # the trimap from colour evidence is good; one pass settles the boundary
TEXTURED = 1.3  # a product is textured where its brightest nearby pixel stands 30 % above its mean
SHADOW_OPEN = 2  # a cast shadow is broader than 2 * SHADOW_OPEN + 1 px
SHADOW_FADE = 0.15  # share of its outline along which a cast shadow runs out without an edge; a face has less
SHADOW_CORE_SLOPE = 7.0  # ΔL per px: a darker region steeper than this is a face's texture or edge, not a shadow's blur
MATTE_MAX_PIXELS = 160_000  # the alpha solve runs on tiles of the uncertain band, each at most this size
YOUR_CUTOUT = "your cutout"
LIGHT_BACKDROP_L = 75.0  # a backdrop lighter than this (L*) is white / light grey
ACHROMATIC_CHROMA = 12.0  # a pixel whose chroma is below this is silver, steel, white or grey
ACHROMATIC_SHARE = 0.3  # the neural map is asked where more than this share of the product is achromatic
TEXTURED_BACKDROP = 2.5  # border noise (dE) above which the backdrop is a texture (wood, paper), not a sweep
SAME_COLOURS = 0.92
SHADOW_RAMP = 4.0  # dE: the lightness spread of a cast shadow's ramp across a hole (a flat face spreads less)
SHADOW_EDGES = 0.3  # share of edge pixels below which a darker region is shaded, not structured
ECHO_REACH = 8  # px: how far from an edge a photo's compression echoes it (one JPEG block)
ECHO_SHARE = 0.25  # a detached speck this much fainter than the product beside it is an echo of its edge
PINHOLE_SHARE = 0.0002  # an enclosed gap smaller than this share of the product, not opened as a hole, is product
NEURAL_SURE = 0.9  # mean neural probability from which the map is sure a region is product
HOLE_FRAMED = 0.1  # share of a hole's outline that must be edges (the product's rim around it)
HOLE_BACKDROP = 0.5  # an enclosed region more than half of which shows the plain backdrop is a hole  # colour-histogram overlap above which a neural "product" is just its surroundings


class MattingError(ValueError):
    """The photo cannot be cut out; the message says why and what to do."""


class BusyBackground(MattingError):
    """The background is not a studio background and no neural model could separate the product."""


@dataclass
class CutoutResult:
    rgba: Image.Image  # RGB = estimated foreground colour (no background mixed in), A = solved alpha
    background: str  # plain | gradient | transparent | scene | fills_frame
    confidence: float
    bbox: tuple[int, int, int, int]  # x0, y0, x1, y1 of the product (alpha > 0.5)
    coverage: float  # share of the frame the product covers
    holes: int  # background regions kept open inside the product
    seconds: float
    notes: list[str] = field(default_factory=list)
    method: str = "matting"  # matting | matting+neural | neural | your cutout | strokes
    foreground: np.ndarray | None = None  # float32 (h, w, 3) 0..1: estimated foreground colours
    neural_map: bool = False  # the segmenter ran on the photo (whether or not its map changed the cutout)

    def report(self) -> dict:
        return {"background": self.background, "confidence": round(self.confidence, 3), "bbox": list(self.bbox),
                "coverage": round(self.coverage, 4), "holes": self.holes, "seconds": round(self.seconds, 3),
                "width": self.rgba.width, "height": self.rgba.height, "method": self.method, "notes": self.notes}


def cut_out(image: Image.Image, *, keep=None, remove=None, segmenter=None, neural: bool | None = None,
            refine: bool = True) -> CutoutResult:
    """Cut the product out of a photo.

    keep / remove: strokes a person painted over the photo (boolean arrays or "L" images of the photo's
    size, nonzero = painted); hard constraints: kept pixels are product, removed pixels background.
    segmenter: a loaded `pipelines.segmentation.Segmenter` (default: the embedded u2netp, when needed).
    neural: force the neural evidence on (True) or off (False); None uses it where it adds evidence.
    Raises BusyBackground / MattingError with a message saying what the user can do.
    """
    start = time.perf_counter()
    # 1. Check inputs; an image that already has transparency is the seller's own cutout.
    if not isinstance(image, Image.Image):
        raise MattingError(f"image must be a PIL image, got {type(image).__name__}")
    keep_mask = _stroke_mask(keep, image.size, "keep")
    remove_mask = _stroke_mask(remove, image.size, "remove")
    if keep_mask is not None and remove_mask is not None and (keep_mask & remove_mask).any():
        remove_mask = remove_mask & ~keep_mask  # where both were painted, the later-named "keep" wins
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba_in = image.convert("RGBA")
        alpha_in = np.asarray(rgba_in.getchannel("A"))
        if alpha_in.min() < 250:
            return _own_cutout(rgba_in, keep_mask, remove_mask, start)
    rgb = np.asarray(image.convert("RGB"))
    h, w = rgb.shape[:2]
    if min(h, w) < 32:
        raise MattingError(f"image is {w}x{h}; a cutout needs at least 32 px on each side")

    # 2. Model the background from the border: a quadratic surface per Lab channel, fitted robustly.
    lab = cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).astype(np.float32)
    lab -= np.array([0.0, 128.0, 128.0], np.float32)
    lab[..., 0] *= 100.0 / 255.0
    bg_lab, bg_rgb, sigma, inliers, spread = _fit_background(lab, rgb)
    if inliers < 0.45 or sigma > TEXTURED_BACKDROP:
        why = (f"only {inliers:.0%} of the border looks like one studio background" if inliers < 0.45
               else f"the border varies by {sigma:.1f} dE where a studio sweep varies by less than {TEXTURED_BACKDROP}")
        if neural is False:
            raise BusyBackground(_busy_message(why))
        return _cut_out_scene(rgb, why, keep_mask, remove_mask, segmenter, start)
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
    plain = dist < t_lo
    shaded = _soft_shadows(darker & smooth)  # broad: a cast shadow, or a grey face of the product
    shadow = _with_rim(_cast_shadows(darker & smooth, shaded, smooth), darker & smooth)  # the cast shadows
    shaded |= shadow
    # a contact shadow's core, darker than the `darker` limit, where it continues a cast shadow without an edge
    core = _shadow_core((d_light < -t_lo) & (d_chroma < np.maximum(3.0, 0.22 * -d_light)) & ~darker
                        & (grad < np.maximum(3.0 * g_noise, SHADOW_CORE_SLOPE)), shadow)
    shadow |= core
    shaded |= core
    faces = shaded & ~shadow  # framed by edges all round: product, unless the hole step opens them
    strong = (dist > t_hi) & ~shaded
    weak = (dist > t_lo) & ~shaded
    if keep_mask is not None:
        strong, weak = strong | keep_mask, weak | keep_mask
        shaded, shadow, faces = shaded & ~keep_mask, shadow & ~keep_mask, faces & ~keep_mask
    if remove_mask is not None:
        strong, weak = strong & ~remove_mask, weak & ~remove_mask
    if strong.sum() < 30:
        raise MattingError("found no product in the photo (it looks like an empty background)")

    # 4. Neural evidence where colour cannot tell: an achromatic product (silver, steel, chrome, white
    #    enamel, pearls, white fabric) on a light backdrop (or when asked).
    saliency = None
    if neural or (neural is None and _achromatic_on_light(lab, bg_lab, weak, strong)):
        saliency = _saliency(rgb, segmenter, required=bool(neural))

    # 5. Refine the boundary with GrabCut on a reduced crop around the product (strokes are sure labels).
    mask = _clean(weak, strong)
    if refine:
        # broad darker regions of the background's chroma are left for GrabCut to decide (shadow or
        # grey product part); everything else with strong evidence stays product
        grey = _soft_shadows(darker) | core
        sure_bg = plain if remove_mask is None else plain | remove_mask
        if keep_mask is not None:  # around a keep stroke the colour model decides, not the backdrop's tone
            reach = max(3, min(h, w) // 10)
            sure_bg = sure_bg & ~cv2.dilate(keep_mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=reach).astype(bool)
        mask = _grabcut(rgb, mask, strong, weak, grey, sure_bg) | _clean(strong & ~grey, strong & ~grey)
    # the neural map adds what it sees as product wherever the photo does not visibly show the backdrop
    neural_product = np.zeros_like(mask)
    if saliency is not None:
        neural_product = (saliency.probability > 0.5) & ~(plain & smooth) & ~mask
        if remove_mask is not None:
            neural_product &= ~remove_mask
        neural_product = _attached(neural_product, mask)
        mask |= neural_product
    # grey faces framed by the product's edges (a polished band) join the product they touch, where the
    # neural map, if it ran, does not see background there (a shadow hugging the product looks framed too)
    joining = faces if remove_mask is None else faces & ~remove_mask
    if saliency is not None:
        joining = _seen_as_product(joining, saliency.probability)
    joined = _attached(joining, mask)
    mask |= joined

    # 6. Holes: enclosed regions that look like the background stay open; enclosed product is filled.
    # Where the photo shows the plain backdrop the neural map has no say (it fills ring holes with
    # certainty); it only decides between a shadow and a grey / polished face of the backdrop's tone.
    mask, holes, in_small_hole, opened = _fill_holes(mask, plain, shaded | (darker & smooth), darker, smooth,
                                                     None if saliency is None else saliency.probability,
                                                     lab[..., 0], grad > 3.0 * g_noise, joined,
                                                     backdrop_tone=d_light > -2.0 * t_lo)
    mask |= _pinholes(mask, opened, grad > 3.0 * g_noise)
    delta = rgb.astype(np.float32) - bg_rgb
    offset = np.sqrt(np.einsum("ijk,ijk->ij", delta, delta))
    # specks beside a thin edge that are only a faint tint of the backdrop are the photo's compression
    # echoing the edge, not product (they showed as white dots along a gold chain on a dark scene)
    echoes = compression_echoes(mask, offset, None if saliency is None else saliency.probability)
    mask &= ~echoes
    # the product's mirrored reflection on a glossy floor has the product's colours; its model tells it apart
    mirrored = mirrored_reflection(diff, mask)
    if keep_mask is not None:
        mirrored &= ~keep_mask
    mask &= ~mirrored
    if keep_mask is not None:
        mask |= keep_mask
    if remove_mask is not None:
        mask &= ~remove_mask

    # 7. A first soft alpha from linear mixing (the pixel's distance from the background relative to
    #    the product's colour nearby), then the alpha solve in the uncertain band (pymatting).
    offset[shadow | (opened & faces)] = 0.0  # cast shadows, and the shaded faces the hole step opened
    peak = reach = cv2.dilate(offset, np.ones((7, 7), np.uint8))
    interior = cv2.erode(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=1).astype(np.float32)
    num = cv2.boxFilter(offset * interior, -1, (13, 13))
    den = cv2.boxFilter(interior, -1, (13, 13))
    reach = np.where(den > 0.05, num / np.maximum(den, 1e-3), reach)
    soft = np.clip(offset / np.maximum(reach, 12.0), 0.0, 1.0)
    soft[plain | (echoes & ~mask) | mirrored] = 0.0
    cast = in_small_hole & darker & smooth  # a shadow cast into a small gap is no thin product edge
    soft[cast] = np.minimum(soft[cast], 0.45)
    textured = mask & (peak > TEXTURED * reach)
    alpha, solved = _solve_alpha(rgb, mask, soft, textured, (plain & ~mask) | mirrored, keep_mask, remove_mask)
    coverage = float((alpha > 0.5).mean())
    if coverage > 0.97:
        return _fills_frame(rgb, start, "the product fills the whole frame")

    # 8. Confidence: clean background, clear separation, sensible size; the neural prior lowers it a little
    #    where it decided (it is a guess about the product, checked later against the photo).
    confidence = float(np.clip(inliers, 0, 1) * np.clip(1.2 - sigma / 5.0, 0, 1) * (1.0 if 0.002 < coverage < 0.9 else 0.6))
    notes = [f"background {kind}, noise {sigma:.1f} dE"]
    method = "matting"
    if neural_product.sum() > 0.01 * max(1, mask.sum()):
        share = float((neural_product & mask).sum() / max(1, mask.sum()))
        confidence *= 1.0 - 0.5 * min(1.0, share * 4)
        method = "matting+neural"
        notes.append(f"neural evidence kept {share:.0%} of the product where colour could not tell")
    if keep_mask is not None or remove_mask is not None:
        method, confidence = "strokes", max(confidence, 0.9)
        notes.append("corrected with keep / remove strokes")
    if solved:
        notes.append("alpha solved along the edge")
    if mirrored.any():
        notes.append("its mirrored reflection on the floor below it was left out")

    # 9. Edge colours: the true foreground where the alpha is partial, so no rim of the background shows.
    foreground = _estimate_foreground(rgb, alpha)
    rgba = np.dstack([np.clip(foreground * 255.0 + 0.5, 0, 255).astype(np.uint8),
                      np.clip(alpha * 255.0 + 0.5, 0, 255).astype(np.uint8)])
    return _result(Image.fromarray(rgba, "RGBA"), alpha, kind, min(confidence, 1.0), holes, start, notes,
                   method, foreground, neural_map=saliency is not None)


def cut_out_with_strokes(photo: Image.Image, keep=None, remove=None, *, segmenter=None) -> CutoutResult:
    """Re-solve a photo's cutout with a person's strokes (keep = product, remove = background) as hard
    constraints. The one call the app makes after the user painted over the photo."""
    if keep is None and remove is None:
        raise MattingError("paint at least one keep or remove stroke")
    return cut_out(photo, keep=keep, remove=remove, segmenter=segmenter)


def _busy_message(why: str) -> str:
    return (f"the background is busy ({why}) and the product could not be told apart from it: upload a "
            "cutout with transparency, paint keep and remove strokes over the photo, or shoot on a plain "
            "white, grey or gradient background")


def _stroke_mask(stroke, size: tuple[int, int], name: str) -> np.ndarray | None:
    """A stroke mask as a boolean (h, w) array; None when nothing was painted."""
    if stroke is None:
        return None
    if isinstance(stroke, Image.Image):
        stroke = np.asarray(stroke.convert("RGBA").getchannel("A")) if stroke.mode in ("RGBA", "LA") and \
            np.asarray(stroke.getchannel("A")).min() < 255 else np.asarray(stroke.convert("L"))
    arr = np.asarray(stroke)
    if arr.ndim == 3:
        arr = arr.max(axis=2)
    if arr.shape != (size[1], size[0]):
        raise MattingError(f"the {name} mask is {arr.shape[1]}x{arr.shape[0]} but the photo is {size[0]}x{size[1]}; "
                           "paint the strokes on the same photo")
    mask = arr > (127 if arr.dtype == np.uint8 else 0.5)
    return mask if mask.any() else None


def _own_cutout(rgba: Image.Image, keep, remove, start: float) -> CutoutResult:
    """The seller's cutout with real transparency, used as it is (strokes edit its alpha directly)."""
    arr = np.asarray(rgba).copy()
    notes = ["used the transparency already in the image"]
    if keep is not None or remove is not None:
        if keep is not None:
            arr[..., 3][keep & (arr[..., 3] > 0)] = 255
        if remove is not None:
            arr[..., 3][remove] = 0
        notes.append("corrected with keep / remove strokes")
    alpha = arr[..., 3].astype(np.float32) / 255.0
    return _result(Image.fromarray(arr, "RGBA"), alpha, "transparent", 1.0, 0, start, notes, YOUR_CUTOUT,
                   arr[..., :3].astype(np.float32) / 255.0)


def _saliency(rgb: np.ndarray, segmenter, required: bool):
    """The neural saliency map, or None when the embedded model is not installed (and not required)."""
    from pipelines import segmentation

    try:
        model = segmenter if segmenter is not None else segmentation.load_segmenter()
        return model.predict(rgb)
    except segmentation.SegmenterError:
        if required or segmenter is not None:
            raise
        return None


def _achromatic_on_light(lab, bg_lab, weak, strong) -> bool:
    """Colour cannot tell an achromatic product from a light backdrop (silver, steel, white enamel,
    pearls on white or light grey), also where such a part carries coloured stones: there the neural
    map is asked for evidence."""
    light = float(np.median(bg_lab[..., 0])) > LIGHT_BACKDROP_L
    evidence = weak if weak.any() else strong
    chroma = np.hypot(lab[..., 1][evidence], lab[..., 2][evidence])
    # a share, not the median: a silver band set with coloured stones is mostly colour by area
    return light and bool(chroma.size) and float((chroma < ACHROMATIC_CHROMA).mean()) > ACHROMATIC_SHARE


def _attached(candidate: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Components of `candidate` that touch the product found so far, or are large on their own."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(candidate.astype(np.uint8), connectivity=8)
    if count <= 1:
        return candidate.astype(bool)
    grown = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8)).astype(bool)
    touching = np.bincount(labels[grown & candidate], minlength=count) > 0
    large = stats[:, cv2.CC_STAT_AREA] >= 0.02 * max(1, int(mask.sum()))
    keep = touching | large
    keep[0] = False
    return keep[labels]


def _cut_out_scene(rgb, why, keep, remove, segmenter, start) -> CutoutResult:
    """Not a studio background: the neural map decides, the strokes constrain, the alpha is solved on its
    uncertain band. A close-up whose product fills the frame is a detail photo."""
    from pipelines import segmentation

    # 1. The neural map (the user's model when given, else the embedded u2netp)
    try:
        saliency = _saliency(rgb, segmenter, required=True)
    except segmentation.SegmenterError as exc:
        raise BusyBackground(_busy_message(why) + f" ({exc})") from None
    prob = saliency.probability
    h, w = prob.shape
    # 2. A close-up: the product covers most of the frame and runs over its edges
    border_share = float(_border(prob > 0.5, max(2, min(h, w) // 40)).mean())
    if float((prob > 0.5).mean()) > 0.8 and border_share > 0.6 and keep is None and remove is None:
        return _fills_frame(rgb, start, "the product fills the frame (a close-up)")
    # 3. Mask from the map and the strokes; the map must find a product of sensible size
    mask = _scene_grabcut(rgb, prob, keep, remove)
    if keep is not None:
        mask |= keep
    if remove is not None:
        mask &= ~remove
    mask = _largest_components(mask)
    coverage = float(mask.mean())
    if coverage < 0.002 or _looks_like_surroundings(rgb, mask):
        raise BusyBackground(_busy_message(why))
    # 4. The alpha: sure where the map is sure, solved between
    soft = np.clip((prob - 0.1) / 0.8, 0.0, 1.0)
    alpha, _ = _solve_alpha(rgb, mask, soft, np.zeros_like(mask), prob < 0.05, keep, remove)
    foreground = _estimate_foreground(rgb, alpha)
    # 5. Confidence: lower than a studio cutout, higher when the map is decisive
    decisive = float(((prob < 0.1) | (prob > 0.9)).mean())
    confidence = (0.6 if not saliency.embedded else 0.45) * decisive
    method = "neural"
    notes = [f"not a studio background ({why}); cut out by the {saliency.model} model - check the edges"]
    if keep is not None or remove is not None:
        method, confidence = "strokes", max(confidence, 0.85)
        notes.append("corrected with keep / remove strokes")
    rgba = np.dstack([np.clip(foreground * 255 + 0.5, 0, 255).astype(np.uint8),
                      np.clip(alpha * 255 + 0.5, 0, 255).astype(np.uint8)])
    return _result(Image.fromarray(rgba, "RGBA"), alpha, "scene", confidence, 0, start, notes, method, foreground,
                   neural_map=True)


def _scene_grabcut(rgb: np.ndarray, prob: np.ndarray, keep, remove) -> np.ndarray:
    """The neural map refined by colour and edges: GrabCut seeded by the map (sure where it is sure,
    probable elsewhere) on a reduced copy, so the backdrop seen through a hole is given back."""
    h, w = prob.shape
    scale = min(1.0, (GRABCUT_MAX_PIXELS * 2 / (h * w)) ** 0.5)
    size = (max(8, int(w * scale)), max(8, int(h * scale)))
    small_p = cv2.resize(prob, size, interpolation=cv2.INTER_AREA)
    gc = np.where(small_p > 0.5, cv2.GC_PR_FGD, cv2.GC_PR_BGD).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    # a sure product seed must not have the backdrop's colours (u2netp fills holes with certainty)
    img = cv2.resize(rgb, size, interpolation=cv2.INTER_AREA)
    bins = (img // 32).astype(np.int32)
    codes = bins[..., 0] * 64 + bins[..., 1] * 8 + bins[..., 2]
    backdrop = np.bincount(_border(codes, max(2, min(size) // 30)), minlength=512).astype(np.float64)
    product = np.bincount(codes[small_p > 0.9], minlength=512).astype(np.float64)
    backdrop, product = backdrop / max(1.0, backdrop.sum()), product / max(1.0, product.sum())
    unlike_backdrop = product[codes] > 2.0 * backdrop[codes]
    sure = cv2.erode((small_p > 0.95).astype(np.uint8), kernel, iterations=2).astype(bool) & unlike_backdrop
    gc[sure] = cv2.GC_FGD
    gc[cv2.erode((small_p < 0.05).astype(np.uint8), kernel, iterations=2).astype(bool)] = cv2.GC_BGD
    for stroke, label in ((keep, cv2.GC_FGD), (remove, cv2.GC_BGD)):
        if stroke is not None:
            gc[cv2.resize(stroke.astype(np.uint8), size, interpolation=cv2.INTER_NEAREST).astype(bool)] = label
    if not (gc == cv2.GC_BGD).any() or not ((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)).any():
        return prob > 0.5
    bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(0)
    try:
        cv2.grabCut(cv2.cvtColor(img, cv2.COLOR_RGB2BGR), gc, None, bgd, fgd, 2, cv2.GC_INIT_WITH_MASK)
    except cv2.error:
        return prob > 0.5
    fg = ((gc == cv2.GC_FGD) | (gc == cv2.GC_PR_FGD)).astype(np.float32)
    return cv2.resize(fg, (w, h), interpolation=cv2.INTER_LINEAR) > 0.5


def _looks_like_surroundings(rgb: np.ndarray, mask: np.ndarray) -> bool:
    """The "product" has the same colours as the ring around it (noise, a uniform texture): the map
    found no object, so nothing is cut out (Bhattacharyya overlap of coarse colour histograms)."""
    ring = cv2.dilate(mask.astype(np.uint8), np.ones((3, 3), np.uint8), iterations=max(4, min(mask.shape) // 40))
    ring = ring.astype(bool) & ~mask
    if ring.sum() < 50:
        return False
    bins = (rgb // 64).astype(np.int32)
    codes = bins[..., 0] * 16 + bins[..., 1] * 4 + bins[..., 2]
    inside = np.bincount(codes[mask], minlength=64) / max(1, int(mask.sum()))
    around = np.bincount(codes[ring], minlength=64) / int(ring.sum())
    return float(np.sqrt(inside * around).sum()) > SAME_COLOURS


def _fills_frame(rgb, start, why: str) -> CutoutResult:
    """A close-up: the whole frame is the product (a detail photo); nothing is removed."""
    alpha = np.ones(rgb.shape[:2], np.float32)
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])
    return _result(Image.fromarray(rgba, "RGBA"), alpha, "fills_frame", 0.5, 0, start,
                   [f"{why}: kept whole as a detail photo"], "matting", rgb.astype(np.float32) / 255.0)


def compression_echoes(mask: np.ndarray, offset: np.ndarray, prob: np.ndarray | None = None,
                       reach: int = ECHO_REACH) -> np.ndarray:
    """Small detached parts of `mask` within `reach` px of the product whose strongest difference from
    the backdrop (`offset`) is below ECHO_SHARE of the product's beside them: the ringing and colour
    bleed that JPEG leaves around a thin, contrasted edge. Parts the neural map `prob` sees as product
    stay. Also used by the check against the photo (pipelines/cutout_check.py), so both agree."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 2:
        return np.zeros_like(mask, dtype=bool)
    areas = stats[:, cv2.CC_STAT_AREA]
    small = areas < 0.02 * areas[1:].max()
    small[0] = False
    body = mask & ~small[labels]
    size = 2 * reach + 1
    beside = cv2.dilate(np.where(body, offset, 0.0).astype(np.float32), np.ones((size, size), np.uint8))
    own = np.zeros(count, np.float32)
    near = np.zeros(count, np.float32)
    np.maximum.at(own, labels[mask], offset[mask])
    np.maximum.at(near, labels[mask], beside[mask])
    echo = small & (near > 0) & (own < ECHO_SHARE * near)
    if prob is not None:
        seen = np.bincount(labels[mask], weights=prob[mask] > 0.5, minlength=count) / np.maximum(areas, 1)
        echo &= seen < 0.5
    echo[0] = False
    return echo[labels]


def chroma_fringe(d_light: np.ndarray, d_chroma: np.ndarray, threshold: float, reach: int = ECHO_REACH) -> np.ndarray:
    """Pixels that differ from the backdrop in colour only, far fainter than an edge within `reach` px: JPEG
    keeps colour at half the resolution of lightness and rings around a contrasted edge, so a tint of the
    backdrop's own lightness beside a gold chain is that ringing, attached to the edge or not."""
    offset = np.hypot(d_light, d_chroma).astype(np.float32)
    beside = cv2.dilate(offset, np.ones((2 * reach + 1,) * 2, np.uint8))
    return (d_chroma > threshold) & (np.abs(d_light) <= threshold) & (offset < ECHO_SHARE * beside)


def _largest_components(mask: np.ndarray) -> np.ndarray:
    """Components of at least 2 % of the largest one (a product may be in parts; specks are dropped)."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats(mask.astype(np.uint8), connectivity=8)
    if count <= 1:
        return mask.astype(bool)
    areas = stats[:, cv2.CC_STAT_AREA]
    keep = areas >= 0.02 * areas[1:].max()
    keep[0] = False
    return keep[labels]


def _solve_alpha(rgb, mask, soft, textured, sure_bg, keep, remove) -> tuple[np.ndarray, bool]:
    """The alpha: 1 inside, 0 outside, solved with closed-form matting (pymatting) in the uncertain band
    along the boundary. Pixels whose linear-mixing alpha is already near 0 or 1 are known; so are the
    strokes. Returns (alpha, whether a solve ran)."""
    # 1. Trimap: a band of a few pixels around the boundary is unknown
    h, w = mask.shape
    r = max(2, int(round(min(h, w) / 400)))
    kernel = np.ones((3, 3), np.uint8)
    m8 = mask.astype(np.uint8)
    inner = cv2.erode(m8, kernel, iterations=r).astype(bool)
    outer = cv2.dilate(m8, kernel, iterations=r).astype(bool)
    # the centre line of every part (a thin chain's too) is product: the ridge of the distance map
    depth = cv2.distanceTransform(m8, cv2.DIST_L2, 3)
    ridge = mask & (depth >= cv2.dilate(depth, kernel)) & (soft > 0.5)
    fg = inner | (mask & (soft > 0.97)) | ridge
    bg = ~outer | sure_bg | (~mask & (soft < 0.05))
    if keep is not None:
        fg, bg = fg | keep, bg & ~keep
    if remove is not None:
        fg, bg = fg & ~remove, bg | remove
    unknown = ~(fg | bg)
    alpha = mask.astype(np.float32)
    # the first estimate: linear mixing (textured products keep their outermost pixels mostly product)
    first = np.where(textured, np.maximum(soft, 0.6), soft)
    alpha[unknown] = first[unknown]
    alpha[fg], alpha[bg] = 1.0, 0.0
    if not unknown.any():
        return alpha, False
    # 2. The solve, on tiles around the band (each small enough to stay fast)
    try:
        from pymatting import estimate_alpha_cf
    except ImportError:  # the first estimate stands (the README says how to install pymatting)
        return cv2.GaussianBlur(alpha, (3, 3), 0.6), False
    image = rgb.astype(np.float64) / 255.0
    trimap = np.where(fg, 1.0, np.where(bg, 0.0, 0.5))
    ys, xs = np.nonzero(unknown)
    tile = int(MATTE_MAX_PIXELS ** 0.5)
    pad = 4 * r
    solved = alpha.copy()
    for ty in range(int(ys.min()) // tile * tile, int(ys.max()) + 1, tile):
        for tx in range(int(xs.min()) // tile * tile, int(xs.max()) + 1, tile):
            block = unknown[ty:ty + tile, tx:tx + tile]
            if not block.any():
                continue
            y0, x0 = max(0, ty - pad), max(0, tx - pad)
            y1, x1 = min(h, ty + tile + pad), min(w, tx + tile + pad)
            t = trimap[y0:y1, x0:x1]
            if not (t == 1.0).any() or not (t == 0.0).any():
                continue  # nothing known on one side: the first estimate stands
            try:
                a = estimate_alpha_cf(image[y0:y1, x0:x1], t, laplacian_kwargs={"epsilon": 1e-6},
                                      cg_kwargs={"maxiter": 400})
            except Exception:  # a degenerate tile: the first estimate stands there
                continue
            a = np.clip(a, 0.0, 1.0).astype(np.float32)
            sub = unknown[y0:y1, x0:x1].copy()
            # only this tile's own pixels (the padding belongs to the neighbours)
            core = np.zeros_like(sub)
            core[ty - y0:ty - y0 + tile, tx - x0:tx - x0 + tile] = True
            sub &= core
            solved[y0:y1, x0:x1][sub] = a[sub]
    return solved, True


def _estimate_foreground(rgb: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """The foreground colour (0..1) where the alpha is partial (pymatting's multilevel estimate, on a
    crop around the edge); the photo's own colour inside the product."""
    image = rgb.astype(np.float32) / 255.0
    edge = (alpha > 0.01) & (alpha < 0.99)
    if not edge.any():
        return image
    try:
        from pymatting import estimate_foreground_ml
    except ImportError:
        return image
    ys, xs = np.nonzero(edge)
    pad = 8
    y0, y1 = max(0, ys.min() - pad), min(alpha.shape[0], ys.max() + pad + 1)
    x0, x1 = max(0, xs.min() - pad), min(alpha.shape[1], xs.max() + pad + 1)
    fg = estimate_foreground_ml(image[y0:y1, x0:x1].astype(np.float64), alpha[y0:y1, x0:x1].astype(np.float64))
    out = image.copy()
    crop_edge = edge[y0:y1, x0:x1]
    out[y0:y1, x0:x1][crop_edge] = np.clip(fg, 0, 1).astype(np.float32)[crop_edge]
    return out


def _result(rgba: Image.Image, alpha: np.ndarray, kind: str, confidence: float, holes: int, start: float,
            notes: list[str], method: str = "matting", foreground: np.ndarray | None = None,
            neural_map: bool = False) -> CutoutResult:
    ys, xs = np.nonzero(alpha > 0.5)
    bbox = (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1) if len(xs) else (0, 0, 0, 0)
    return CutoutResult(rgba, kind, confidence, bbox, float((alpha > 0.5).mean()), holes,
                        time.perf_counter() - start, notes, method, foreground, neural_map)


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


def _with_rim(shadow: np.ndarray, candidate: np.ndarray) -> np.ndarray:
    """A cast shadow with the speckled rim its opening trimmed (photo noise around the backdrop's tone),
    grown back within `candidate` by as far as the opening reaches: kept, the rim shows as grey flecks."""
    kernel = np.ones((3, 3), np.uint8)
    grown, inside = shadow.astype(np.uint8), candidate.astype(np.uint8)
    for _ in range(SHADOW_OPEN):
        grown = cv2.dilate(grown, kernel) & inside
    return grown.astype(bool)


def _cast_shadows(candidate: np.ndarray, broad: np.ndarray, fades: np.ndarray) -> np.ndarray:
    """The broad darker regions (`broad`, the broad part of `candidate`) that fade into the backdrop:
    along part of its outline a cast shadow's penumbra runs out without an edge (`fades`: the smooth
    pixels), while a grey or polished face of the product (a ring's band, a white heel in shade) is
    framed all round by the product's own outlines and edges. Measured around the whole darker region,
    before its thin parts are trimmed."""
    count, labels = cv2.connectedComponents(candidate.astype(np.uint8), connectivity=8)
    if count <= 1 or not broad.any():
        return broad
    # the 2 px around every region, each pixel given to the neighbouring region (the largest label)
    around = cv2.dilate(labels.astype(np.float32), np.ones((3, 3), np.uint8), iterations=2).astype(np.int32)
    ring = (around > 0) & ~candidate
    total = np.bincount(around[ring], minlength=count)
    fading = np.bincount(around[ring & fades], minlength=count)
    keep = fading >= SHADOW_FADE * np.maximum(total, 1)
    keep[0] = False
    return keep[labels] & broad


def shadow_ramps(candidate: np.ndarray, fades: np.ndarray) -> np.ndarray:
    """The broad regions of `candidate` (darker pixels of the backdrop's chroma) that run out into the
    backdrop without an edge along part of their outline (`fades`): cast shadows, as the matting decides
    them. Used by the check against the photo (pipelines/cutout_check.py), so both agree."""
    return _cast_shadows(candidate, _soft_shadows(candidate), fades)


def _shadow_core(deep: np.ndarray, shadow: np.ndarray) -> np.ndarray:
    """The broad parts of `deep` (smooth, backdrop-chroma pixels darker than a cast shadow is allowed to be)
    that touch a cast shadow: under a shoe's toe the shadow is darkest where it meets the sole, and grows
    lighter without an edge out to the backdrop. GrabCut then decides where the product ends."""
    count, labels = cv2.connectedComponents((deep | shadow).astype(np.uint8), connectivity=8)
    if count <= 1 or not shadow.any():
        return np.zeros_like(deep)
    touches = np.zeros(count, bool)
    touches[np.unique(labels[shadow])] = True
    touches[0] = False
    return _soft_shadows(deep & touches[labels])


def _seen_as_product(regions: np.ndarray, prob: np.ndarray) -> np.ndarray:
    """The connected regions whose mean neural probability is above one half."""
    count, labels = cv2.connectedComponents(regions.astype(np.uint8), connectivity=8)
    if count <= 1:
        return regions.astype(bool)
    areas = np.maximum(np.bincount(labels.ravel(), minlength=count), 1)
    seen = np.bincount(labels.ravel(), weights=prob.ravel(), minlength=count) / areas > 0.5
    seen[0] = False
    return seen[labels]


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


def _framed(labels: np.ndarray, count: int, candidates: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Per region: some of the 2 px around it (at least HOLE_FRAMED) are edges. A gap of the backdrop's tone
    with no edge anywhere around it is the product's own surface (a white bulb's highlight), not a hole."""
    framed = np.ones(count, bool)
    boxes = find_objects(labels, max_label=count - 1)  # one pass for every region's bounding box
    for label in np.nonzero(candidates)[0]:  # few: enclosed gaps only
        box = boxes[label - 1]
        if box is None:
            continue
        y0, y1 = max(0, box[0].start - 2), box[0].stop + 2
        x0, x1 = max(0, box[1].start - 2), box[1].stop + 2
        region = labels[y0:y1, x0:x1] == label
        around = cv2.dilate(region.astype(np.uint8), np.ones((5, 5), np.uint8)).astype(bool) & ~region
        framed[label] = edges[y0:y1, x0:x1][around].mean() >= HOLE_FRAMED
    return framed


def _pinholes(mask: np.ndarray, opened: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Gaps the mask encloses that the hole step did not open, where a white product's surface is exactly
    the backdrop's white (the hole step sets the product's shaded parts aside, so such a gap is not
    enclosed there): tiny ones (below PINHOLE_SHARE of the product's area) and those with no edge around
    them (see `_framed`) are product."""
    count, labels, stats, _ = cv2.connectedComponentsWithStats((~mask).astype(np.uint8), connectivity=4)
    if count <= 2:
        return np.zeros_like(mask)
    gap = np.ones(count, bool)
    gap[np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))] = False
    gap[np.unique(labels[opened])] = False
    gap[0] = False
    tiny = stats[:, cv2.CC_STAT_AREA] <= max(4, PINHOLE_SHARE * int(mask.sum()))
    fill = gap & (tiny | ~_framed(labels, count, gap & ~tiny, edges))
    return fill[labels]


def _shaded_like_a_shadow(labels: np.ndarray, count: int, areas: np.ndarray, lightness: np.ndarray,
                          edges: np.ndarray) -> np.ndarray:
    """Per region: its lightness varies like a cast shadow's penumbra (standard deviation above
    SHADOW_RAMP dE) while few of its pixels are edges (below SHADOW_EDGES): a blurred copy of the
    product's outline, not a face of the product."""
    flat = labels.ravel()
    light = lightness.ravel().astype(np.float64)
    mean = np.bincount(flat, weights=light, minlength=count) / areas
    spread = np.sqrt(np.maximum(np.bincount(flat, weights=light * light, minlength=count) / areas - mean * mean, 0.0))
    edge_share = np.bincount(flat[edges.ravel()], minlength=count) / areas
    return (spread > SHADOW_RAMP) & (edge_share < SHADOW_EDGES)


def _fill_holes(mask: np.ndarray, plain: np.ndarray, grey: np.ndarray, darker: np.ndarray,
                smooth: np.ndarray, prob: np.ndarray | None = None, lightness: np.ndarray | None = None,
                edges: np.ndarray | None = None, faces: np.ndarray | None = None,
                backdrop_tone: np.ndarray | None = None) -> tuple[np.ndarray, int, np.ndarray, np.ndarray]:
    """Holes: enclosed regions of the background's colour (with the shadows cast into them) stay open,
    other enclosed gaps are product and are filled. A hole is smooth like the background: a gap of
    background tone among pavé stones or links is textured, and is product.

    A region that shows the plain backdrop is a hole whatever the neural map says. A region that is
    only darker than the backdrop (a shadow cast into a hole, or a grey / polished face of the
    backdrop's tone: colour cannot tell them apart) is a hole when the neural map `prob`, where it
    ran, sees background there, or when it is shaded like a cast shadow: a smooth ramp of lightness
    (`lightness`, L*) spanning several dE without edges (`edges`); a flat face of one grey, or one
    broken by reflections and edges, is product. In a region that is mostly a face (`faces`: broad,
    smooth, darker, and framed by edges all round instead of running out into the backdrop like a cast
    shadow) only the face's own pixels are asked whether they are shaded like a shadow. Where the neural
    map is sure of a region (mean NEURAL_SURE or more), its ramp counts as a shadow's only if it fades out to
    the backdrop's tone (`backdrop_tone`: pixels within twice the noise threshold of the backdrop's
    lightness; the plain pixels when not given) on at least 1 % of the region: a tinted lens, a grey cap
    band or a heel in shade never does, while a gap between two rings lying wholly in shadow is where the
    map hesitates.
    Returns the mask, the number of holes, the opened pixels of the small holes and all opened pixels."""
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
    shows_backdrop = np.bincount(labels[plain], minlength=count) / areas > HOLE_BACKDROP
    if prob is None:
        neural_background = np.ones(count, bool)
    else:
        mean_prob = np.bincount(labels.ravel(), weights=prob.ravel(), minlength=count) / areas
        neural_background = mean_prob < 0.5
        if lightness is not None and edges is not None:
            shaded = _shaded_like_a_shadow(labels, count, areas, lightness, edges)
            if faces is not None:
                # a region that is mostly a face: the face's own pixels say whether it is shaded like a
                # shadow (the outlines and reflections around a flat polished band are no penumbra)
                face_area = np.bincount(labels[faces], minlength=count)
                face_shaded = _shaded_like_a_shadow(np.where(faces, labels, 0), count, np.maximum(face_area, 1),
                                                    lightness, edges)
                shaded = np.where(face_area / areas > 0.5, face_shaded, shaded)
            # a shadow cast into a hole fades out to the backdrop's tone there; a region the map is sure of
            # that nowhere comes near it (a tinted lens with a gradient across it) is no shadow, whatever its ramp
            toned = plain if backdrop_tone is None else backdrop_tone
            runs_out = np.bincount(labels[toned], minlength=count) >= np.maximum(3, 0.01 * areas)
            neural_background |= shaded & (runs_out | (mean_prob < NEURAL_SURE))
    hole = enclosed & (shows_backdrop | ((like_share > 0.6) & neural_background)) & (smooth_share > 0.5) & (areas > 12)
    if edges is not None:  # a hole shows the backdrop through the product, framed by its edges somewhere
        hole &= _framed(labels, count, hole, edges)
    fill = enclosed & ~hole
    open_pixels = hole[labels] & (plain | (darker & smooth) | grey)
    small = hole & (areas < 0.005 * max(1, int(mask.sum())))
    return (mask | fill[labels]) & ~open_pixels, int(hole.sum()), small[labels] & open_pixels, open_pixels
