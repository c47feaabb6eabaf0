"""The studio compositing engine: packshots on pure white, full-frame close-ups, grounded scenes (built by
pipelines/scenes.py), campaign variants per format and scale-true jewelry try-on on model plates. Cutout (RGBA) in, images and placements out.

The product is locked: its pixels are always the cutout's pixels, only resampled (scaled, rotated) and
composited; nothing here repaints it. Every renderer returns `StudioImage`s whose `Placed` says where
and how large the product went and how much it was enlarged beyond its source. No SKUs, catalog or
files here (tools/render.py does that).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import cv2
import numpy as np
from PIL import Image

from pipelines import scenes

WHITE = (255, 255, 255)
SHARPEN = 0.2  # unsharp amount after enlargement
CAMPAIGN_ASPECTS: dict[str, tuple[int, int]] = {
    "1:1": (1080, 1080), "4:5": (1080, 1350), "9:16": (1080, 1920), "16:9": (1920, 1080), "1.91:1": (1200, 628),
}


class StudioError(ValueError):
    """A studio render cannot be made from these inputs; the message names the parameter."""


@dataclass
class Placed:
    """Where the product went, in pixels of the output image."""

    x: float
    y: float
    width: float
    height: float
    angle: float = 0.0
    scale: float = 1.0  # output px per source cutout px
    upscale: float = 1.0  # > 1 when enlarged beyond the source
    crop: tuple[int, int, int, int] | None = None  # source box for detail crops
    mm_per_px: float | None = None
    hidden_below: float | None = None  # share of the product's height (before turning) below which it passes
    # behind the body where the body covers it (a ring's lower band behind the finger); None: nothing hidden
    hidden_turn: float = 0.0  # degrees (counter-clockwise) the product was first turned by, in whose frame
    # hidden_below is measured (a three-quarter ring turned so its opening lies below its face); in `angle`


@dataclass
class StudioImage:
    image: Image.Image  # RGB, sRGB
    placed: Placed
    warnings: list[str] = field(default_factory=list)
    params: dict = field(default_factory=dict)
    set_image: Image.Image | None = None  # a scene's empty set, when asked for (scenes.render's keep_set)


# -- product handling ----------------------------------------------------------------------------------


def trim(cutout: Image.Image, min_alpha: int = 8) -> tuple[Image.Image, tuple[int, int, int, int]]:
    """The cutout cropped to its visible product (alpha > min_alpha) and that box in the source."""
    if cutout.mode != "RGBA":
        raise StudioError(f"cutout must be RGBA, got mode {cutout.mode}")
    box = cutout.getchannel("A").point(lambda a: 255 if a > min_alpha else 0).getbbox()
    if box is None:
        raise StudioError("cutout is empty (fully transparent)")
    return cutout.crop(box), box


def resample(item: Image.Image, size: tuple[int, int]) -> Image.Image:
    """Resize an RGBA product with premultiplied alpha (no dark or light fringes). Enlargement uses
    Lanczos plus a mild unsharp mask on colour only: the best upscaling available without weights."""
    size = (max(1, int(round(size[0]))), max(1, int(round(size[1]))))
    if size == item.size:
        return item.copy()
    # colour and alpha are resized as separate contiguous planes (the same filter per channel as one
    # RGBA resize, several times faster than working on strided channel views)
    arr = np.asarray(item.convert("RGBA"))
    alpha = arr[..., 3].astype(np.float32)
    rgb = arr[..., :3].astype(np.float32)
    rgb *= alpha[..., None] * np.float32(1.0 / 255.0)
    up = size[0] > item.width * 1.01
    interpolation = cv2.INTER_LANCZOS4 if up else cv2.INTER_AREA
    rgb = cv2.resize(rgb, size, interpolation=interpolation)
    alpha = cv2.resize(alpha, size, interpolation=interpolation)
    np.clip(rgb, 0, 255, out=rgb)
    np.clip(alpha, 0, 255, out=alpha)
    rgb /= np.maximum(alpha * np.float32(1.0 / 255.0), np.float32(1e-3))[..., None]
    if up and SHARPEN > 0:
        factor = size[0] / item.width
        detail = rgb - cv2.GaussianBlur(rgb, (0, 0), 0.6 + 0.25 * min(factor, 4))
        detail *= np.float32(SHARPEN)
        rgb += detail
    np.clip(rgb, 0, 255, out=rgb)
    return Image.fromarray(np.dstack([rgb.astype(np.uint8), alpha.astype(np.uint8)]), "RGBA")


def composite(base: Image.Image, item: Image.Image, xy: tuple[int, int]) -> Image.Image:
    """Alpha-composite the RGBA product onto an RGB base at integer position xy."""
    out = base.convert("RGB").copy()
    out.paste(item.convert("RGB"), xy, item.getchannel("A"))
    return out


def product_tone(item: Image.Image) -> tuple[float, tuple[float, float, float]]:
    """Mean luminance (0..1) and mean colour of the visible product."""
    arr = np.asarray(item, np.float32)
    weight = arr[..., 3] / 255.0
    total = max(weight.sum(), 1.0)
    color = tuple(float((arr[..., c] * weight).sum() / total) for c in range(3))
    lum = (0.2126 * color[0] + 0.7152 * color[1] + 0.0722 * color[2]) / 255.0
    return lum, color


def contact_shadow(size: tuple[int, int], box: tuple[int, int, int, int], alpha: Image.Image,
                   strength: float = 0.28) -> np.ndarray:
    """A soft shadow under the product as a darkening map (0..1) for an image of `size`."""
    w, h = size
    x0, y0, x1, y1 = box
    shadow = np.zeros((h, w), np.float32)
    # a flattened copy of the silhouette at the base, plus an ellipse right under it
    pw, ph = x1 - x0, y1 - y0
    squash = alpha.resize((max(1, pw), max(1, int(ph * 0.18))), Image.BILINEAR)
    sq = np.asarray(squash, np.float32) / 255.0
    top = min(h - 1, y1 - sq.shape[0] // 2)
    bottom = min(h, top + sq.shape[0])
    shadow[top:bottom, x0:x0 + sq.shape[1]] = sq[: bottom - top, : max(0, min(sq.shape[1], w - x0))]
    cv2.ellipse(shadow, (int((x0 + x1) / 2), int(y1)), (max(2, int(pw * 0.42)), max(2, int(ph * 0.035) + 2)),
                0, 0, 360, 1.0, -1)
    radius = max(3, int(0.03 * max(pw, ph)))
    shadow = cv2.GaussianBlur(shadow, (0, 0), radius)
    return np.clip(shadow * strength, 0, 0.6)


# -- packshot ------------------------------------------------------------------------------------------


def packshot_canvas(natural_long: float, shot_long: int, min_long: int = 1000, preferred_long: int = 1600) -> int:
    """The output's long side. `natural_long` is the long side at which the product fills its share with
    no enlargement. The shot's size when the source allows it; else at least `preferred_long` when a
    mild (<= 1.25x) enlargement reaches it; else at least `min_long` (Amazon zoom), enlarging as needed."""
    if natural_long >= shot_long:
        return shot_long
    if natural_long >= preferred_long:
        return int(natural_long)
    if natural_long * 1.25 >= preferred_long:
        return min(shot_long, preferred_long)
    return min(shot_long, max(min_long, int(math.ceil(natural_long))))


def packshot(cutout: Image.Image, width: int, height: int, *, fill: float = 0.86, shadow: bool = False,
             background: tuple[int, int, int] = WHITE, min_long: int = 1000) -> StudioImage:
    """The product alone, centred on pure white (or `background`), its larger side filling `fill` of the
    frame. The output keeps the shot's aspect; its size shrinks when the source is small (see
    packshot_canvas) and the enlargement is reported."""
    # 1. Check inputs
    if not 0.3 <= fill <= 0.98:
        raise StudioError(f"fill must be within 0.3..0.98, got {fill}")
    if width < 64 or height < 64:
        raise StudioError(f"packshot size must be at least 64x64, got {width}x{height}")
    item, _ = trim(cutout)

    # 2. Canvas size: as large as the shot asks, unless that would enlarge a small source too much
    aspect = width / height
    shot_long = max(width, height)
    fit = min(fill * width / item.width, fill * height / item.height)  # scale at the shot's size
    canvas_long = packshot_canvas(shot_long / fit, shot_long, min_long)
    out_w, out_h = (canvas_long, int(round(canvas_long / aspect))) if width >= height else \
        (int(round(canvas_long * aspect)), canvas_long)
    scale = min(fill * out_w / item.width, fill * out_h / item.height)

    # 3. Resample the product and centre it
    size = (max(1, round(item.width * scale)), max(1, round(item.height * scale)))
    placed_item = resample(item, size)
    x, y = (out_w - size[0]) // 2, (out_h - size[1]) // 2
    base = Image.new("RGB", (out_w, out_h), background)
    if shadow:
        dark = contact_shadow((out_w, out_h), (x, y, x + size[0], y + size[1]), placed_item.getchannel("A"), 0.22)
        arr = np.asarray(base, np.float32) * (1 - dark[..., None])
        base = Image.fromarray(arr.astype(np.uint8))
    image = composite(base, placed_item, (x, y))

    # 4. Report the enlargement honestly
    upscale = max(1.0, scale)
    warnings = []
    if upscale > 1.01:
        warnings.append(f"the product was enlarged {upscale:.2f}x beyond its source photo (Lanczos + mild sharpening); "
                        "a larger source photo gives a sharper zoom")
    placed = Placed(x, y, size[0], size[1], scale=scale, upscale=upscale)
    return StudioImage(image, placed, warnings, {"fill": fill, "shadow": shadow, "background": list(background)})


# -- detail --------------------------------------------------------------------------------------------


DETAIL_MIN_COVER = 0.5  # a close-up window is at least half product (else it is mostly backdrop)


def detail_regions(item: Image.Image, side: int, count: int = 2) -> list[tuple[int, int, int, int]]:
    """The `count` most informative square windows (edges, colour and texture energy inside the product),
    best first, overlapping each other by at most half. A window must be at least DETAIL_MIN_COVER product
    (the best-covered ones when none is); among those the detail decides, and the product's area only
    breaks ties: on a plain white product (a lamp, a bottle) the print and the fittings beat the widest
    blank surface."""
    arr = np.asarray(item, np.float32)
    alpha = arr[..., 3] / 255.0
    gray = cv2.cvtColor(arr[..., :3].astype(np.uint8), cv2.COLOR_RGB2GRAY).astype(np.float32)
    gx, gy = cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)
    sat = arr[..., :3].max(axis=2) - arr[..., :3].min(axis=2)
    inner = cv2.erode((alpha > 0.5).astype(np.uint8), np.ones((5, 5), np.uint8)).astype(np.float32)
    energy = (np.hypot(gx, gy) + 0.5 * sat) * inner + 2.0 * inner
    h, w = energy.shape
    side = min(side, w, h) if min(w, h) >= side else min(w, h)

    def window_sums(values: np.ndarray) -> np.ndarray:
        integral = cv2.integral(values)
        return integral[side:, side:] - integral[:-side, side:] - integral[side:, :-side] + integral[:-side, :-side]

    sums = window_sums(energy)
    cover = window_sums(inner) / float(side * side)
    # windows that are mostly backdrop rank below every well-covered one (a next-best region still exists)
    sums = np.where(cover >= min(DETAIL_MIN_COVER, float(cover.max())), sums, sums - float(sums.max()) - 1.0)
    boxes: list[tuple[int, int, int, int]] = []
    for _ in range(count):
        y, x = np.unravel_index(int(np.argmax(sums)), sums.shape)
        boxes.append((int(x), int(y), int(x) + side, int(y) + side))
        y0, x0 = max(0, y - side // 2), max(0, x - side // 2)
        sums[y0:y + side // 2 + 1, x0:x + side // 2 + 1] = -np.inf
        if not np.isfinite(sums.max()):
            break
    return boxes


DETAIL_MIN_CROP = 400  # source px on a close-up's short side: at <= 2x that is an 800 px image
DETAIL_MAX_SHARE = 0.5  # a close-up shows at most half of the photo's short side (more is the whole product)
DETAIL_MIN_PHOTO = int(DETAIL_MIN_CROP / DETAIL_MAX_SHARE)  # the photo's short side a close-up needs: 800 px


def detail_window(item_size: tuple[int, int], photo_size: tuple[int, int], aspect: float) -> tuple[int, int]:
    """The close-up's crop size in photo px for an output of `aspect`: half the product's longer side,
    at least DETAIL_MIN_CROP, at most DETAIL_MAX_SHARE of the photo's short side. A photo smaller than
    DETAIL_MIN_PHOTO gets no close-up in a plan; asked directly, its window is 60 % of the product."""
    short = min(photo_size)
    side = max(DETAIL_MIN_CROP, 0.5 * max(item_size))
    side = min(side, DETAIL_MAX_SHARE * short if short >= DETAIL_MIN_PHOTO else 0.6 * max(item_size))
    cw, ch = (side * aspect, side) if aspect >= 1 else (side, side / aspect)
    # inside the product's box where it can be (no plain backdrop bands), but never below 3/4 of the minimum
    fit = min(1.0, item_size[0] / cw, item_size[1] / ch)
    k = max(fit, min(1.0, 0.75 * DETAIL_MIN_CROP / min(cw, ch)))
    k = min(k, photo_size[0] / cw, photo_size[1] / ch)  # the window must fit in the photo
    return max(1, int(cw * k)), max(1, int(ch * k))


def detail(cutout: Image.Image, width: int, height: int, *, photo: Image.Image | None = None, variant: int = 0,
           max_upscale: float = 2.0, background: tuple[int, int, int] = (250, 249, 247),
           min_long: int = 1000) -> StudioImage:
    """A full-bleed close-up: a rectangle of the photo (`photo`, the cutout's own source; else the cutout on
    `background`) around the product's most informative region (stones, clasp, engraving, weave, print),
    cropped at the photo's resolution and enlarged at most `max_upscale` times. The output is sized from
    the crop: the shot's size when the crop allows it, smaller otherwise (never a small crop on a blank
    canvas); `min_long` (the channel's minimum) is reached only when that holds. `variant` picks the
    next-best region; the crop is recorded for the vision check."""
    # 1. Check inputs
    if max_upscale < 1 or max_upscale > 4:
        raise StudioError(f"max_upscale must be within 1..4, got {max_upscale}")
    if width < 64 or height < 64:
        raise StudioError(f"detail size must be at least 64x64, got {width}x{height}")
    if photo is not None and photo.size != cutout.size:
        raise StudioError(f"photo is {photo.width}x{photo.height} but its cutout is {cutout.width}x{cutout.height}")
    item, src_box = trim(cutout)
    if photo is None:
        picture = composite(Image.new("RGB", cutout.size, background), cutout, (0, 0))
    else:
        picture = photo.convert("RGB")

    # 2. The window: centred on the most informative region of the product, inside the photo
    aspect = width / height
    cw, ch = detail_window(item.size, picture.size, aspect)
    side = max(1, min(int(min(cw, ch)), min(item.size)))
    boxes = detail_regions(item, side, count=variant + 1)
    bx0, by0, bx1, by1 = boxes[min(variant, len(boxes) - 1)]
    cx, cy = src_box[0] + (bx0 + bx1) / 2, src_box[1] + (by0 + by1) / 2
    x0 = int(np.clip(cx - cw / 2, 0, picture.width - cw))
    y0 = int(np.clip(cy - ch / 2, 0, picture.height - ch))
    box = (x0, y0, x0 + cw, y0 + ch)

    # 3. The output from the crop: as large as the shot asks, enlarged at most max_upscale times
    scale = min(max(width, height) / max(cw, ch), max_upscale)
    size = (max(1, round(cw * scale)), max(1, round(ch * scale)))
    crop = picture.crop(box).convert("RGBA")
    image = resample(crop, size).convert("RGB")

    # 4. Record the crop and where its visible product went
    alpha = cutout.getchannel("A").crop(box)
    tight = alpha.point(lambda a: 255 if a > 12 else 0).getbbox() or (0, 0, cw, ch)
    warnings = []
    if scale > 1.01:
        warnings.append(f"the close-up is enlarged {scale:.2f}x from the source photo (at most {max_upscale:g}x)")
    if max(size) < min(min_long, max(width, height)) - 1:
        warnings.append(f"the close-up is {size[0]}x{size[1]} px: the photo allows no more within "
                        f"{max_upscale:g}x (a larger photo gives a larger close-up)")
    placed = Placed(tight[0] * scale, tight[1] * scale, (tight[2] - tight[0]) * scale,
                    (tight[3] - tight[1]) * scale, scale=scale, upscale=max(1.0, scale), crop=box)
    return StudioImage(image, placed, warnings, {"crop": list(box), "variant": variant, "full_bleed": True,
                                                 "from_photo": photo is not None})


# -- scenes (lifestyle, campaign): pipelines/scenes.py builds the set -----------------------------------------

SURFACES = scenes.SURFACES
LEGACY_SURFACE = {"marble": "stone"}  # older plans name the stone surface "marble"


def parse_color(value: str) -> tuple[int, int, int] | None:
    """'#RRGGBB' or 'RRGGBB' -> RGB; None when it is not a hex colour."""
    return scenes.hex_rgb(value)


SCENE_MAX_UPSCALE = 1.95  # a scene enlarges the product at most this far beyond its photo (within the free 2x)


def backdrop(cutout: Image.Image, width: int, height: int, *, look: dict | None = None, mood: str = "",
             surface_kind: str | None = None, brand_colors: list[str] | tuple = (), seed: int = 0,
             fill: float | None = None, reflection: bool | None = None, safe_margin: float = 0.08,
             index: int = 0, max_upscale: float = SCENE_MAX_UPSCALE, pose: str = "standing",
             keep_set: bool = False) -> StudioImage:
    """The product on a grounded studio scene (pipelines/scenes.py): a surface in perspective, one key light
    with contact and cast shadow, reflection on glossy surfaces, depth of field. `look` holds the render
    parameters (tools/looks.py makes it from the mood and change requests); `surface_kind`, `fill`,
    `reflection` and `brand_colors` override it. `index` is the candidate's place: another palette entry,
    surface, light side and camera height. `keep_set` also returns the empty set (`set_image`)."""
    # 1. Check inputs
    if not 0.0 <= safe_margin <= 0.3:
        raise StudioError(f"safe_margin must be within 0..0.3, got {safe_margin}")
    item, _ = trim(cutout)
    values = dict(look or {})
    if surface_kind:
        kind = LEGACY_SURFACE.get(surface_kind, surface_kind)
        if kind not in SURFACES:
            raise StudioError(f"unknown surface {surface_kind!r}: use one of {', '.join(SURFACES)}")
        values["surfaces"] = [kind]
    if fill is not None:
        values["fill"] = fill
    if reflection is not None:
        values["reflection"] = reflection
    brand = [b for b in brand_colors if parse_color(b)]
    if brand:
        values["palette"] = list(brand)
        values["contrast"] = 0  # the brand's own colours, as given
    if values.pop("auto_lightness", "lightness" not in values):  # a deep set behind light products
        lum, _ = product_tone(item)
        values["lightness"] = 32.0 if lum > 0.72 else float(values.get("lightness", 86.0))

    # 2. Render the scene
    try:
        scene = scenes.render(item, width, height, scenes.Look.from_dict(values), index=index, seed=seed, pose=pose,
                              max_upscale=max_upscale, safe_margin=safe_margin, resample=resample, keep_set=keep_set)
    except scenes.SceneError as exc:
        raise StudioError(str(exc)) from None
    x, y, w, h = scene.box
    placed = Placed(x, y, w, h, scale=scene.scale, upscale=max(1.0, scene.scale))
    params = scene.params | {"mood": values.get("mood", mood or ""), "safe_margin": safe_margin}
    return StudioImage(scene.image, placed, scene.warnings, params, scene.set_image)


def campaign(cutout: Image.Image, aspect: str, *, look: dict | None = None, mood: str = "", brand_colors=(),
             seed: int = 0, index: int = 0, long_side: int | None = None, pose: str = "standing") -> StudioImage:
    """A campaign variant at one of CAMPAIGN_ASPECTS, placed for the format with room for copy (wide formats
    on a third, 9:16 large in the lower part with 14 % kept clear top and bottom for platform overlays).
    Variants (`index`) differ in set, light side and layout."""
    if aspect not in CAMPAIGN_ASPECTS:
        raise StudioError(f"unknown aspect {aspect!r}: use one of {', '.join(CAMPAIGN_ASPECTS)}")
    width, height = CAMPAIGN_ASPECTS[aspect]
    if long_side:
        k = long_side / max(width, height)
        width, height = int(width * k), int(height * k)
    values = dict(look or {})
    if index % 2 == 1 and pose == "standing":  # every other variant on (or off) a podium: another set
        values["riser"] = not values.get("riser", False)
    result = backdrop(cutout, width, height, look=values, mood=mood, brand_colors=brand_colors, seed=seed,
                      index=index, safe_margin=0.14 if aspect == "9:16" else 0.08, pose=pose)
    result.params |= {"aspect": aspect}
    return result


# -- try-on on model plates -----------------------------------------------------------------------------


@dataclass
class PlateAnchor:
    """Where jewelry sits on a plate: centre, the axis across the body part (points), its width in px,
    and `angle`: degrees (counter-clockwise, as displayed) that turn an upright product to lie across."""

    center: tuple[float, float]
    points: list[tuple[float, float]]
    angle: float
    span_px: float


def anchor_from_mask(mask: Image.Image | np.ndarray) -> PlateAnchor:
    """Derive the anchor from a mask marking the spot (e.g. an ellipse across the ring finger): its long
    axis runs across the finger (the finger's width), the finger runs perpendicular to it."""
    m = np.asarray(mask.convert("L") if isinstance(mask, Image.Image) else mask) > 127
    ys, xs = np.nonzero(m)
    if len(xs) < 10:
        raise StudioError("the anchor mask marks no spot (fewer than 10 white pixels)")
    pts = np.stack([xs, ys], axis=1).astype(np.float64)
    mean = pts.mean(axis=0)
    cov = np.cov((pts - mean).T)
    values, vectors = np.linalg.eigh(cov)
    major = vectors[:, int(np.argmax(values))]
    proj = (pts - mean) @ major
    lo, hi = proj.min(), proj.max()
    span = float(hi - lo + 1)
    p1, p2 = mean + major * lo, mean + major * hi
    angle = math.degrees(math.atan2(-major[1], major[0]))
    angle = (angle + 90) % 180 - 90  # within (-90, 90]
    return PlateAnchor((float(mean[0]), float(mean[1])), [tuple(map(float, p1)), tuple(map(float, p2))], angle, span)


def _plate_crop_width(plate_size: tuple[int, int], anchor: PlateAnchor, size: tuple[int, int]) -> float:
    """How wide a crop of the plate frame_plate takes for an output of `size`: the hand, not the whole plate."""
    w, h = size
    pw, ph = plate_size
    return min(pw, ph * w / h, max(anchor.span_px * 9, 64) * max(1.0, w / h))


def plate_output_size(plate_size: tuple[int, int], anchor: PlateAnchor, size: tuple[int, int], *,
                      max_enlarge: float, min_long: int = 0) -> tuple[tuple[int, int], float]:
    """The output size for a plate framed to `size`'s aspect under the small-photo policy: the plate's crop
    enlarged at most `max_enlarge` times, unless the channel's minimum long side (`min_long`) needs more; never
    larger than `size`. Returns ((width, height), the plate's enlargement at that size)."""
    w, h = size
    crop = _plate_crop_width(plate_size, anchor, size)
    k = min(w / crop, max(max_enlarge, min_long / max(w, h) * w / crop))  # the crop's enlargement
    out = (max(1, round(k * crop)), max(1, round(k * crop * h / w)))
    return out, out[0] / crop


def frame_plate(plate: Image.Image, anchor: PlateAnchor, mm_per_px: float, size: tuple[int, int],
                body_mask: np.ndarray | None = None):
    """Crop the plate to the output aspect around the anchor (as large as the plate allows) and scale it
    to `size`. Returns (plate, anchor, mm_per_px, body mask) in output pixels."""
    w, h = size
    pw, ph = plate.size
    cw = _plate_crop_width(plate.size, anchor, size)
    ch = cw * h / w
    cx, cy = anchor.center
    x0 = float(np.clip(cx - cw / 2, 0, pw - cw))
    y0 = float(np.clip(cy - ch / 2, 0, ph - ch))
    k = w / cw
    framed = plate.resize((w, h), Image.LANCZOS, box=(x0, y0, x0 + cw, y0 + ch))
    moved = PlateAnchor(((cx - x0) * k, (cy - y0) * k), [((x - x0) * k, (y - y0) * k) for x, y in anchor.points],
                        anchor.angle, anchor.span_px * k)
    body = None
    if body_mask is not None:
        m = Image.fromarray(body_mask.astype(np.uint8) * 255).resize((w, h), Image.BILINEAR, box=(x0, y0, x0 + cw, y0 + ch))
        body = np.asarray(m) > 127
    return framed, moved, mm_per_px / k, body


def changed_pixels(image: Image.Image, original: Image.Image) -> np.ndarray:
    """Where a composite differs from the image it was made on (boolean, any channel)."""
    return np.any(np.asarray(image.convert("RGB")) != np.asarray(original.convert("RGB")), axis=2)


RING_HOLE_MIN = 0.05  # a see-through hole this large (share of the ring's area) means the band loop is in view


# cos 60 degrees: a round opening this much narrower one way than the other is seen more than 60 degrees off its
# axis: standing, from the side; lying down, from low above
OPENING_SIDE_ASPECT = 0.5
EDGE_MARGIN_PX = 3  # px of margin around a ring turned onto a finger, for its resampled edge
SEE_THROUGH = 13  # alpha (0-255) below which a pixel of a ring's opening shows what is behind it
LOOP_SOLIDITY = 0.7  # below this share of its convex hull, a ring photo shows its band's loop (not its face)
TOP_ASPECT = 1.2  # a ring seen from above is about as wide (its outer diameter) as it is long along the finger


def _ring_openings(item: Image.Image) -> list[np.ndarray]:
    """The enclosed see-through holes of a ring photo large enough to be a band's opening (boolean masks),
    largest first. A ring has one; a photo of two rings together shows two."""
    solid = (np.asarray(item.getchannel("A")) > 127).astype(np.uint8)
    h, w = solid.shape
    count, labels, stats, _ = cv2.connectedComponentsWithStats(1 - solid, connectivity=4)
    openings = []
    for i in range(1, count):
        x, y, bw, bh, area = stats[i]
        enclosed = x > 0 and y > 0 and x + bw < w and y + bh < h
        if enclosed and area >= RING_HOLE_MIN * solid.sum():
            openings.append((area, i))
    return [labels == i for _, i in sorted(openings, reverse=True)]


def _ring_hole(item: Image.Image) -> np.ndarray | None:
    """The largest enclosed see-through hole of a ring photo (boolean mask), or None."""
    openings = _ring_openings(item)
    return openings[0] if openings else None


def ring_hole_center(item: Image.Image) -> float | None:
    """Where the finger passes through a ring photographed from the front or at three quarters: the centre
    row of its largest enclosed see-through hole, as a share of the item's height. None when the photo
    shows no such hole (a ring seen from above lies on the finger whole: nothing of it is behind)."""
    hole = _ring_hole(item)
    return None if hole is None else float(np.nonzero(hole)[0].mean()) / hole.shape[0]


def ring_view(item: Image.Image) -> str:
    """How a ring was photographed: "top" (its face toward the camera, compact, about as long as it is
    wide), "loop" (the band's opening in view, a hole the finger passes through), "side" (the band's loop
    in view but no opening to put a finger through, an opening seen nearly edge-on, or a band standing
    taller than wide with its opening turned away: photographed from the side or lying down) or "pair"
    (two openings: two rings photographed together, a wedding set)."""
    solid = (np.asarray(item.getchannel("A")) > 127).astype(np.uint8)
    contours, _ = cv2.findContours(solid, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    hull = np.zeros_like(solid)
    cv2.fillPoly(hull, [cv2.convexHull(np.vstack(contours))], 1)
    openings = _ring_openings(item)
    if len(openings) > 1:
        return "pair"
    if openings:
        # a round opening seen more than 60 degrees off its axis (its short side under half its long side):
        # standing, from the side; lying down, from low above. Turning it would not open it.
        ys, xs = np.nonzero(openings[0])
        tall, wide = ys.max() - ys.min() + 1, xs.max() - xs.min() + 1
        return "side" if min(tall, wide) < OPENING_SIDE_ASPECT * max(tall, wide) else "loop"
    if solid.sum() < LOOP_SOLIDITY * hull.sum():
        return "side"
    # a compact ring taller than it is wide stands on its band with its opening turned away (a wide band
    # photographed from the front): seen from above, its diameter lies across the finger, its band along it
    ys, xs = np.nonzero(solid)
    return "top" if (ys.max() - ys.min() + 1) <= TOP_ASPECT * (xs.max() - xs.min() + 1) else "side"


def band_height_px(item: Image.Image, ends: float = 0.06) -> float:
    """How tall the band is at the two ends of a ring seen from above (its width along the finger), in
    item pixels: the median solid height of the outer `ends` share of its columns on both sides."""
    solid = np.asarray(item.getchannel("A")) > 127
    heights = solid.sum(axis=0)
    cols = np.nonzero(heights)[0]
    k = max(1, int(len(cols) * ends))
    return float(np.median(np.concatenate([heights[cols[:k]], heights[cols[-k:]]])))


def behind_the_finger(item: Image.Image) -> np.ndarray | None:
    """The part of a ring that passes behind the finger (boolean, item pixels): in every column, the band
    below the lower rim of the opening the finger passes through (beside the opening: below the rim's
    end), never above the opening's centre row. None when the photo shows no opening.

    The rim is the opening's last see-through pixel going down from its centre: the band's soft inner edge
    below it (partly transparent, so inside the opening's outline) passes behind the finger with the band, not
    dotted over it. See-through gaps within the band further down (a thin band's cutout can have them, and
    they join the opening) are not the rim: taken for it, they left the band above them dotted over the skin."""
    hole = _ring_hole(item)
    if hole is None:
        return None
    h, w = hole.shape
    rows = np.arange(h)[:, None]
    centre = int(np.nonzero(hole)[0].mean())
    clear = hole & (np.asarray(item.getchannel("A")) < SEE_THROUGH)
    hole = clear if clear.any() else hole
    cols = np.nonzero(hole.any(axis=0))[0]
    lowest = np.full(w, -1)
    for col in cols:
        column = hole[:, col]
        below = np.nonzero(column[centre:])[0]
        if below.size == 0:  # the opening ends above the centre in this column: its lowest pixel is the rim
            lowest[col] = h - 1 - int(np.argmax(column[::-1]))
            continue
        start = centre + int(below[0])  # the opening at or below the centre (below a stone hanging into it)
        run_end = np.nonzero(~column[start:])[0]
        lowest[col] = start + (int(run_end[0]) - 1 if run_end.size else h - 1 - start)
    rim = np.interp(np.arange(w), cols, lowest[cols])  # beside the opening: the rim's end, held
    # from a pixel above the rim: see-through there, and it keeps a turn's resampling of the edge hidden too
    return rows > np.maximum(rim - 1, centre)[None, :]


LOOP_TURN_MIN = 0.08  # share of the ring's size its opening must lie off its centre for that side to count
LOOP_TURN_MIN_DEG = 10.0  # degrees: a ring turned less than this from upright is left as photographed


def loop_turn(item: Image.Image) -> float:
    """Degrees (counter-clockwise) that turn a ring photographed at three quarters as it sits on a finger seen
    from above: its opening across the finger (the opening's long axis level: the band wraps around the
    finger) and, when the face lies beside the opening across that axis, the opening below the face. 0 when
    the photo shows no opening, or when the ring already sits so within LOOP_TURN_MIN_DEG."""
    hole = _ring_hole(item)
    if hole is None:
        return 0.0
    moments = cv2.moments(hole.astype(np.uint8), binaryImage=True)
    # the opening's long axis (image y down, so the angle's sign is flipped to count counter-clockwise)
    axis = -0.5 * math.degrees(math.atan2(2 * moments["mu11"], moments["mu20"] - moments["mu02"]))
    solid = np.asarray(item.getchannel("A")) > 127
    sy, sx = (float(v.mean()) for v in np.nonzero(solid))
    hy, hx = (float(v.mean()) for v in np.nonzero(hole))
    level = -axis  # the smaller of the two turns that lay the long axis level
    t = math.radians(level)
    # where the opening lies from the ring's centre after that turn (y down)
    below = -math.sin(t) * (hx - sx) + math.cos(t) * (hy - sy)
    beside = math.hypot(hx - sx, hy - sy)
    if beside >= LOOP_TURN_MIN * max(solid.shape) and below < -0.5 * beside:
        level += 180.0  # the opening would lie above the face: turn the other way round
    turn = (level + 180.0) % 360.0 - 180.0
    return float(turn) if abs(turn) >= LOOP_TURN_MIN_DEG else 0.0


def composite_try_on(plate: Image.Image, cutout: Image.Image, anchor: PlateAnchor, *, product_width_mm: float,
                     mm_per_px: float, body_mask: np.ndarray | None = None, kind: str = "ring",
                     behind: bool = True, shadow: float = 0.3, size: tuple[int, int] | None = None,
                     max_enlarge: float | None = None, min_long: int = 0) -> StudioImage:
    """Put the product on the plate at the anchor, at true scale (product_width_mm / mm_per_px pixels
    wide), turned to lie across the finger (or wrist); for a ring whose photo shows the band loop, the band
    below the hole's centre passes behind the finger (hidden where `body_mask` covers it); a soft shadow
    falls on the skin. `Placed.hidden_below` records what may be hidden, for the vision check.

    With `size` the plate is framed to that size; with `max_enlarge` too, the small-photo policy holds for the
    model's photo as for the product's: the output shrinks so the plate is enlarged at most that much, unless the
    channel's minimum long side (`min_long`) needs more, which is then said in a warning."""
    # 1. Check inputs
    if product_width_mm <= 0 or mm_per_px <= 0:
        raise StudioError(f"product_width_mm and mm_per_px must be positive, got {product_width_mm}, {mm_per_px}")
    item, _ = trim(cutout)
    # how the ring was photographed, judged before any turn (a turned opening would look edge-on)
    view = ring_view(item) if kind == "ring" else None
    turn = 0.0
    if view == "loop":  # the opening below the face, as on a finger
        turn = loop_turn(item)
        if turn:
            item, _ = trim(item.rotate(turn, resample=Image.BICUBIC, expand=True))
    plate = plate.convert("RGB")
    plate_enlarged = 1.0
    if size is not None:  # the scene (not the product) is cropped and scaled to the shot's size
        if max_enlarge is not None:
            size, plate_enlarged = plate_output_size(plate.size, anchor, size, max_enlarge=max_enlarge,
                                                     min_long=min_long)
        plate, anchor, mm_per_px, body_mask = frame_plate(plate, anchor, mm_per_px, size, body_mask)
    pw, ph = plate.size

    # 2. Scale from the real size, then turn to the anchor
    target_w = product_width_mm / mm_per_px
    scale = target_w / item.width
    if target_w < 4:
        raise StudioError(f"at {mm_per_px:.3f} mm/px the product would be {target_w:.1f} px wide; use a closer plate")
    scaled = resample(item, (round(item.width * scale), round(item.height * scale)))
    arr = np.asarray(scaled).copy()
    sh, sw = arr.shape[:2]
    if view == "side":
        raise StudioError("the ring is photographed from the side or lying down, so it cannot sit on a finger "
                          "convincingly: add a photo taken from above (its face toward the camera) or at "
                          "three-quarters (the band's opening in view)")
    if view == "pair":
        raise StudioError("the photo shows two rings together, so neither can sit on a finger on its own: add a "
                          "photo of one ring alone, taken from above (its face toward the camera) or at "
                          "three-quarters (the band's opening in view)")
    hole = ring_hole_center(item) if kind == "ring" and behind and body_mask is not None else None
    behind_rows = None
    if hole is not None:  # the band below the opening's lower rim passes behind the finger (before rotation)
        # at the size it is drawn, so its rim is the drawn band's; from the photo's size when the drawn band is
        # too thin to close the opening
        behind_rows = behind_the_finger(scaled)
        if behind_rows is None:
            behind_rows = np.asarray(Image.fromarray(behind_the_finger(item).astype(np.uint8) * 255).resize(
                (sw, sh), Image.NEAREST)) > 127
        # a margin around both, the hidden part reaching into it: the turn blurs the band's outer edge a pixel
        # beyond the item's box, and that edge must hide with the band (not dot the finger)
        pad = EDGE_MARGIN_PX
        arr = np.pad(arr, ((pad, pad), (pad, pad), (0, 0)))
        behind_rows = np.pad(behind_rows, pad, mode="edge")
    rotated = Image.fromarray(arr, "RGBA").rotate(anchor.angle, resample=Image.BICUBIC, expand=True)
    rot = np.asarray(rotated).copy()
    # 3. Position: the ring's band (its lower part) sits on the anchor centre
    rw, rh = rotated.size
    # a band loop in view: its lower part, below the stone, crosses the finger; seen from above: centred
    offset = np.array([0.0, sh * 0.18 if hole is not None else 0.0])
    t = math.radians(anchor.angle)
    dx = offset[0] * math.cos(t) + offset[1] * math.sin(t)
    dy = -offset[0] * math.sin(t) + offset[1] * math.cos(t)
    cx, cy = anchor.center
    x, y = int(round(cx - rw / 2 - dx)), int(round(cy - rh / 2 - dy))
    if x >= pw or y >= ph or x + rw <= 0 or y + rh <= 0:
        raise StudioError("the anchor puts the product outside the plate")
    # work in a region of interest around the product (shadow margin included)
    m = int(target_w * 0.15) + 4
    r0, c0 = max(0, y - m), max(0, x - m)
    r1, c1 = min(ph, y + rh + m), min(pw, x + rw + m)
    alpha = np.zeros((r1 - r0, c1 - c0), np.float32)
    rgb = np.zeros((r1 - r0, c1 - c0, 3), np.float32)
    ys0, xs0, ys1, xs1 = max(0, y), max(0, x), min(ph, y + rh), min(pw, x + rw)
    alpha[ys0 - r0:ys1 - r0, xs0 - c0:xs1 - c0] = rot[ys0 - y:ys1 - y, xs0 - x:xs1 - x, 3] / 255.0
    rgb[ys0 - r0:ys1 - r0, xs0 - c0:xs1 - c0] = rot[ys0 - y:ys1 - y, xs0 - x:xs1 - x, :3]
    body = body_mask[r0:r1, c0:c1].astype(np.float32) if body_mask is not None else None
    visible = alpha.copy()
    if behind_rows is not None and body is not None:
        hidden = np.asarray(Image.fromarray((behind_rows * 255).astype(np.uint8)).rotate(anchor.angle, expand=True),
                            np.float32) / 255.0
        hid = np.zeros_like(alpha)
        hid[ys0 - r0:ys1 - r0, xs0 - c0:xs1 - c0] = hidden[ys0 - y:ys1 - y, xs0 - x:xs1 - x]
        visible = alpha * (1 - hid * cv2.GaussianBlur(body, (0, 0), 1.2))
    # 4. Soft shadow on the skin (only what is in front casts one, a little below), then the product
    full = np.asarray(plate).copy()
    base = full[r0:r1, c0:c1].astype(np.float32)
    if shadow > 0:
        sh_map = np.roll(cv2.GaussianBlur(visible, (0, 0), max(1.0, target_w * 0.025)), max(1, int(target_w * 0.03)),
                         axis=0)
        if body is not None:
            sh_map *= body
        sh_map *= 1 - visible
        base = base * (1 - shadow * np.clip(sh_map, 0, 1)[..., None])
    full[r0:r1, c0:c1] = np.clip(rgb * visible[..., None] + base * (1 - visible[..., None]), 0, 255).astype(np.uint8)
    image = Image.fromarray(full, "RGB")
    yy, xx = np.nonzero(alpha > 0.5)
    placed = Placed(float(xx.min() + c0), float(yy.min() + r0), float(xx.max() - xx.min() + 1),
                    float(yy.max() - yy.min() + 1), angle=anchor.angle + turn, scale=scale, upscale=max(1.0, scale),
                    mm_per_px=mm_per_px, hidden_below=hole, hidden_turn=turn)
    warnings = []
    if scale > 1.01:
        warnings.append(f"the product was enlarged {scale:.2f}x beyond its source photo to reach true scale")
    if max_enlarge is not None and plate_enlarged > max_enlarge + 0.01:
        warnings.append(f"the model's photo is enlarged {plate_enlarged:.1f}x to reach the channel's minimum size; "
                        "it may look soft when zoomed: a larger model photo would be sharper")
    band_px = band_height_px(item) * scale if view == "top" else None
    params = {"product_width_mm": product_width_mm, "mm_per_px": mm_per_px, "target_width_px": round(target_w, 1),
              "ring_view": view, "ring_turn": round(turn, 1), "band_width_mm_on_plate": round(band_px * mm_per_px, 2) if band_px else None,
              "anchor": {"center": list(anchor.center), "angle": anchor.angle, "span_px": anchor.span_px}}
    return StudioImage(image, placed, warnings, params)
