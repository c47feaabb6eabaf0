"""The seller's own photographed sets (a marble slab, a shelf, a linen table) as scenes: the product
stands on the plate's surface at true scale, its shadow falls away from the plate's light, and neither
the plate's pixels nor the product's are recoloured (the shadow only darkens the plate where it falls).
Plate + surface mask + cutout in, a StudioImage out; no catalog here (tools/plates.py, tools/studio_render.py).
"""

from __future__ import annotations

import math

import cv2
import numpy as np
from PIL import Image

from pipelines.studio import (
    Placed,
    PlateAnchor,
    StudioError,
    StudioImage,
    frame_plate,
    plate_output_size,
    resample,
    trim,
)

DEFAULT_HEIGHT_SHARE = 0.4  # without a scale: the product stands this share of the frame's height
SHADOW_STRENGTH = 0.45  # darkening at the shadow's core (0..1)
LIGHT_SIDE = 160  # px: the set's light is read from a copy this size on its long side


# Candidates on one plate differ as a photographer's frames of one set would: where on the surface the
# product stands (share of the surface's width), how tightly the set is framed (share of the widest
# frame the plate allows), how soft the shadow is (its blur as a share of the product's size) and where
# in the frame the product sits (share of the frame's width: the middle, or a third with room for copy
# on the other side; the frame pans over the plate to put it there, as far as the plate reaches).
VARIANTS = ((0.5, 1.0, 0.02, 0.5), (0.25, 0.8, 0.035, 2 / 3), (0.75, 0.9, 0.012, 1 / 3),
            (0.38, 0.7, 0.026, 0.58))


def standing_point(surface: np.ndarray, across: float = 0.5) -> tuple[float, float]:
    """Where a product stands on the surface mask (boolean): at the row a little in front of its centre
    (products stand on the near half of a table), `across` of the way along the surface on that row
    (0.5: its middle)."""
    ys, xs = np.nonzero(surface)
    if len(xs) < 50:
        raise StudioError("the surface mask marks almost nothing (fewer than 50 white pixels)")
    row = float(np.percentile(ys, 60))
    near = np.abs(ys - row) <= max(2.0, 0.02 * surface.shape[0])
    if across == 0.5:
        return float(xs[near].mean()), row
    return float(np.percentile(xs[near], 100 * float(np.clip(across, 0, 1)))), row


def light_direction(image: Image.Image) -> tuple[float, float]:
    """The key light's direction in the image plane (a unit vector pointing toward the light): from the
    large-scale brightness gradient of the photo (the lit side of a set is brighter)."""
    small = image.convert("L")
    small.thumbnail((LIGHT_SIDE, LIGHT_SIDE), Image.BILINEAR)  # a set-wide gradient needs no detail (and is fast)
    grey = np.asarray(small, np.float32) / 255.0
    h, w = grey.shape
    blur = cv2.GaussianBlur(grey, (0, 0), max(h, w) / 8)
    ys, xs = np.mgrid[0:h, 0:w]
    weight = blur - blur.mean()
    gx = float((weight * (xs - w / 2)).sum() / (w * w * h))
    gy = float((weight * (ys - h / 2)).sum() / (h * h * w))
    norm = math.hypot(gx, gy)
    if norm < 1e-4:  # evenly lit: light from the front and above
        return 0.0, -1.0
    return gx / norm, gy / norm


def cast_shadow(size: tuple[int, int], alpha: np.ndarray, box: tuple[int, int, int, int],
                light: tuple[float, float], softness: float = 0.02) -> np.ndarray:
    """A darkening map (0..1): the silhouette laid on the ground away from the light, plus a contact
    shadow at the base. `alpha` is the placed product's alpha (h, w) at `box` (x, y, w, h); `softness` is
    the blur as a share of the product's size."""
    width, height = size
    x, y, pw, ph = box
    shadow = np.zeros((height, width), np.float32)
    # 1. The silhouette flattened onto the ground, sheared away from the light.
    flat_h = max(2, int(ph * 0.35))
    flat = cv2.resize(alpha, (pw, flat_h), interpolation=cv2.INTER_AREA)
    lx, ly = light
    shear = lx * 0.9  # per row up from the base, the shadow runs this far away from the light
    matrix = np.float32([[1, shear, -shear * flat_h], [0, 1, 0]])
    spread = int(abs(shear) * flat_h) + 2
    sheared = cv2.warpAffine(flat, matrix + np.float32([[0, 0, spread], [0, 0, 0]]), (pw + 2 * spread, flat_h))
    base = y + ph
    top = base - flat_h if ly <= 0 else base - flat_h // 3  # a light from behind throws it forward
    _paste_max(shadow, sheared * 0.7, x - spread, top)
    # 2. Contact: a thin dark ellipse under the base.
    cv2.ellipse(shadow, (int(x + pw / 2), int(base)), (max(2, int(pw * 0.4)), max(2, int(ph * 0.03))), 0, 0, 360,
                1.0, -1)
    return cv2.GaussianBlur(shadow, (0, 0), max(1.5, softness * max(pw, ph))) * SHADOW_STRENGTH


def _paste_max(canvas: np.ndarray, patch: np.ndarray, x: int, y: int) -> None:
    h, w = canvas.shape
    x0, y0, x1, y1 = max(0, x), max(0, y), min(w, x + patch.shape[1]), min(h, y + patch.shape[0])
    if x1 > x0 and y1 > y0:
        region = canvas[y0:y1, x0:x1]
        np.maximum(region, patch[y0 - y:y1 - y, x0 - x:x1 - x], out=region)


def plate_frame(plate_size: tuple[int, int], surface: np.ndarray, size: tuple[int, int],
                variant: int = 0, max_enlarge: float = 1.0, min_long: int = 0) -> PlateAnchor:
    """The anchor studio.frame_plate crops a variant's frame around: the widest frame of the shot's aspect
    the plate allows, then the variant's share of it, panned so that the variant's standing point sits at
    its place in the frame (frame_plate keeps the frame on the plate). A tighter frame is never narrower
    than what fills the picture enlarged at most `max_enlarge` times: the shot's own width, or, under the
    small-photo policy (`min_long`), the width at which its long side is the channel's minimum (the
    picture is then smaller)."""
    across, framing, _, place = VARIANTS[variant % len(VARIANTS)]
    stand = standing_point(surface, across)
    widest = min(plate_size[0], plate_size[1] * size[0] / size[1])
    smallest = min(size[0], min_long * size[0] / max(size)) if min_long else size[0]  # the picture's least width
    width = widest if framing >= 1 else max(min(widest, smallest / max(1.0, max_enlarge)), widest * framing)
    centre = (stand[0] + (0.5 - place) * width, stand[1])
    if framing >= 1:
        return PlateAnchor(centre, [centre, centre], 0.0, float(max(plate_size)))  # as much of the plate as fits
    return PlateAnchor(centre, [centre, centre], 0.0, float(width / max(1.0, size[0] / size[1]) / 9))


def on_scene_plate(plate: Image.Image, surface: np.ndarray, cutout: Image.Image, *, size: tuple[int, int],
                   mm_per_px: float | None = None, height_mm: float | None = None,
                   width_mm: float | None = None, variant: int = 0, max_enlarge: float | None = None,
                   min_long: int = 0) -> StudioImage:
    """The product standing on the plate's surface: framed to `size` around the standing point, at true
    scale when the plate's scale (mm_per_px) and the product's height or width in mm are known.
    `variant` (a candidate's place) picks another spot on the surface, framing and shadow softness
    (VARIANTS). With `max_enlarge`, the small-photo policy holds for the seller's set as for the product:
    the plate is enlarged at most that much (a smaller picture rather than a soft one), unless the channel's
    minimum long side (`min_long`) needs more, which a warning says. The plate's and the product's pixels
    stay what they are."""
    # 1. Check inputs; frame the plate to the shot's aspect around where the product stands.
    if surface.shape != (plate.height, plate.width):
        raise StudioError(f"the surface mask is {surface.shape[1]}x{surface.shape[0]} but the plate is "
                          f"{plate.width}x{plate.height}")
    item, _ = trim(cutout)
    across, _, softness, _ = VARIANTS[variant % len(VARIANTS)]
    stand = standing_point(surface, across)
    anchor = plate_frame(plate.size, surface, size, variant, max_enlarge or 1.0, min_long if max_enlarge else 0)
    plate_enlarged = 1.0
    if max_enlarge is not None:
        size, plate_enlarged = plate_output_size(plate.size, anchor, size, max_enlarge=max_enlarge,
                                                 min_long=min_long)
    framed, moved, framed_mm, framed_surface = frame_plate(plate.convert("RGB"), anchor, mm_per_px or 1.0, size,
                                                           surface)
    w, h = size

    # 2. The product's size: true scale when known, else a share of the frame (said in a warning).
    warnings = []
    if mm_per_px and (height_mm or width_mm):
        scale = (height_mm / framed_mm) / item.height if height_mm else (width_mm / framed_mm) / item.width
    else:
        scale = DEFAULT_HEIGHT_SHARE * h / item.height
        warnings.append("the scene photo has no scale (or the product no size): the product is shown at a "
                        "typical size, not its true size")
    pw, ph = max(1, round(item.width * scale)), max(1, round(item.height * scale))
    if pw > w or ph > h:
        raise StudioError(f"at true scale the product ({pw}x{ph} px) does not fit the {w}x{h} frame of this scene")
    placed_item = resample(item, (pw, ph))
    # the product stands at its own spot on the surface, kept on the surface's row and inside the frame
    k = moved.span_px / anchor.span_px  # output px per plate px
    foot = (moved.center[0] + (stand[0] - anchor.center[0]) * k,
            moved.center[1] + (stand[1] - anchor.center[1]) * k)
    x, y = foot[0] - pw / 2, foot[1] - ph
    row = framed_surface[int(np.clip(foot[1], 0, h - 1))] if framed_surface is not None else None
    cols = np.nonzero(row)[0] if row is not None else []
    if len(cols) and cols.max() - cols.min() >= pw:
        x = min(max(x, cols.min()), cols.max() - pw)
    x = int(round(min(max(x, 0), w - pw)))
    y = int(round(min(max(y, 0), h - ph)))

    # 3. Shadow away from the plate's light (darkening only), then the product's own pixels on top.
    light = light_direction(framed)
    alpha = np.asarray(placed_item.getchannel("A"), np.float32) / 255.0
    shade = cast_shadow(size, alpha, (x, y, pw, ph), light, softness)
    base = np.asarray(framed, np.float32) * (1 - shade[..., None])
    out = Image.fromarray(np.clip(np.round(base), 0, 255).astype(np.uint8), "RGB")
    out.paste(placed_item.convert("RGB"), (x, y), placed_item.getchannel("A"))
    if scale > 1.01:
        warnings.append(f"the product was enlarged {scale:.2f}x beyond its source photo to reach this size")
    if max_enlarge is not None and plate_enlarged > max_enlarge + 0.01:
        warnings.append(f"the scene photo is enlarged {plate_enlarged:.1f}x to reach the channel's minimum size; "
                        "it may look soft when zoomed: a larger photo of the set would be sharper")
    placed = Placed(float(x), float(y), float(pw), float(ph), scale=scale, upscale=max(1.0, scale),
                    mm_per_px=framed_mm if mm_per_px else None)
    params = {"scene_plate": True, "variant": variant % len(VARIANTS), "light_from": [round(light[0], 3), round(light[1], 3)],
              "true_scale": bool(mm_per_px and (height_mm or width_mm)), "digital_source_type": "compositeCapture"}
    return StudioImage(out, placed, warnings, params)
