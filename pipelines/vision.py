"""Vision metrics: find the source product in a candidate image, align it, and measure how faithful,
whole and clean the candidate is. Plain arrays / PIL images in, small dataclasses of numbers out.

What lives here: location (engine hint verified independently, or a multi-scale masked template
search for images made elsewhere), alignment, fidelity metrics (silhouette and outline pieces missing
or added, CIEDE2000 color, structure, missing/added detail, changed regions, scale, aspect,
completeness), re-render statistics (palette, pattern, print) for roles that redraw the product,
background and quality measurements.
What does not: limits, verdicts and messages (tools/critique.py), channel rules (tools/rules.py).

All work happens at a bounded analysis resolution (the product at most `ANALYSIS_PX` on its longest
side, the frame at most `FRAME_PX`), so the cost per candidate does not grow with its pixel size.
"""

from __future__ import annotations

import weakref
from dataclasses import asdict, dataclass, field

import cv2
import numpy as np
from PIL import Image

ANALYSIS_PX = 224  # product longest side when measuring fidelity
ANALYSIS_MAX_PX = 512  # ... raised up to this for thin products, so their strokes stay ~2.5 px wide
SEARCH_PX = 112  # frame longest side for the coarse location search
SEARCH_STROKE_BUSY = 1.5  # px a thin product's stroke keeps in the location search, on a busy background
SEARCH_STROKE_PLAIN = 2.5  # ... and in the fine fit on a plain one (see _search_px)
REFINE_PX = 112  # product longest side for the fine location search
REFINE_SHORT_PX = 48  # ... and at least this on its shortest side (within 2x REFINE_PX on the longest)
FRAME_PX = 512  # frame longest side for background / frame measurements
SOURCE_MAX_PX = 1024  # source cutouts are reduced to this once
MIN_TEMPLATE_PX = 14
WINDOW_PX = 96  # product longest side for a search around a first guess
FRAME_CONTENDERS = 5  # places from the whole-frame search whose size is settled before choosing
FRAME_CONTENDER_ERROR = 3.0  # ... those fitting at most this much worse than the best one
HINT_FIT_ERROR = 0.5  # relative fit error up to which a fit around the engine's record settles the location
GUESS_ERROR = 0.1  # relative fit error above which a foreground-guided fit is double-checked
ENERGY_FLOOR = 0.002
STRETCH_GAIN = 0.85  # a stretched fit is kept only when its error is this much lower
CHANGE_DE = 8.0  # tolerant Lab distance that marks a pixel as changed
CHANGE_FULL_DE = 16.0  # ... it counts fully in a changed region's size this far beyond that


# -- small value types -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in candidate pixels: where the source's (tight) bounding box landed."""

    x: float
    y: float
    w: float
    h: float

    @property
    def center(self) -> tuple[float, float]:
        return self.x + self.w / 2, self.y + self.h / 2

    def iou(self, other: Box) -> float:
        x0, y0 = max(self.x, other.x), max(self.y, other.y)
        x1, y1 = min(self.x + self.w, other.x + other.w), min(self.y + self.h, other.y + other.h)
        inter = max(0.0, x1 - x0) * max(0.0, y1 - y0)
        union = self.w * self.h + other.w * other.h - inter
        return float(inter / union) if union > 0 else 0.0


@dataclass
class Source:
    """A source cutout prepared once: tight crop of the product as float RGBA [0,1] and a pyramid.

    RGB is stored premultiplied by alpha, so every resize averages colors correctly at soft edges and
    thin parts (chains); `straight()` gives plain colors back.
    """

    rgba: np.ndarray
    factor: float  # working px per original cutout px (<= 1)
    offset: tuple[int, int]  # tight-crop origin in original cutout px (after crop/rotation)
    pyramid: list[np.ndarray] = field(default_factory=list)
    stroke: float = 0.0
    visible: np.ndarray | None = None  # 1 where the product should be visible (None: everywhere)

    def __post_init__(self):
        # stroke width of the product's thinnest typical part (2 * area / perimeter), in working px
        solid = (self.rgba[..., 3] > 0.5).astype(np.uint8)
        perimeter = float(np.count_nonzero(solid - cv2.erode(solid, np.ones((3, 3), np.uint8))))
        self.stroke = 2.0 * float(solid.sum()) / max(perimeter, 1.0)
        level = self.rgba
        self.pyramid = [level]
        while max(level.shape[:2]) > 48:
            level = cv2.resize(level, (max(1, level.shape[1] // 2), max(1, level.shape[0] // 2)),
                               interpolation=cv2.INTER_AREA)
            self.pyramid.append(level)

    @property
    def rgb(self) -> np.ndarray:
        """Straight (not premultiplied) colors at working size."""
        return straight(self.rgba)

    @property
    def alpha(self) -> np.ndarray:
        return self.rgba[..., 3]

    @property
    def size(self) -> tuple[float, float]:
        """Product width, height in original cutout pixels."""
        h, w = self.alpha.shape
        return w / self.factor, h / self.factor

    def resized(self, w: int, h: int) -> np.ndarray:
        """The RGBA product at w x h, area-averaged from the nearest larger pyramid level."""
        level = self.pyramid[0]
        for candidate in self.pyramid:
            if candidate.shape[1] >= w and candidate.shape[0] >= h:
                level = candidate
        if level.shape[1] == w and level.shape[0] == h:
            return level
        interp = cv2.INTER_AREA if w < level.shape[1] else cv2.INTER_LINEAR
        return cv2.resize(level, (w, h), interpolation=interp)


@dataclass
class Location:
    box: Box
    method: str  # "hint" (verified search around it) or "search" (whole frame)
    error: float  # masked mean squared error of the best fit (lower is better)
    aspect: float = 1.0  # fitted width stretch relative to height (1.0 = true proportions)
    hint: Box | None = None
    hint_iou: float | None = None
    hint_scale: float | None = None  # found size / hinted size


@dataclass
class Fidelity:
    """Numbers comparing a candidate with its source. None = could not be measured here."""

    location: Location
    scale: float  # candidate px per original source px
    silhouette: float | None  # tolerant agreement of the product outline (0..1)
    silhouette_method: str
    outline_region: float | None  # largest connected part of the outline missing or added / product area
    de_material: float  # largest CIEDE2000 between the mean colors of the product's main materials
    de_median: float
    de_p95: float
    de_mean_lab: tuple[float, float, float]  # mean (dL, da, db) candidate - source
    structure: float  # SSIM of lightness inside the product
    missing_detail: float  # share of source edges absent from the candidate
    added_detail: float  # candidate edges absent from the source, relative to source edges
    changed_area: float  # largest changed region's weighted size (strength-weighted pixels) / product area
    changed_region_share: float  # that region's plain area / product area
    changed_region_de: float  # ... and how far its pixels lie beyond the colors around them (mean Lab distance)
    changed_total: float  # all changed pixels / product area
    cut: float  # share of the product outside the frame
    sharpness: float  # candidate high-frequency energy / source's, inside the product
    clipping: float  # increase in clipped product pixels vs source
    product_pixels: int  # analysis pixels inside the product

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass
class Rerender:
    """Statistics that survive re-rendering (a garment worn by a model)."""

    box: Box
    method: str
    palette_de: float  # worst CIEDE2000 from a main source color (>= 5 % of the product) to the candidate's
    pattern: float  # edge-density ratio candidate/source inside the product region
    print_score: float | None  # best NCC of the source's most detailed patch (informational, not yet a check)
    coverage: float  # share of the located region that carries the source's colors


@dataclass
class FrameStats:
    """Whole-frame measurements for channel rules and quality."""

    width: int
    height: int
    border_white: float  # share of border pixels that are pure white (>= 250 on every channel)
    background_white: float  # share of non-product pixels that are pure white
    background_plain: bool
    product_share: float  # product box longest side relative to the frame's matching side
    noise: float  # estimated sensor noise sigma (8-bit levels)
    clipped: float  # share of frame pixels clipped to black or white on every channel, minus the background
    extras: dict = field(default_factory=dict)


# -- preparation -----------------------------------------------------------------------------------


def prepare_source(cutout: Image.Image, *, angle: float = 0.0, crop: list[int] | None = None,
                   hidden_below: float | None = None, hidden_turn: float = 0.0, seam_px: float | None = None) -> Source:
    """Tight-crop an RGBA cutout (optionally a source crop box for detail shots, rotated by `angle`).

    `hidden_below`: a share of the product's height (before rotation) below which it is expected to be
    hidden in the candidate (a ring's lower band behind the finger on try-on); those parts are left out
    of the fidelity measurements, not of the location. `hidden_turn`: the part of `angle` the product was
    turned by first, in whose frame that share is measured (a three-quarter ring turned opening-down).
    `seam_px`: the width, in cutout px, of a band inside the outline that the engine blended into a
    generated scene; the product is expected there with a weight rising from 0 at the outline to 1 at
    that depth, as the engine blended it.
    """
    if cutout.mode != "RGBA":
        raise ValueError(f"cutout must be RGBA, got mode {cutout.mode!r}")
    image = cutout
    ox, oy = 0, 0
    if crop is not None:
        x0, y0, x1, y1 = (int(v) for v in crop)
        image = image.crop((x0, y0, x1, y1))
        ox, oy = x0, y0
    visible = None
    if hidden_below is not None:
        if hidden_turn:
            image = image.rotate(hidden_turn, resample=Image.BICUBIC, expand=True)
            angle -= hidden_turn
        box = image.getchannel("A").point(lambda a: 255 if a > 8 else 0).getbbox()
        if box is not None:
            image = image.crop(box)
            ox, oy = ox + box[0], oy + box[1]
        rows = np.zeros((image.height, image.width), np.uint8)
        rows[: int(image.height * hidden_below)] = 255
        visible = Image.fromarray(rows, "L")
    if angle:
        image = image.rotate(angle, resample=Image.BICUBIC, expand=True)
        if visible is not None:
            visible = visible.rotate(angle, resample=Image.NEAREST, expand=True)
    bounds = image.getchannel("A").point(lambda a: 255 if a > 12 else 0).getbbox()
    if bounds is None:
        raise ValueError("the cutout has no opaque pixels (its alpha is empty)")
    x0, y0, x1, y1 = bounds
    array = np.asarray(image.crop(bounds))
    vis = None if visible is None else np.asarray(visible)[y0:y1, x0:x1].astype(np.float32) / 255.0
    factor = min(1.0, SOURCE_MAX_PX / max(array.shape[:2]))
    if factor < 1.0:
        size = (max(1, round(array.shape[1] * factor)), max(1, round(array.shape[0] * factor)))
        array = _premultiplied_resize(array, size)
        vis = None if vis is None else cv2.resize(vis, size, interpolation=cv2.INTER_AREA)
    premultiplied = cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_RGBA2mRGBA)
    rgba = premultiplied.astype(np.float32) * np.float32(1 / 255.0)
    if seam_px and seam_px * factor > 0.05:
        inside = np.pad((array[..., 3] > 0).astype(np.uint8), 1)
        depth = cv2.distanceTransform(inside, cv2.DIST_L2, 5)[1:-1, 1:-1]
        rgba *= np.clip(depth / (seam_px * factor), 0.0, 1.0)[..., None]  # premultiplied: color and alpha alike
    return Source(rgba=rgba, factor=factor, offset=(ox + x0, oy + y0), visible=vis)


def straight(rgba: np.ndarray) -> np.ndarray:
    """Straight RGB from premultiplied float RGBA."""
    alpha = rgba[..., 3:4]
    return np.where(alpha > 1e-3, rgba[..., :3] / np.maximum(alpha, 1e-3), 0).astype(np.float32)


def _premultiplied_resize(rgba: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Area-resize RGBA without dark fringes (color weighted by alpha)."""
    array = rgba.astype(np.float32)
    a = array[..., 3:4] / 255.0
    pre = np.concatenate([array[..., :3] * a, a], axis=2)
    small = cv2.resize(pre, size, interpolation=cv2.INTER_AREA)
    alpha = small[..., 3:4]
    rgb = np.where(alpha > 1e-4, small[..., :3] / np.maximum(alpha, 1e-4), 0)
    return np.clip(np.concatenate([rgb, alpha * 255.0], axis=2), 0, 255).astype(np.uint8)


_REDUCED: list = [None, None]  # (weak reference to the last candidate, its reduced view)


def _reduced(candidate: np.ndarray) -> tuple[float, np.ndarray, tuple[int, int, int] | None]:
    """The candidate at FRAME_PX (factor, uint8 image) and its plain background color, computed once
    per candidate: location, outline and frame measurements all start from them."""
    ref, view = _REDUCED
    if ref is not None and ref() is candidate:
        return view
    H, W = candidate.shape[:2]
    g = min(1.0, FRAME_PX / max(H, W))
    view = (g, _resize(candidate, g), plain_background(candidate))
    _REDUCED[:] = [weakref.ref(candidate), view]
    return view


def _resize(image: np.ndarray, factor: float) -> np.ndarray:
    h, w = image.shape[:2]
    size = (max(1, round(w * factor)), max(1, round(h * factor)))
    if size == (w, h):
        return image
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA if factor < 1 else cv2.INTER_LINEAR)


def _min3(a: np.ndarray) -> np.ndarray:
    return np.minimum(np.minimum(a[..., 0], a[..., 1]), a[..., 2])


def _max3(a: np.ndarray) -> np.ndarray:
    return np.maximum(np.maximum(a[..., 0], a[..., 1]), a[..., 2])


def _norm3(d: np.ndarray) -> np.ndarray:
    return np.sqrt(d[..., 0] * d[..., 0] + d[..., 1] * d[..., 1] + d[..., 2] * d[..., 2])


def _features(rgb: np.ndarray) -> np.ndarray:
    """RGB plus a weighted gradient-magnitude channel: color and structure for template matching."""
    gray = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
    gray = cv2.GaussianBlur(gray, (3, 3), 0.8)
    gx = cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(gray, cv2.CV_32F, 0, 1, ksize=3)
    mag = np.sqrt(gx * gx + gy * gy) * 0.5
    return np.dstack([rgb, mag]).astype(np.float32)


def _template(source: Source, w: float, h: float, bg: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, float]:
    """The source resized to w x h working px: features, a mask and the template's signal energy.

    On a plain background (`bg`, RGB 0..1) the template is the product composited on it and the mask
    includes a rim of background, which keeps thin products (chains) findable at small sizes. The
    energy (how much the template differs from plain background, or from its own mean) normalizes the
    fit error, so a template that is mostly background cannot win by matching empty space.
    """
    small = source.resized(max(2, round(w)), max(2, round(h)))
    alpha = small[..., 3]
    shown = 1.0  # parts expected to be hidden (a ring's band behind the finger) are not matched
    if source.visible is not None:
        shown = (cv2.resize(source.visible, (small.shape[1], small.shape[0]), interpolation=cv2.INTER_AREA) > 0.5)
        shown = shown.astype(np.float32)
    if bg is not None:
        rgb = small[..., :3] + bg * (1 - alpha[..., None])
        mask = cv2.dilate((alpha > 0.05).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(np.float32) * shown
        feats = _features(np.ascontiguousarray(rgb, dtype=np.float32))
        reference = np.concatenate([bg, [0.0]]).astype(np.float32)
        inside = mask > 0
        energy = float(((feats[inside] - reference) ** 2).mean()) if inside.any() else 0.0
        return feats, mask, energy
    # busy background: soft alpha weights colors (a premultiplied comparison); the gradient counts
    # only inside solid parts, where it does not depend on the unknown background
    a = np.clip(alpha, 0, 1).astype(np.float32)
    solid = cv2.erode((alpha > 0.9).astype(np.uint8), np.ones((3, 3), np.uint8)).astype(np.float32)
    a, solid = a * shown, solid * shown
    mask = np.dstack([a, a, a, solid])
    feats = _features(straight(small))
    weights = mask.reshape(-1, 4)
    reference = (feats.reshape(-1, 4) * weights).sum(axis=0) / np.maximum(weights.sum(axis=0), 1e-3)
    energy = float((((feats.reshape(-1, 4) - reference) ** 2) * weights).sum() / max(float(weights.sum()), 1e-3))
    return feats, mask, energy


def _match(image: np.ndarray, templ: np.ndarray, mask: np.ndarray, energy: float = 0.0) -> tuple[float, tuple[int, int]]:
    """Best masked mean squared error (relative to the template's energy) and its top-left position."""
    if templ.shape[0] > image.shape[0] or templ.shape[1] > image.shape[1]:
        return float("inf"), (0, 0)
    result = cv2.matchTemplate(image, templ, cv2.TM_SQDIFF, mask=mask)
    _, _, loc, _ = cv2.minMaxLoc(result)
    n = float((mask * mask).sum()) * (templ.shape[2] if mask.ndim == 2 else 1)
    return float(result[loc[1], loc[0]]) / max(n, 1.0) / (energy + ENERGY_FLOOR), loc


# -- location --------------------------------------------------------------------------------------


def locate(candidate: np.ndarray, source: Source, hint: Box | None = None, *, allow_stretch: bool = True) -> Location:
    """Find where the source product lies in the candidate (uint8 RGB, H x W x 3).

    With a hint (the engine's placement) a fine fit around it comes first; when the product does not
    fit there, sizes 0.55-1.35x the hinted one are searched around it, so a wrong placement record is
    caught, not trusted. Without one, a plain background gives a first guess from the foreground's
    extent; otherwise (or when that guess does not fit) every size from 7% to 110% of the frame is
    searched.
    """
    # 1. A first guess: the hint, or the foreground on a plain background.
    H, W = candidate.shape[:2]
    gf, framed, plain = _reduced(candidate)
    bg = None if plain is None else np.asarray(plain, np.float32) / 255.0
    sw, sh = source.size
    aspect_src = sw / sh
    best = (float("inf"), None)
    if hint is not None:
        # the fine search right around the record first: when the product fits there, searching wider
        # cannot find a better place (a record off by more than the fine search's reach fits badly)
        box, err, aspect = _refine(candidate, source, hint, bg, allow_stretch=allow_stretch, close=True)
        if err <= HINT_FIT_ERROR:
            return Location(box=box, method="hint", error=err, aspect=aspect, hint=hint, hint_iou=box.iou(hint),
                            hint_scale=max(box.w, box.h) / max(hint.w, hint.h, 1e-6))
        best = _window_search(candidate, source, hint.center, max(hint.w, hint.h), (0.55, 1.35, 8), 0.35, bg)
        if best[1] is not None and best[1].iou(box) >= 0.9:
            # the wider search lands where the fit around the record did: that fit stands (the product
            # itself differs from the source, which the fidelity checks will say)
            return Location(box=box, method="hint", error=err, aspect=aspect, hint=hint, hint_iou=box.iou(hint),
                            hint_scale=max(box.w, box.h) / max(hint.w, hint.h, 1e-6))
    elif plain is not None:
        fg = _foreground_box(framed, plain)
        if fg is not None:
            fg = Box(fg.x / gf, fg.y / gf, fg.w / gf, fg.h / gf)
            longest = max(fg.w, fg.h * aspect_src) if aspect_src >= 1 else max(fg.w / aspect_src, fg.h)
            best = _window_search(candidate, source, fg.center, longest, (0.8, 1.15, 4), 0.15, bg)

    # 2. No hint and no good guess: search the whole frame at every size.
    if hint is None and best[0] > GUESS_ERROR:
        wide = _frame_search(framed, gf, source, bg)
        if wide[0] < best[0]:
            best = wide
    if best[1] is None:
        box = hint or Box(0, 0, W, H)
        return Location(box=box, method="hint" if hint else "search", error=float("inf"), hint=hint)

    # 3. Fine search: size, position and (optionally) a width/height stretch, at a finer scale.
    box, err, aspect = _refine(candidate, source, best[1], bg, allow_stretch=allow_stretch)
    location = Location(box=box, method="hint" if hint is not None else "search", error=err, aspect=aspect, hint=hint)
    if hint is not None:
        location.hint_iou = box.iou(hint)
        location.hint_scale = max(box.w, box.h) / max(hint.w, hint.h, 1e-6)
    return location


def _local_background(region: np.ndarray, bg: np.ndarray | None) -> np.ndarray | None:
    """The plain background color right around the product, or None.

    Only when the frame is plain (`bg`) and the region's own border is one color too: a ring on a hand
    plate sits on skin, not on the plate's white, and a sweep or vignette shifts the color locally.
    """
    if bg is None:
        return None
    border = np.concatenate([region[0], region[-1], region[:, 0], region[:, -1]]).astype(np.float32) / 255.0
    local = np.median(border, axis=0)
    near = np.abs(border - local).max(axis=1) <= 0.03
    return local.astype(np.float32) if near.mean() >= 0.8 else None


def _search_px(source: Source, base: int, bg: np.ndarray | None, *, fine: bool = False) -> float:
    """Product size to search at: larger for thin products (chains) on busy backgrounds, so their strokes
    stay at least ~1.5 px wide. On a plain background the template's rim of backdrop keeps a chain findable
    in the search around a first guess, but not in the fine fit (`fine`), whose errors are compared between
    close places: a set's light falloff and the chain's own cast shadow outweigh a chain under a pixel wide
    and the best fit lands beside it, so there its strokes keep ~2.5 px."""
    if bg is not None and not fine:
        return base
    stroke_at_base = source.stroke * base / max(source.rgba.shape[:2])
    target = SEARCH_STROKE_PLAIN if bg is not None else SEARCH_STROKE_BUSY
    return float(np.clip(base * target / max(stroke_at_base, 1e-3), base, 2.5 * base))


def _analysis_px(source: Source) -> float:
    """Product size to measure fidelity at: ANALYSIS_PX, raised for thin products (chains) so a
    recoloured or erased strand is still several pixels wide and not averaged into the background."""
    stroke = source.stroke * ANALYSIS_PX / max(source.rgba.shape[:2])
    return float(np.clip(ANALYSIS_PX * 2.5 / max(stroke, 1e-3), ANALYSIS_PX, ANALYSIS_MAX_PX))


def _template_size(source: Source, longest: float) -> tuple[float, float]:
    sw, sh = source.size
    return (longest, longest * sh / sw) if sw >= sh else (longest * sw / sh, longest)


def _window_search(candidate: np.ndarray, source: Source, center: tuple[float, float], longest: float,
                   sizes: tuple[float, float, int], reach: float, bg: np.ndarray | None) -> tuple[float, Box | None]:
    """Search sizes (geometric range times `longest`) around `center`, product ~WINDOW_PX long."""
    f = min(1.0, _search_px(source, WINDOW_PX, bg) / max(longest, 1.0))
    half = 0.5 * longest * sizes[1] + reach * longest + 2 / f
    x0, y0 = center[0] - half, center[1] - half
    region = _crop_scaled(candidate, (x0, y0, center[0] + half, center[1] + half), f)
    bg = _local_background(region, bg)
    feats = _features(region.astype(np.float32) / 255.0)
    best: tuple[float, Box | None] = (float("inf"), None)
    factors = np.geomspace(sizes[0], sizes[1], sizes[2])
    if sizes[0] <= 1.0 <= sizes[1]:
        factors = np.append(factors, 1.0)  # the guessed size itself, exactly (thin parts need it)
    for size in longest * factors:
        tw, th = _template_size(source, size * f)
        if min(tw, th) < 2:
            continue
        templ, mask, energy = _template(source, tw, th, bg)
        err, (lx, ly) = _match(feats, templ, mask, energy)
        if err < best[0]:
            best = (err, Box(x0 + lx / f, y0 + ly / f, templ.shape[1] / f, templ.shape[0] / f))
    return best


def _frame_search(framed: np.ndarray, gf: float, source: Source, bg: np.ndarray | None) -> tuple[float, Box | None]:
    """Every size from 7 % to 110 % of the frame, on a small copy padded so a cut product is found."""
    g = SEARCH_PX / max(framed.shape[:2]) if max(framed.shape[:2]) > SEARCH_PX else 1.0
    small = _resize(framed, g)
    frame = _features(small.astype(np.float32) / 255.0)
    pad = round(0.3 * max(frame.shape[:2]))
    padded = cv2.copyMakeBorder(frame, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    scale = gf * g  # small px per candidate px
    found: list[tuple[float, Box]] = []  # the best place at each size
    for size in np.geomspace(0.07, 1.1, 16) * max(frame.shape[:2]):
        tw, th = _template_size(source, size)
        if min(tw, th) < 3 or max(tw, th) < MIN_TEMPLATE_PX:
            continue
        templ, mask, energy = _template(source, tw, th, bg)
        err, (lx, ly) = _match(padded, templ, mask, energy)
        found.append((err, Box((lx - pad) / scale, (ly - pad) / scale, templ.shape[1] / scale, templ.shape[0] / scale)))
    if not found:
        return float("inf"), None
    # The sizes are coarse steps: a textured product between two of them fits as badly as a smaller
    # template laid over some plain part of it. Settle the size of the few best, apart from each other.
    found.sort(key=lambda item: item[0])
    contenders: list[tuple[float, Box]] = []
    for err, box in found:
        if err <= found[0][0] * FRAME_CONTENDER_ERROR and all(box.iou(b) < 0.5 for _, b in contenders):
            contenders.append((err, box))
        if len(contenders) == FRAME_CONTENDERS:
            break
    settled = [again for _, box in contenders if (again := _window_search_from(framed, gf, source, box, bg))[1]]
    # errors at the window's finer scale are compared among themselves, not with the coarse ones
    return min(settled, key=lambda item: item[0]) if settled else contenders[0]


def _window_search_from(framed: np.ndarray, gf: float, source: Source, box: Box, bg) -> tuple[float, Box | None]:
    up = np.ascontiguousarray(framed)
    found = _window_search(up, source, (box.center[0] * gf, box.center[1] * gf), max(box.w, box.h) * gf,
                           (0.85, 1.18, 4), 0.12, bg)
    if found[1] is None:
        return found
    b = found[1]
    return found[0], Box(b.x / gf, b.y / gf, b.w / gf, b.h / gf)


def _foreground_box(small: np.ndarray, bg: tuple[int, int, int]) -> Box | None:
    """Extent of what differs from a plain background (a soft shadow may widen it a little)."""
    lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    bg_lab = cv2.cvtColor(np.asarray(bg, np.float32).reshape(1, 1, 3) / 255.0, cv2.COLOR_RGB2Lab).reshape(3)
    diff = lab - bg_lab
    mask = _norm3(diff) > 8.0
    ys, xs = np.nonzero(mask)
    if len(xs) < 6:
        return None
    x0, x1 = np.percentile(xs, [0.2, 99.8])
    y0, y1 = np.percentile(ys, [0.2, 99.8])
    return Box(float(x0), float(y0), float(x1 - x0 + 1), float(y1 - y0 + 1))


def _refine(candidate: np.ndarray, source: Source, coarse: Box, bg: np.ndarray | None, *,
            allow_stretch: bool, close: bool = False) -> tuple[Box, float, float]:
    """Settle size, position and (optionally) a width/height stretch around a first guess.

    `close`: the guess is an engine's record, most likely right: small steps from the start, repeated
    while they improve the fit (a 10 % stretch still gets there), instead of coarse steps first."""
    longest, shortest = max(coarse.w, coarse.h, 1.0), max(min(coarse.w, coarse.h), 1.0)
    f = _search_px(source, REFINE_PX, bg, fine=True) / longest
    # an elongated product (a bracelet 6x longer than high) keeps its short side measurable, so a
    # stretch across it is still several pixels
    f = min(1.0, max(f, min(REFINE_SHORT_PX / shortest, 2 * REFINE_PX / longest)))
    margin = 0.08 * max(coarse.w, coarse.h) + 4 / f
    # 1. Crop the region (padded outside the frame) and scale it to the refine resolution.
    x0, y0 = coarse.x - margin, coarse.y - margin
    x1, y1 = coarse.x + coarse.w + margin, coarse.y + coarse.h + margin
    region = _crop_scaled(candidate, (x0, y0, x1, y1), f)
    bg = _local_background(region, bg)
    feats = _features(region.astype(np.float32) / 255.0)
    results: dict[tuple[float, float], tuple] = {}

    def fit(s: float, r: float) -> float:
        key = (round(s, 4), round(r, 4))
        if key not in results:
            templ, mask, energy = _template(source, coarse.w * f * s * np.sqrt(r), coarse.h * f * s / np.sqrt(r), bg)
            err, loc = _match(feats, templ, mask, energy)
            results[key] = (err, loc, (templ.shape[1], templ.shape[0]))
        return results[key][0]

    # 2. Size by coordinate descent: one factor (true proportions), or width and height on their own.
    steps = (0.025,) * 6 if close else (0.05, 0.05, 0.025)
    s, r = 1.0, 1.0
    if not allow_stretch:
        (s,) = _descend(lambda v: fit(v, r), (s,), steps)
    else:

        def fit_xy(x: float, y: float) -> float:
            return fit(float(np.sqrt(x * y)), x / y)

        sx, sy = _descend(fit_xy, (1.0, 1.0), steps)
        if close and abs(sx / sy - 1) > 0.03:  # a stretch shows: look further with coarse steps too
            sx, sy = _descend(fit_xy, (sx, sy), (0.05, 0.05, 0.025))
        s, r = float(np.sqrt(sx * sy)), sx / sy
        if sx != sy:  # a stretch must explain the image clearly better than true proportions near that size
            s_iso = min((s / 1.025, s, s * 1.025), key=lambda v: fit(v, 1.0))
            if fit(s, r) > STRETCH_GAIN * fit(s_iso, 1.0):
                s, r = s_iso, 1.0
    err, (lx, ly), (tw, th) = results[(round(s, 4), round(r, 4))]
    box = Box(x0 + lx / f, y0 + ly / f, tw / f, th / f)
    return box, err, float(r)


def _descend(cost, start: tuple[float, ...], steps: tuple[float, ...]) -> tuple[float, ...]:
    """Coordinate descent on size factors: each round tries every factor one step smaller and larger, in
    turn, and keeps the cheapest; a round repeating the last step after one that moved nothing is skipped
    (it would move nothing again)."""
    factors = list(start)
    moved = True
    for i, step in enumerate(steps):
        if i and step == steps[i - 1] and not moved:
            continue
        before = tuple(factors)
        for j, value in enumerate(factors):
            factors[j] = min((value / (1 + step), value, value * (1 + step)),
                             key=lambda v, j=j: cost(*factors[:j], v, *factors[j + 1:]))
        moved = tuple(factors) != before
    return tuple(factors)


def _crop_scaled(image: np.ndarray, rect: tuple[float, float, float, float], f: float) -> np.ndarray:
    """Crop rect (x0, y0, x1, y1; may leave the frame: replicated border) and scale it by f."""
    H, W = image.shape[:2]
    x0, y0, x1, y1 = (int(np.floor(rect[0])), int(np.floor(rect[1])), int(np.ceil(rect[2])), int(np.ceil(rect[3])))
    cx0, cy0, cx1, cy1 = max(0, x0), max(0, y0), min(W, x1), min(H, y1)
    if cx1 <= cx0 or cy1 <= cy0:
        return np.zeros((max(1, round((y1 - y0) * f)), max(1, round((x1 - x0) * f)), 3), np.uint8)
    crop = image[cy0:cy1, cx0:cx1]
    crop = cv2.copyMakeBorder(crop, cy0 - y0, y1 - cy1, cx0 - x0, x1 - cx1, cv2.BORDER_REPLICATE)
    return _resize(crop, f)


# -- fidelity --------------------------------------------------------------------------------------


def compare(candidate: np.ndarray, source: Source, hint: Box | None = None, *, allow_stretch: bool = True) -> Fidelity:
    """Locate the source product in the candidate and measure fidelity (see `Fidelity`).

    `allow_stretch=False` fits true proportions only (detail crops, which run off the frame)."""
    # 1. Find it.
    location = locate(candidate, source, hint, allow_stretch=allow_stretch)
    box = location.box
    confirmed = _confirms(location)
    if confirmed:
        # the search agrees with the engine's record within its own step size: the record is the more
        # precise of the two (a 1 % size error is already 2 px at the far side of the analysis grid)
        box = location.hint
    H, W = candidate.shape[:2]
    sw, sh = source.size
    scale = float(np.sqrt((box.w / sw) * (box.h / sh)))

    # 2. Build the analysis grid: the box plus a margin, product at most ANALYSIS_PX long (more when thin).
    f = min(1.0, _analysis_px(source) / max(box.w, box.h, 1.0))
    margin = 0.06 * max(box.w, box.h) + 2 / f
    x0, y0 = box.x - margin, box.y - margin
    gw, gh = max(8, round((box.w + 2 * margin) * f)), max(8, round((box.h + 2 * margin) * f))
    # grid pixel u covers candidate px x0 + u / f
    cand = _crop_scaled(candidate, (x0, y0, x0 + gw / f, y0 + gh / f), f)
    cand = cv2.resize(cand, (gw, gh), interpolation=cv2.INTER_LINEAR) if cand.shape[:2] != (gh, gw) else cand
    cand = cand.astype(np.float32) / 255.0
    u, v = (np.arange(gw) + 0.5) / f + x0, (np.arange(gh) + 0.5) / f + y0
    inframe = ((v >= 0) & (v < H))[:, None] & ((u >= 0) & (u < W))[None, :]
    # source -> grid: product box occupies [margin*f, margin*f + box*f]
    bw, bh = max(2, round(box.w * f)), max(2, round(box.h * f))
    small = source.resized(bw, bh)  # premultiplied
    ox, oy = (box.x - x0) * f, (box.y - y0) * f
    if not confirmed:  # the search's size steps are coarse for pixel-exact comparison: settle them here
        kx, ky = _fine_scale(small, cand, ox, oy, allow_stretch)
        ox, oy = ox + (1 - kx) * bw / 2, oy + (1 - ky) * bh / 2
        bw, bh = max(2, round(bw * kx)), max(2, round(bh * ky))
        small = source.resized(bw, bh)
        box = Box(x0 + ox / f, y0 + oy / f, box.w * kx, box.h * ky)
        scale = float(np.sqrt((box.w / sw) * (box.h / sh)))
    M_s = np.float32([[1, 0, ox], [0, 1, oy]])
    src = cv2.warpAffine(small, M_s, (gw, gh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    # sub-pixel alignment: phase correlation of the two gradient images around the product
    near = cv2.dilate((src[..., 3] > 0.3).astype(np.uint8), np.ones((7, 7), np.uint8)).astype(np.float32)
    g_src = _gradient(cv2.cvtColor(np.ascontiguousarray(src[..., :3]), cv2.COLOR_RGB2GRAY) * 100) * near
    g_cand = _gradient(cv2.cvtColor(cand, cv2.COLOR_RGB2GRAY) * 100) * near
    (dx, dy), response = cv2.phaseCorrelate(g_src, g_cand)
    if response > 0.05 and abs(dx) <= 3 and abs(dy) <= 3:
        M_shift = np.float32([[1, 0, ox + dx], [0, 1, oy + dy]])
        shifted = cv2.warpAffine(small, M_shift, (gw, gh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT,
                                 borderValue=0)
        # a periodic structure (a stack of thin bangles) can correlate one period off: keep the shift
        # only when the product, composited there, explains the candidate better
        if _residual(shifted, cand) < _residual(src, cand):
            M_s, src = M_shift, shifted
            box = Box(box.x + dx / f, box.y + dy / f, box.w, box.h)
    src_pm, alpha = src[..., :3], np.clip(src[..., 3], 0, 1)
    src_rgb = straight(src)

    # 3. Completeness: the share of the product that falls outside the frame.
    total_alpha = float(alpha.sum()) or 1.0
    cut = float(alpha[~inframe].sum()) / total_alpha

    # 4. Color: Lab maps, a 1-pixel-tolerant difference, CIEDE2000 on the best-matching pairs.
    visible = _visible(source, bw, bh, M_s, (gw, gh))
    inframe = inframe & visible
    inner = (cv2.erode((alpha > 0.9).astype(np.uint8), np.ones((3, 3), np.uint8)) > 0) & inframe
    if inner.sum() < 20:
        inner = (alpha > 0.5) & inframe
    lab_c = cv2.cvtColor(cv2.GaussianBlur(cand, (3, 3), 0.6), cv2.COLOR_RGB2Lab)
    src_on = src_pm + (1 - alpha[..., None]) * cand  # source composited on the candidate's own surroundings
    lab_s = cv2.cvtColor(cv2.GaussianBlur(src_on.astype(np.float32), (3, 3), 0.6), cv2.COLOR_RGB2Lab)
    n = int(inner.sum())
    if n:
        pairs_c, pairs_s = lab_c[inner], _nearest_source_colors(lab_c, lab_s, inner)
        de = ciede2000(pairs_c, pairs_s)
        de_median, de_p95 = float(np.median(de)), float(np.percentile(de, 95))
        mean_shift = tuple(float(v) for v in (lab_c[inner] - lab_s[inner]).mean(axis=0))
        # on smoothed maps: a fine texture (a braided chain) a fraction of a pixel out of register would
        # otherwise bias each material's mean; a real color change survives the smoothing
        soft_s, soft_c = cv2.GaussianBlur(lab_s, (0, 0), 1.5), cv2.GaussianBlur(lab_c, (0, 0), 1.5)
        de_material = _material_difference(soft_s[inner], soft_c[inner])
    else:
        de_median = de_p95 = de_material = 0.0
        mean_shift = (0.0, 0.0, 0.0)

    # 5. Changed regions: tolerant ΔE above a threshold, the largest connected region as a share of the
    # product. A pixel counts as changed when its color lies outside the range of colors around it in the
    # other image, both ways: the range absorbs sub-pixel shifts of edges; the second direction sees a
    # thin part recoloured to its surroundings. Thin parts (a chain 2 px wide) vanish from `inner`'s
    # erosion, so every opaque pixel is watched here. A region's size is weighted by how strongly it
    # changed (a pixel CHANGE_FULL_DE beyond the threshold counts fully): an erased coil or a cut strand
    # is a few pixels at the analysis size but changes them completely, while resampling and JPEG leave
    # faint changes just over the threshold.
    watched = inner | ((alpha > 0.8) & inframe)
    if source.visible is not None:  # where a hidden part begins (a ring band behind the finger) varies
        watched &= cv2.erode(visible.astype(np.uint8), np.ones((max(3, round(0.05 * bh)), 1), np.uint8)) > 0
    outside = np.maximum(_outside_range(lab_c, lab_s), _outside_range(lab_s, lab_c))
    changed = ((outside > CHANGE_DE) & watched).astype(np.uint8)
    product_area = max(1, n, int(watched.sum()))
    changed_total = float(changed.sum()) / product_area
    changed_area = changed_share = changed_de = 0.0
    if changed.any():
        count, labels, stats, _ = cv2.connectedComponentsWithStats(changed, connectivity=8)
        strength = np.minimum((outside - CHANGE_DE) / CHANGE_FULL_DE, 1.0)
        weighted = np.bincount(labels.ravel(), weights=np.where(changed > 0, strength, 0).ravel(), minlength=count)
        worst = 1 + int(np.argmax(weighted[1:]))
        changed_area = float(weighted[worst]) / product_area
        changed_share = float(stats[worst, cv2.CC_STAT_AREA]) / product_area
        changed_de = float(outside[labels == worst].mean())

    # 6. Structure (SSIM of lightness) and detail (edges present in one and not the other).
    L_c, L_s = lab_c[..., 0], lab_s[..., 0]
    structure = _ssim_mean(L_c, L_s, inner)
    g_s = _gradient(L_s)
    core = (cv2.erode((alpha > 0.5).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0) & inframe
    thr = max(8.0, 0.5 * float(np.percentile(g_s[core], 95)) if core.any() else 8.0)
    hi = 10.2 * thr  # Canny works on raw 3x3 Sobel magnitudes of 8-bit lightness
    L8_s, L8_c = (np.clip(L * 2.55, 0, 255).astype(np.uint8) for L in (L_s, L_c))
    e_s = (cv2.Canny(L8_s, hi / 2, hi, L2gradient=True) > 0) & core
    e_c = (cv2.Canny(L8_c, hi / 2, hi, L2gradient=True) > 0) & core
    # an edge clear on one side needs only a faint one on the other (hysteresis across the two images), so
    # a low-contrast texture (a black braided cord) hovering at the threshold is not read as lost or added
    near_c = cv2.dilate((cv2.Canny(L8_c, hi / 4, hi / 2, L2gradient=True) > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    near_s = cv2.dilate((cv2.Canny(L8_s, hi / 4, hi / 2, L2gradient=True) > 0).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    n_edges = max(1, int(e_s.sum()))
    missing = float((e_s & ~near_c).sum()) / n_edges
    added = float((e_c & ~near_s).sum()) / n_edges

    # 7. Silhouette: where the candidate differs from a plain background vs where the source would.
    silhouette, outline_region, sil_method = _silhouette(candidate, source, box)

    # 8. Quality inside the product: sharpness relative to the source, clipping increase.
    sharpness = _sharpness(candidate, source, box)
    clip_c = ((_max3(cand) >= 0.996) | (_max3(cand) <= 0.004))[inner].mean() if n else 0.0
    clip_s = ((_max3(src_rgb) >= 0.996) | (_max3(src_rgb) <= 0.004))[inner].mean() if n else 0.0
    clipping = float(max(0.0, clip_c - clip_s))

    return Fidelity(
        location=location, scale=scale, silhouette=silhouette, silhouette_method=sil_method, outline_region=outline_region,
        de_material=de_material, de_median=de_median, de_p95=de_p95, de_mean_lab=mean_shift, structure=structure,
        missing_detail=missing, added_detail=added, changed_area=changed_area,
        changed_region_share=changed_share, changed_region_de=changed_de, changed_total=changed_total,
        cut=cut, sharpness=sharpness, clipping=clipping, product_pixels=n,
    )


def _visible(source: Source, bw: int, bh: int, M: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """Where on the analysis grid the product is expected to be visible."""
    if source.visible is None:
        return np.ones((size[1], size[0]), bool)
    vis = cv2.resize(source.visible, (bw, bh), interpolation=cv2.INTER_AREA)
    placed = cv2.warpAffine(vis, M, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=1.0)
    return placed > 0.5


def _sharpness(candidate: np.ndarray, source: Source, box: Box, side: int = 192) -> float:
    """Detail energy of the candidate's product at its own resolution relative to the source rendered
    at the same size (a central crop bounds the cost): < 1 means softer than the source allows."""
    H, W = candidate.shape[:2]
    cw, ch = min(side, box.w), min(side, box.h)
    # center the crop where the product is most solid (a ring's center is its hole)
    small = source.pyramid[-1][..., 3]
    kw, kh = max(1, round(small.shape[1] * cw / box.w)), max(1, round(small.shape[0] * ch / box.h))
    density = cv2.boxFilter((small > 0.95).astype(np.float32), -1, (kw, kh))
    py, px = np.unravel_index(np.argmax(density), density.shape)
    cx = box.x + (px + 0.5) / small.shape[1] * box.w
    cy = box.y + (py + 0.5) / small.shape[0] * box.h
    x0, y0 = int(round(cx - cw / 2)), int(round(cy - ch / 2))
    x0, y0 = max(0, min(x0, W - int(cw))), max(0, min(y0, H - int(ch)))
    x1, y1 = min(W, x0 + int(cw)), min(H, y0 + int(ch))
    if x1 - x0 < 8 or y1 - y0 < 8:
        return 1.0
    crop = cv2.cvtColor(candidate[y0:y1, x0:x1], cv2.COLOR_RGB2GRAY).astype(np.float32)
    # the same region of the source, resampled to the candidate's pixels
    sx, sy = source.rgba.shape[1] / box.w, source.rgba.shape[0] / box.h
    M = np.float32([[sx, 0, (x0 - box.x) * sx], [0, sy, (y0 - box.y) * sy]])
    level = source.rgba
    if sx > 2:  # the source is much larger: use a pyramid level close to the candidate's size
        for candidate_level in source.pyramid:
            if candidate_level.shape[1] / box.w >= 1.0:
                level = candidate_level
        k = level.shape[1] / source.rgba.shape[1]
        M = np.float32([[sx * k, 0, (x0 - box.x) * sx * k], [0, sy * k, (y0 - box.y) * sy * k]])
    region = cv2.warpAffine(level, M, (x1 - x0, y1 - y0), flags=cv2.INTER_CUBIC | cv2.WARP_INVERSE_MAP,
                            borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha = region[..., 3]
    gray = cv2.cvtColor(np.ascontiguousarray(straight(region)), cv2.COLOR_RGB2GRAY) * 255.0
    solid = cv2.erode((alpha > 0.95).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    if solid.sum() < 50:
        return 1.0
    # a light blur first, so sensor noise and JPEG blocks in either image do not count as detail
    lap_c = np.abs(cv2.Laplacian(cv2.GaussianBlur(crop, (0, 0), 0.8), cv2.CV_32F))[solid].mean()
    lap_s = np.abs(cv2.Laplacian(cv2.GaussianBlur(gray, (0, 0), 0.8), cv2.CV_32F))[solid].mean()
    # the small constant keeps a flat region (a plain-colored garment) at ~1 instead of dividing noise by noise
    return float((lap_c + 0.05) / (lap_s + 0.05))


def _material_difference(src: np.ndarray, cand: np.ndarray, k: int = 3, min_share: float = 0.08) -> float:
    """Split the product's pixels into its main materials (k-means on the source's Lab colors) and
    return the largest CIEDE2000 between a material's mean color in the source and in the candidate.
    Averaging thousands of pixels cancels encoding noise; a hue shift of one metal does not cancel."""
    sample = _sample(src, 3000)
    centers, _ = _palette(sample, k)
    d = np.stack([_norm3(src - c) for c in centers])
    labels = d.argmin(axis=0)
    worst = 0.0
    for i in range(len(centers)):
        sel = labels == i
        if sel.mean() < min_share:
            continue
        a, b = src[sel].mean(axis=0, keepdims=True), cand[sel].mean(axis=0, keepdims=True)
        worst = max(worst, float(ciede2000(a, b)[0]))
    return worst


def _fine_scale(small: np.ndarray, cand: np.ndarray, ox: float, oy: float, stretch: bool) -> tuple[float, float]:
    """Width and height factors (within about ±3 %) that best fit the placed source to the candidate
    on the analysis grid: lightness of the source composited on the candidate vs the candidate."""
    gray_c = cv2.cvtColor(cand, cv2.COLOR_RGB2GRAY)
    gray_s = cv2.cvtColor(np.ascontiguousarray(small[..., :3]), cv2.COLOR_RGB2GRAY)
    layers = np.ascontiguousarray(np.dstack([gray_s, small[..., 3]]))
    bh, bw = small.shape[:2]
    costs: dict[tuple[float, float], float] = {}

    def cost(kx: float, ky: float, soft: bool) -> float:
        key = (round(kx, 5), round(ky, 5), soft)
        if key not in costs:
            M = np.float32([[kx, 0, ox + (1 - kx) * bw / 2], [0, ky, oy + (1 - ky) * bh / 2]])
            placed = cv2.warpAffine(layers, M, (cand.shape[1], cand.shape[0]), flags=cv2.INTER_LINEAR,
                                    borderMode=cv2.BORDER_CONSTANT, borderValue=0)
            a = placed[..., 1]
            d = (placed[..., 0] + (1 - a) * gray_c - gray_c)
            if soft:  # blurred, a thin chain a few pixels off still overlaps itself: the cost slopes toward it
                d = cv2.GaussianBlur(d, (0, 0), 1.5)
            costs[key] = float((d * d).sum())
        return costs[key]

    # first on the blurred residual with wider steps, then sharp
    k = (1.0, 1.0) if stretch else (1.0,)
    for soft, steps in ((True, (0.03, 0.015)), (False, (0.01, 0.005))):
        k = _descend(lambda *f, soft=soft: cost(f[0], f[-1], soft), k, steps)
    return k[0], k[-1]


def _residual(placed: np.ndarray, cand: np.ndarray) -> float:
    """Squared difference between the candidate and the placed source (premultiplied RGBA) composited on it."""
    d = placed[..., :3] - placed[..., 3:4] * cand
    return float((d * d).sum())


def _confirms(location: Location) -> bool:
    """The search found the product where the engine recorded it, at its size and proportions."""
    return (location.hint is not None and location.hint_scale is not None and abs(location.hint_scale - 1) <= 0.03
            and (location.hint_iou or 0) >= 0.85 and abs(location.aspect - 1) <= 0.02)


def _outside_range(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per pixel, how far a's Lab color lies outside the per-channel range of b's 3x3 neighbourhood."""
    k = np.ones((3, 3), np.uint8)
    below = np.maximum(cv2.erode(b, k) - a, 0)
    above = np.maximum(a - cv2.dilate(b, k), 0)
    return _norm3(below + above)


def _nearest_source_colors(lab_c: np.ndarray, lab_s: np.ndarray, where: np.ndarray) -> np.ndarray:
    """For each candidate pixel in `where`, the source color within one pixel that is closest to it
    (a sub-pixel misregistration of an edge does not count as a color change)."""
    ys, xs = np.nonzero(where)
    padded = cv2.copyMakeBorder(lab_s, 1, 1, 1, 1, cv2.BORDER_REPLICATE)
    shifted = np.stack([padded[ys + dy, xs + dx] for dy in (0, 1, 2) for dx in (0, 1, 2)])  # 9 x N x 3
    diff = shifted - lab_c[ys, xs][None]
    k = np.einsum("knc,knc->kn", diff, diff).argmin(axis=0)
    return shifted[k, np.arange(len(ys))]


def _gradient(L: np.ndarray) -> np.ndarray:
    gx = cv2.Sobel(L, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(L, cv2.CV_32F, 0, 1, ksize=3)
    return np.sqrt(gx * gx + gy * gy) / 4.0


def _ssim_mean(a: np.ndarray, b: np.ndarray, mask: np.ndarray) -> float:
    """Mean SSIM (7x7 Gaussian window, L in 0..100) over mask."""
    if not mask.any():
        return 1.0
    c1, c2 = (0.01 * 100) ** 2, (0.03 * 100) ** 2
    blur = lambda x: cv2.GaussianBlur(x, (7, 7), 1.5)  # noqa: E731
    mu_a, mu_b = blur(a), blur(b)
    va = blur(a * a) - mu_a * mu_a
    vb = blur(b * b) - mu_b * mu_b
    cov = blur(a * b) - mu_a * mu_b
    ssim = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a ** 2 + mu_b ** 2 + c1) * (va + vb + c2))
    return float(ssim[mask].mean())


def _silhouette(candidate: np.ndarray, source: Source, box: Box) -> tuple[float | None, float | None, str]:
    """Outline agreement on a plain background, over the whole frame (so anything added beside the
    product counts too): tolerant F-measure of 'differs from the background' expected vs observed, and
    the largest connected piece expected and not seen, or seen and not expected, relative to the
    product's area (a cut chain is a small share of the outline but one clear piece)."""
    g, frame, plain = _reduced(candidate)
    if plain is None:
        return None, None, "busy background"
    bg = np.asarray(plain, np.float32) / 255.0
    frame = frame.astype(np.float32) / 255.0
    fh, fw = frame.shape[:2]
    small = source.resized(max(2, round(box.w * g)), max(2, round(box.h * g)))
    M = np.float32([[1, 0, box.x * g], [0, 1, box.y * g]])
    placed = cv2.warpAffine(small, M, (fw, fh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    pm, alpha = placed[..., :3], np.clip(placed[..., 3], 0, 1)
    ring = (cv2.dilate((alpha > 0.02).astype(np.uint8), np.ones((9, 9), np.uint8)) > 0) & (alpha <= 0.02)
    if ring.any() and (np.abs(frame[ring] - bg).max(axis=1) <= 0.04).mean() < 0.6:
        return None, None, "product not on the plain background"
    bg_lab = cv2.cvtColor(bg.reshape(1, 1, 3), cv2.COLOR_RGB2Lab).reshape(3)

    def distinct(rgb: np.ndarray) -> np.ndarray:
        """Lab distance from the background (0 for what looks like a soft shadow)."""
        diff = cv2.cvtColor(rgb.astype(np.float32), cv2.COLOR_RGB2Lab) - bg_lab
        dL = diff[..., 0]
        chroma2 = diff[..., 1] * diff[..., 1] + diff[..., 2] * diff[..., 2]
        d = np.sqrt(dL * dL + chroma2)
        d[(dL < 0) & (dL > -30) & (chroma2 < 16.0)] = 0.0  # a soft shadow: darker, same hue
        return d

    # Two thresholds, as in hysteresis: a clear pixel on one side needs only a faint one near it on the
    # other, so a thin chain softened by JPEG or downsizing still counts as present.
    d_expected = distinct(pm + (1 - alpha[..., None]) * bg)
    d_observed = distinct(frame)
    # a designed backdrop (lines, grain, a gradient) is not plain enough to tell its marks from the
    # product's: judged on the frame's outer band, away from where an added part would be
    band = max(2, round(0.05 * min(fh, fw)))
    far = np.ones((fh, fw), bool)
    far[band:-band, band:-band] = False
    far &= alpha <= 0.02
    if far.sum() >= 200 and (d_observed[far] <= 3.0).mean() < 0.998:
        return None, None, "patterned background"
    # (anything the source covers at all may show: a chain thinner than a pixel still tints it)
    expected, expected_faint = (d_expected > 12.0) & (alpha > 0.5), alpha > 0.05
    observed, observed_faint = d_observed > 12.0, d_observed > 6.0
    if source.visible is not None:  # parts expected to be hidden count neither way
        hidden = ~_visible(source, small.shape[1], small.shape[0], M, (fw, fh)) & (alpha > 0.02)
        expected &= ~hidden
        observed &= ~hidden
    # a studio reflection (the product mirrored below its base, faded) is part of the scene, not the product
    mirror = cv2.warpAffine(np.ascontiguousarray(small[::-1, :, 3]), np.float32([[1, 0, box.x * g], [0, 1, (box.y + box.h) * g]]),
                            (fw, fh), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    observed &= ~((cv2.dilate((mirror > 0.02).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0) & (alpha <= 0.02))
    if expected.sum() < 30:
        return None, None, "product close to background color"
    k = np.ones((3, 3), np.uint8)
    near_e = cv2.dilate(expected_faint.astype(np.uint8), k) > 0
    near_o = cv2.dilate(observed_faint.astype(np.uint8), k) > 0
    precision = float((observed & near_e).sum()) / max(1, int(observed.sum()))
    recall = float((expected & near_o).sum()) / max(1, int(expected.sum()))
    differs = ((expected & ~near_o) | (observed & ~near_e)).astype(np.uint8)
    region = 0
    if differs.any():
        count, _, stats, _ = cv2.connectedComponentsWithStats(differs, connectivity=8)
        region = int(stats[1:, cv2.CC_STAT_AREA].max())
    return min(precision, recall), region / max(1, int(expected.sum())), "plain background"


def plain_background(candidate: np.ndarray) -> tuple[int, int, int] | None:
    """The background color when the frame's border is one plain color, else None."""
    h, w = candidate.shape[:2]
    step = max(1, max(h, w) // 256)
    border = np.concatenate([candidate[0, ::step], candidate[-1, ::step], candidate[::step, 0], candidate[::step, -1]])
    median = np.median(border, axis=0)
    close = (np.abs(border.astype(np.int16) - median).max(axis=1) <= 10).mean()
    if close < 0.85:
        return None
    return tuple(int(v) for v in median)


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """CIEDE2000 color difference of two (N, 3) arrays of CIELAB values (vectorized, float32)."""
    L1, a1, b1 = lab1[:, 0], lab1[:, 1], lab1[:, 2]
    L2, a2, b2 = lab2[:, 0], lab2[:, 1], lab2[:, 2]
    C1, C2 = np.hypot(a1, b1), np.hypot(a2, b2)
    Cbar = (C1 + C2) / 2
    G = 0.5 * (1 - np.sqrt(Cbar ** 7 / (Cbar ** 7 + 25.0 ** 7)))
    a1p, a2p = (1 + G) * a1, (1 + G) * a2
    C1p, C2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.degrees(np.arctan2(b1, a1p)) % 360
    h2p = np.degrees(np.arctan2(b2, a2p)) % 360
    dLp = L2 - L1
    dCp = C2p - C1p
    dh = h2p - h1p
    dh = np.where(dh > 180, dh - 360, dh)
    dh = np.where(dh < -180, dh + 360, dh)
    dh = np.where(C1p * C2p == 0, 0, dh)
    dHp = 2 * np.sqrt(C1p * C2p) * np.sin(np.radians(dh / 2))
    Lbp = (L1 + L2) / 2
    Cbp = (C1p + C2p) / 2
    hsum = h1p + h2p
    hbp = np.where(np.abs(h1p - h2p) > 180, np.where(hsum < 360, hsum + 360, hsum - 360) / 2, hsum / 2)
    hbp = np.where(C1p * C2p == 0, hsum, hbp)
    T = (1 - 0.17 * np.cos(np.radians(hbp - 30)) + 0.24 * np.cos(np.radians(2 * hbp))
         + 0.32 * np.cos(np.radians(3 * hbp + 6)) - 0.20 * np.cos(np.radians(4 * hbp - 63)))
    dtheta = 30 * np.exp(-(((hbp - 275) / 25) ** 2))
    Rc = 2 * np.sqrt(Cbp ** 7 / (Cbp ** 7 + 25.0 ** 7))
    Sl = 1 + 0.015 * (Lbp - 50) ** 2 / np.sqrt(20 + (Lbp - 50) ** 2)
    Sc = 1 + 0.045 * Cbp
    Sh = 1 + 0.015 * Cbp * T
    Rt = -np.sin(np.radians(2 * dtheta)) * Rc
    return np.sqrt((dLp / Sl) ** 2 + (dCp / Sc) ** 2 + (dHp / Sh) ** 2 + Rt * (dCp / Sc) * (dHp / Sh))


# -- frame measurements ----------------------------------------------------------------------------


def frame_stats(candidate: np.ndarray, source: Source | None = None, box: Box | None = None) -> FrameStats:
    """Background purity, product share of the frame, noise and clipping of a whole candidate."""
    H, W = candidate.shape[:2]
    g, small, plain = _reduced(candidate)
    # 1. Product mask in the small frame (the aligned source alpha, dilated), when located.
    product = np.zeros(small.shape[:2], bool)
    if source is not None and box is not None:
        bw, bh = max(1, round(box.w * g)), max(1, round(box.h * g))
        a = cv2.resize(source.alpha, (bw, bh), interpolation=cv2.INTER_AREA)
        M = np.float32([[1, 0, box.x * g], [0, 1, box.y * g]])
        placed = cv2.warpAffine(a, M, (small.shape[1], small.shape[0]), flags=cv2.INTER_LINEAR,
                                borderMode=cv2.BORDER_CONSTANT, borderValue=0)
        product = cv2.dilate((placed > 0.02).astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    white = _min3(small) >= 250
    border = np.concatenate([white[0], white[-1], white[:, 0], white[:, -1]])
    rest = ~product
    background_white = float(white[rest].mean()) if rest.any() else 1.0
    share = 0.0
    if box is not None:
        x0, y0 = max(0.0, box.x), max(0.0, box.y)
        x1, y1 = min(float(W), box.x + box.w), min(float(H), box.y + box.h)
        share = max((x1 - x0) / W, (y1 - y0) / H) if x1 > x0 and y1 > y0 else 0.0
    # 2. Noise: Immerkaer's fast estimate on the full-resolution lightness (a centered crop bounds cost).
    gray = cv2.cvtColor(candidate, cv2.COLOR_RGB2GRAY).astype(np.float32)
    ch, cw = min(H, 384), min(W, 384)
    gy0, gx0 = (H - ch) // 2, (W - cw) // 2
    crop = gray[gy0:gy0 + ch, gx0:gx0 + cw]
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], np.float32)
    response = np.abs(cv2.filter2D(crop, cv2.CV_32F, kernel))[1:-1, 1:-1]
    unclipped = ((crop > 4) & (crop < 251))[1:-1, 1:-1]  # noise on pure white or black is clipped away
    # the median of |response| is robust to texture and edges; for Gaussian noise it is 0.6745 * 6 sigma
    noise = float(np.median(response[unclipped]) / (0.6745 * 6.0)) if unclipped.size and unclipped.mean() > 0.05 else 0.0
    clipped_px = ((_max3(small) <= 2) | (_min3(small) >= 253)) & product
    clipped = float(clipped_px.sum()) / max(1, int(product.sum()))
    return FrameStats(width=W, height=H, border_white=float(border.mean()), background_white=background_white,
                      background_plain=plain is not None, product_share=float(share),
                      noise=noise, clipped=clipped)


# -- re-rendered products (apparel on a model) ------------------------------------------------------


def compare_rerender(candidate: np.ndarray, source: Source, hint: Box | None = None) -> Rerender:
    """Compare what survives re-rendering: the palette, the pattern density and the print region."""
    # 1. Source palette (k-means in Lab over product pixels) and candidate region.
    src_lab = cv2.cvtColor(source.rgb, cv2.COLOR_RGB2Lab)
    sel = source.alpha > 0.8
    src_px = _sample(src_lab[sel], 4000)
    centers, weights = _palette(src_px, 5)
    H, W = candidate.shape[:2]
    g = min(1.0, FRAME_PX / max(H, W))
    small = _resize(candidate, g).astype(np.float32) / 255.0
    lab = cv2.cvtColor(small, cv2.COLOR_RGB2Lab)
    if hint is not None:
        box, method = hint, "hint"
    else:
        box, method = _backproject_box(lab, centers, weights, g), "palette search"
    x0, y0 = int(max(0, box.x * g)), int(max(0, box.y * g))
    x1, y1 = int(min(small.shape[1], (box.x + box.w) * g)), int(min(small.shape[0], (box.y + box.h) * g))
    region = lab[y0:max(y1, y0 + 2), x0:max(x1, x0 + 2)]
    cand_px = _sample(region.reshape(-1, 3), 6000)
    # 2. Palette agreement: each source color's distance to the nearest candidate pixel cluster.
    cand_centers, cand_weights = _palette(cand_px, 8)
    d = np.stack([ciede2000(np.repeat(c[None], len(cand_centers), 0), cand_centers) for c in centers])
    main = weights >= 0.05  # every color covering 5 % of the garment must still be there
    palette_de = float(d.min(axis=1)[main].max()) if main.any() else float(d.min(axis=1).max())
    near = np.stack([_norm3(cand_px - c) for c in centers]).min(axis=0)
    coverage = float((near < 10.0).mean())
    # 3. Pattern: edge density in the region vs the source at the same size.
    src_small = cv2.resize(np.ascontiguousarray(source.rgb), (max(2, region.shape[1]), max(2, region.shape[0])), interpolation=cv2.INTER_AREA)
    src_region_L = cv2.cvtColor(src_small, cv2.COLOR_RGB2Lab)[..., 0]
    dens_s = float((_gradient(src_region_L) > 6).mean())
    dens_c = float((_gradient(region[..., 0]) > 6).mean())
    pattern = dens_c / max(dens_s, 1e-3)
    # 4. Print: the source's densest-detail patch searched in the region at a few scales.
    print_score = _print_score(source, region, src_region_L)
    return Rerender(box=box, method=method, palette_de=palette_de, pattern=pattern, print_score=print_score,
                    coverage=coverage)


def _sample(pixels: np.ndarray, n: int) -> np.ndarray:
    if len(pixels) <= n:
        return pixels.astype(np.float32)
    rng = np.random.default_rng(0)
    return pixels[rng.choice(len(pixels), n, replace=False)].astype(np.float32)


def _palette(pixels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    k = max(1, min(k, len(pixels)))
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 0.5)
    cv2.setRNGSeed(0)
    _, labels, centers = cv2.kmeans(pixels.astype(np.float32), k, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    weights = np.bincount(labels.ravel(), minlength=k).astype(np.float64)
    return centers, weights / weights.sum()


def _backproject_box(lab: np.ndarray, centers: np.ndarray, weights: np.ndarray, g: float) -> Box:
    """The bounding box of the largest region carrying the source's main colors."""
    main = centers[weights >= 0.1] if (weights >= 0.1).any() else centers
    d = np.stack([_norm3(lab - c) for c in main]).min(axis=0)
    mask = (d < 12.0).astype(np.uint8)
    mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, np.ones((5, 5), np.uint8))
    count, _, stats, _ = cv2.connectedComponentsWithStats(mask)
    if count <= 1:
        return Box(0, 0, lab.shape[1] / g, lab.shape[0] / g)
    areas = stats[1:, cv2.CC_STAT_AREA]
    keep = 1 + np.nonzero(areas >= 0.1 * areas.max())[0]  # a print splits a garment into parts: keep them all
    x0, y0 = stats[keep, 0].min(), stats[keep, 1].min()
    x1 = (stats[keep, 0] + stats[keep, 2]).max()
    y1 = (stats[keep, 1] + stats[keep, 3]).max()
    return Box(x0 / g, y0 / g, (x1 - x0) / g, (y1 - y0) / g)


def _print_score(source: Source, region_lab: np.ndarray, src_region_L: np.ndarray) -> float | None:
    """Best NCC of the source's most detailed patch (a print or logo) inside the candidate region."""
    g = _gradient(src_region_L)
    h, w = g.shape
    ph, pw = max(8, h // 3), max(8, w // 3)
    if h < 24 or w < 24:
        return None
    density = cv2.boxFilter((g > 6).astype(np.float32), -1, (pw, ph), normalize=True)
    alpha = cv2.resize(source.alpha, (w, h), interpolation=cv2.INTER_AREA)
    density[alpha < 0.9] = 0
    cy, cx = np.unravel_index(np.argmax(density), density.shape)
    if density[cy, cx] < max(0.12, 2.5 * float(np.median(density[alpha >= 0.9])) if (alpha >= 0.9).any() else 0.12):
        return None  # no distinct print
    y0, x0 = int(np.clip(cy - ph // 2, 0, h - ph)), int(np.clip(cx - pw // 2, 0, w - pw))
    patch = src_region_L[y0:y0 + ph, x0:x0 + pw].astype(np.float32)
    patch_alpha = (alpha[y0:y0 + ph, x0:x0 + pw] > 0.5).astype(np.float32)
    target = region_lab[..., 0].astype(np.float32)
    best = -1.0
    for s in (0.8, 0.9, 1.0, 1.1, 1.25):
        size = (max(4, round(pw * s)), max(4, round(ph * s)))
        p, m = cv2.resize(patch, size), cv2.resize(patch_alpha, size, interpolation=cv2.INTER_NEAREST)
        if p.shape[0] >= target.shape[0] or p.shape[1] >= target.shape[1]:
            continue
        result = cv2.matchTemplate(target, p, cv2.TM_CCOEFF_NORMED, mask=m)
        best = max(best, float(np.nanmax(np.where(np.isfinite(result), result, -1))))
    return best if best > -1 else None


def to_rgb_array(image: Image.Image) -> np.ndarray:
    """A PIL image as uint8 RGB (alpha composited on white)."""
    if image.mode == "RGBA":
        background = Image.new("RGB", image.size, (255, 255, 255))
        background.paste(image, mask=image.getchannel("A"))
        image = background
    return np.asarray(image.convert("RGB"))
