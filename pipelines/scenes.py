"""Grounded studio scenes without weights: the product stands ON a surface seen in perspective (or lies on it,
seen from above), lit by one key light that gives a contact shadow and a cast shadow, with a reflection on
glossy surfaces, depth of field behind, a riser when the look asks for one, and out-of-focus lights for
seasonal looks. The set is built in CIELAB so its lightness is what the look asks (`Look.lightness`), from
multi-octave noise (OpenCV resizes of seeded Gaussian noise) rather than drawn patterns. Materials follow how
they form: marble veins are the zero sets of sines across a domain-warped plane, wood is planks cut from logs
whose growth rings cross the face as lines and arches.

The product is locked: its pixels are the cutout's, resampled and composited last at full resolution.
Looks come from tools/looks.py (words as data in prompts/scenes/looks.toml); no words or SKUs here.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, fields

import cv2
import numpy as np
from PIL import Image

SURFACES = ("sweep", "stone", "wood", "linen", "paper", "plaster")
GLOSSY = frozenset({"sweep", "stone"})
WORK_LONG = 720  # the set is built at this long side, then enlarged (it is out of focus or fine-grained)
RISER_SHARE = 0.30  # a podium is this share of the product's height


@dataclass
class Look:
    """Render parameters of a scene (their meaning is documented in prompts/scenes/looks.toml)."""

    lightness: float = 86.0
    palette: tuple[str, ...] = ("#ECE7E0",)
    warmth: float = 0.0
    key: str = "soft"
    shadow_softness: float = 0.55
    surfaces: tuple[str, ...] = ("sweep",)
    reflection: bool = False
    riser: bool = False
    bokeh: float = 0.0
    bokeh_colors: tuple[str, ...] = ("#FFD27A",)
    fill: float = 0.56
    variant: int = 0
    contrast: float = 0.0  # least colour difference (CIE76 dE) of the backdrop from the product; 0: none
    edge_contrast: float = 0.0  # least dE between the product's outline and the set right behind it; 0: none

    @classmethod
    def from_dict(cls, values: dict | None) -> Look:
        names = {f.name for f in fields(cls)}
        kept = {k: (tuple(v) if isinstance(v, list) else v) for k, v in (values or {}).items() if k in names and v is not None}
        return cls(**kept)


@dataclass
class Scene:
    """What `render` made: the image, the product's box (x, y, w, h) and scale, and the parameters used."""

    image: Image.Image
    box: tuple[int, int, int, int]
    scale: float
    params: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    set_image: Image.Image | None = None  # with keep_set: the same set without the product, its shadows and
    # reflection, pixel for pixel (what the product's presence changed is the difference)


class SceneError(ValueError):
    """A scene cannot be made from these inputs; the message names the parameter."""


# -- colour and texture -------------------------------------------------------------------------------------


def hex_rgb(value: str) -> tuple[int, int, int] | None:
    text = str(value).strip().lstrip("#")
    if len(text) == 6 and all(c in "0123456789abcdefABCDEF" for c in text):
        return tuple(int(text[i:i + 2], 16) for i in (0, 2, 4))  # type: ignore[return-value]
    return None


def rgb_to_lab(rgb) -> np.ndarray:
    px = np.asarray(rgb, np.float32).reshape(1, -1, 3) / 255.0
    return cv2.cvtColor(px, cv2.COLOR_RGB2Lab).reshape(-1, 3)


def lab_to_rgb(lab: np.ndarray) -> np.ndarray:
    """float Lab image (L 0..100) -> float RGB 0..255."""
    return np.clip(cv2.cvtColor(lab.astype(np.float32), cv2.COLOR_Lab2RGB), 0, 1) * 255.0


def fbm(h: int, w: int, rng: np.random.Generator, scales=(96, 32, 10, 3), gains=(1.0, 0.5, 0.25, 0.12),
        stretch: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
    """Fractal noise: seeded Gaussian noise at several scales, smoothly enlarged and summed; unit variance.
    `stretch` (x, y) elongates the features (wood grain, weave)."""
    out = np.zeros((h, w), np.float32)
    for scale, gain in zip(scales, gains, strict=True):
        gw = max(2, int(w / (scale * stretch[0])))
        gh = max(2, int(h / (scale * stretch[1])))
        small = rng.normal(0, 1, (gh, gw)).astype(np.float32)
        out += gain * cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
    return out / max(float(out.std()), 1e-6)


def _smoothstep(lo: float, hi: float, x: np.ndarray) -> np.ndarray:
    t = np.clip((x - lo) / (hi - lo), 0, 1)
    return t * t * (3 - 2 * t)


MARBLE_VEINS = ((0.42, 1.0, 1.6), (0.16, 0.6, 0.9), (0.07, 0.22, 0.6))  # (spacing as a share of the slab's
# long side, strength, half-width in px at the work size): bold veins, finer ones crossing them, hairlines


def marble_veins(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Marble veins, 0 (none) .. 1 (a vein's core), at (h, w): each family is the zero set of a sine across
    a domain-warped plane (Perlin's marble), so a vein is a long thin line that meanders, thins and fades
    but does not close on itself the way the level lines of a noise field do (those read as a map's
    contours). The profile is exp(-distance / half-width), with the distance to the vein's centre line
    measured as |sin(phase)| / |grad phase|: a sharp core with soft edges, equally thin where the vein bends.
    The smooth fields are built at a quarter size and enlarged; only the sine is taken at full size."""
    size = max(h, w)
    k = 4
    sh, sw = max(8, -(-h // k)), max(8, -(-w // k))
    yy, xx = np.mgrid[0:sh, 0:sw].astype(np.float32) * k
    theta = rng.uniform(0.3, 1.0) * rng.choice([-1.0, 1.0])
    veins = np.zeros((h, w), np.float32)
    for fam, (spacing, strength, half) in enumerate(MARBLE_VEINS):
        period = spacing * size
        ang = theta + (rng.uniform(0.4, 0.9) * rng.choice([-1.0, 1.0]) if fam else 0.0)
        # the warp meanders the veins; its slope stays under the plane's, so a vein never folds into a loop
        warp = fbm(sh, sw, rng, (0.8 * period / k, 0.3 * period / k, 0.1 * period / k), (1.0, 0.4, 0.07))
        along = xx * np.cos(ang) + yy * np.sin(ang) + 0.22 * period * warp
        phase = along * (np.pi / period) + rng.uniform(0, np.pi)
        gy, gx = np.gradient(phase, k)
        slope = np.maximum(np.hypot(gx, gy), 0.1 * np.pi / period)
        fade = _smoothstep(-0.5, 0.9, fbm(sh, sw, rng, (0.18 * size / k, 0.06 * size / k), (1.0, 0.4)))
        thick = half * np.exp(0.45 * fbm(sh, sw, rng, (0.1 * size / k,), (1.0,)))
        phase = cv2.resize(phase.astype(np.float32), (w, h), interpolation=cv2.INTER_CUBIC)
        small = np.stack([fade * strength, 1.0 / (slope * thick)], axis=2).astype(np.float32)
        gain = cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)  # linear: no overshoot
        distance = np.abs(np.sin(phase)) * gain[..., 1]  # in half-widths
        # a sharp core and, around it, the mineral's soft cloud bleeding into the stone
        veins = np.maximum(veins, gain[..., 0] * (0.8 * np.exp(-distance) + 0.2 * np.exp(-distance / 8)))
    return veins


def _wood(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """Planks along x with butt joints: each piece is a flat-sawn board of a log whose pith runs under its face,
    slightly tilted, so the growth rings (light earlywood darkening to a thin latewood line) cut the face as
    long lines and cathedral arches; fine pores along the grain, a tone per piece, dark seams."""
    boards = max(3, h // 90)
    wobble = fbm(h, w, rng, (60, 20), (1.0, 0.4), stretch=(8.0, 1.0))
    out = 0.9 * fbm(h, w, rng, (3,), (1.0,), stretch=(12.0, 0.5)) + 1.2 * fbm(h, w, rng, (120, 40), (1.0, 0.5),
                                                                              stretch=(4.0, 1.0))
    xs = np.arange(w, dtype=np.float32)[None, :]
    for b in range(boards):
        y0, y1 = b * h // boards, (b + 1) * h // boards
        dy_rows = np.arange(y1 - y0, dtype=np.float32)[:, None]
        length = rng.uniform(0.5, 1.1) * w
        joint = -rng.uniform(0, 1) * length
        while joint < w:
            x0, x1 = max(0, int(joint)), min(w, int(joint + length))
            if x1 > x0:
                spacing = rng.uniform(5.0, 9.0)  # ring spacing, px at the work size
                pith = rng.uniform(-0.6, 1.6) * (y1 - y0)  # where the pith runs, across the board
                depth = rng.uniform(2, 12) * spacing  # how far below the face it lies
                tilt = rng.uniform(-1, 1) * 6 / w * spacing  # its drift toward the face along the board
                dz = depth + tilt * xs[:, x0:x1]
                dy = dy_rows - pith
                radius = np.sqrt(dy * dy + dz * dz) * (1.0 / spacing) + 1.2 * wobble[y0:y1, x0:x1]
                rings = radius - np.floor(radius)
                rings *= rings
                out[y0:y1, x0:x1] += float(rng.normal(0, 2.0)) - 4.5 * rings * rings
                if joint > 0:
                    out[y0:y1, x0:min(w, x0 + 1)] -= 7.0  # the butt joint
            joint += length
        if b:
            out[max(0, y0 - 1):y0 + 1] -= 9.0  # the seam between two boards
    return out


def texture(kind: str, h: int, w: int, rng: np.random.Generator, lightness: float = 60.0) -> np.ndarray:
    """The surface's lightness variation in L* units (mean about 0), at (h, w), in the surface's own plane.
    `lightness` is the set's L*: marble on a dark set is a black marble with light veins."""
    if kind not in SURFACES:
        raise SceneError(f"unknown surface {kind!r}: use one of {', '.join(SURFACES)}")
    if kind == "sweep":
        return 0.6 * fbm(h, w, rng, (160, 40), (1.0, 0.3)) + 0.5 * rng.normal(0, 1, (h, w)).astype(np.float32)
    if kind == "plaster":
        return 1.6 * fbm(h, w, rng, (60, 18, 6, 2), (1.0, 0.6, 0.4, 0.3))
    if kind == "paper":
        return 0.8 * fbm(h, w, rng, (120, 3), (1.0, 0.7)) + 0.6 * rng.normal(0, 1, (h, w)).astype(np.float32)
    if kind == "stone":
        cloud = 1.4 * fbm(h, w, rng, (150, 50, 14), (1.0, 0.5, 0.25))
        veins = marble_veins(h, w, rng)
        return cloud + (10.0 if lightness < 45 else -12.0) * veins
    if kind == "wood":
        return _wood(h, w, rng)
    # linen: a fine weave with soft slubs
    warp = fbm(h, w, rng, (2,), (1.0,), stretch=(1.0, 8.0))
    weft = fbm(h, w, rng, (2,), (1.0,), stretch=(8.0, 1.0))
    return 1.4 * (warp + weft) + 1.2 * fbm(h, w, rng, (70, 20), (1.0, 0.5))


def sparse_blur(mask: np.ndarray, sigma: float) -> np.ndarray:
    """cv2.GaussianBlur of a float map that is zero outside a small region, computed only over that region
    and the kernel's reach around it: the same values as blurring the whole frame, at a fraction of the
    cost (a shadow or a podium's foot covers a few percent of the set)."""
    ys, xs = np.nonzero(np.any(mask, axis=1)), np.nonzero(np.any(mask, axis=0))
    out = np.zeros_like(mask)
    if not len(ys[0]):
        return out
    reach = int(np.ceil(4 * sigma)) + 2  # OpenCV's float kernel reaches about 4 sigma
    h, w = mask.shape[:2]
    y0, y1 = max(0, int(ys[0][0]) - reach), min(h, int(ys[0][-1]) + 1 + reach)
    x0, x1 = max(0, int(xs[0][0]) - reach), min(w, int(xs[0][-1]) + 1 + reach)
    out[y0:y1, x0:x1] = cv2.GaussianBlur(np.ascontiguousarray(mask[y0:y1, x0:x1]), (0, 0), sigma)
    return out


# -- geometry -------------------------------------------------------------------------------------------------


def layout(width: int, height: int, item_size: tuple[int, int], look: Look, index: int, pose: str,
           max_upscale: float, safe_margin: float) -> tuple[float, int, int, str]:
    """Scale and position (x, base y) of the product for the frame's format, and where the copy goes:
    wide frames (16:9, 1.91:1) put the product on one third and leave the other two for copy; tall frames
    (9:16) make it large in the lower part with the top free; square and 4:5 centre it a little low."""
    iw, ih = item_size
    aspect = width / height
    mx, my = width * safe_margin, height * safe_margin
    if aspect > 1.4:
        scale = min(look.fill * 1.35 * height / ih, 0.40 * width / iw)
        side = "right" if (look.variant + index) % 2 else "left"
        cx = width * (0.68 if side == "right" else 0.32)
        copy = "left" if side == "right" else "right"
    elif aspect < 0.7:
        scale = min(look.fill * 1.45 * width / iw, 0.52 * height / ih)
        cx, copy = width * (0.5 + (0.06 if index % 2 else -0.06)), "top"
    else:
        scale = min(look.fill * width / iw, look.fill * height / ih)
        cx, copy = width * (0.5 + (0.05 if index % 2 else -0.05)), "top" if aspect < 0.95 else "sides"
    wanted = scale
    scale = min(scale, max_upscale, (width - 2 * mx) / iw, (height - 2 * my) / ih)  # inside the safe area
    look.fill = look.fill * scale / wanted  # the fill the product really has (smaller when the photo is small)
    pw, ph = iw * scale, ih * scale
    if pose == "flat":
        base = height * (0.56 if aspect < 0.7 else 0.52) + ph / 2
    else:
        base = height * (0.80 if aspect < 0.7 else 0.78)
    x = int(np.clip(cx - pw / 2, mx, max(mx, width - mx - pw)))
    base = int(np.clip(base, my + ph, height - my))
    return scale, x, base, copy


# -- the scene ------------------------------------------------------------------------------------------------


NEUTRAL_CHROMA = 12.0  # a product whose mean a*b* chroma is at most this is neutral (silver, white, black;
# a silver pendant with a small coloured stone still reads as silver)


def mean_lab(item: Image.Image) -> np.ndarray:
    """The visible product's mean colour in CIELAB (alpha-weighted, from a small copy)."""
    small = item.copy()
    small.thumbnail((96, 96))
    arr = np.asarray(small.convert("RGBA"), np.float32)
    weight = arr[..., 3] / 255.0
    lab = cv2.cvtColor(arr[..., :3] / 255.0, cv2.COLOR_RGB2Lab).reshape(-1, 3)
    return (lab * weight.reshape(-1, 1)).sum(axis=0) / max(float(weight.sum()), 1e-6)


def contrasting_hue(backdrop: tuple[float, float, float], product: np.ndarray, least: float) -> tuple[float, float]:
    """The backdrop's (a*, b*) moved just far enough that it differs from the product's mean colour by
    `least` (CIE76 dE) at the backdrop's own lightness, away from the product's hue (gold on a warm cream
    set -> a clean, slightly cool white). Unchanged when it already differs enough, and for a neutral
    product (silver, white: colouring the set would not help; its lightness is the look's choice)."""
    lightness, a, b = backdrop
    v = np.array([a - product[1], b - product[2]], np.float64)
    dl2 = (lightness - float(product[0])) ** 2
    chroma = np.array([product[1], product[2]], np.float64)
    if dl2 + float(v @ v) >= least ** 2 or np.hypot(*chroma) <= NEUTRAL_CHROMA:
        return a, b
    direction = -chroma / np.hypot(*chroma)
    reach = least ** 2 - dl2
    along = float(v @ direction)
    t = -along + np.sqrt(max(0.0, along ** 2 - float(v @ v) + reach))
    return a + float(t * direction[0]), b + float(t * direction[1])


def rim_lab(item: Image.Image) -> np.ndarray:
    """The median CIELAB colour of the product's outline: a thin band just inside its silhouette (from a
    copy at most 240 px long), which is what the eye compares with the set right behind it. A silver band's
    rim is near white even when its mean (with dark reflections and stones) is mid-grey."""
    small = item.copy()
    small.thumbnail((240, 240))
    arr = np.asarray(small.convert("RGBA"), np.float32)
    inside = (arr[..., 3] > 127).astype(np.uint8)
    r = max(1, round(0.015 * max(small.size)))
    rim = inside.astype(bool) & ~cv2.erode(inside, np.ones((2 * r + 1, 2 * r + 1), np.uint8)).astype(bool)
    if not rim.any():
        rim = inside.astype(bool) if inside.any() else np.ones(inside.shape, bool)
    lab = cv2.cvtColor(arr[..., :3] / 255.0, cv2.COLOR_RGB2Lab)[rim]
    return np.median(lab, axis=0)


EDGE_LIGHT_MAX = 25.0  # L*: the most the set behind the product is lit up or shaded for its outline


def _edge_light(lum: np.ndarray, chroma_gap: float, rim: np.ndarray, least: float, centre: tuple[float, float],
                size: tuple[float, float]) -> np.ndarray:
    """`lum` with a soft pool of light (or of shade) on the set behind the product, just strong enough that
    the set right around its outline differs from the outline's colour `rim` by `least` (CIE76 dE):
    a light neutral product on a near-white set gets a brighter patch of set behind it (a background
    light); when nothing can be lighter than it (a white product), a light-grey falloff. The set away from
    the product keeps its median lightness, so the look's lightness is still what is measured. `chroma_gap` is the a*b* difference the hue already gives."""
    need = float(np.sqrt(max(0.0, least ** 2 - chroma_gap ** 2)))
    h, w = lum.shape
    cx, cy = centre
    sx, sy = max(2.0, 0.45 * size[0]), max(2.0, 0.45 * size[1])
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    du, dv = np.abs(xx - cx) / max(size[0], 1.0), np.abs(yy - cy) / max(size[1], 1.0)
    ring = (np.maximum(du, dv) <= 0.62) & ~((du <= 0.5) & (dv <= 0.5))  # just outside the product's box
    if need <= 0 or not ring.any():
        return lum
    behind = float(np.median(lum[ring]))
    if abs(behind - rim[0]) >= need:
        return lum
    pool = np.exp(-0.5 * (((xx - cx) / sx) ** 2 + ((yy - cy) / sy) ** 2))
    away = np.maximum(du, dv) > 0.62  # the rest of the set, which keeps its median lightness
    # the nearer of "lighter than the rim" and "darker than it" that a set can show (L* 6..100), at most
    # EDGE_LIGHT_MAX away from what is there
    options = [t for t in (rim[0] + need, rim[0] - need) if 6.0 <= t <= 100.0] or [float(np.clip(rim[0] - need, 6, 100))]
    wanted = min(options, key=lambda t: abs(t - behind))
    lift = float(np.mean(pool[ring]) - (np.median(pool[away]) if away.any() else 0.0))
    amount = float(np.clip((wanted - behind) / max(lift, 0.2), -EDGE_LIGHT_MAX, EDGE_LIGHT_MAX))
    out = lum + amount * pool
    if away.any():
        out -= float(np.median(out[away]) - np.median(lum[away]))
    return out


def _backdrop_lab(look: Look, index: int, work: tuple[int, int], horizon: int, surface: str, pose: str,
                  light_x: float, rng: np.random.Generator,
                  product_lab: np.ndarray | None = None, product_rim: np.ndarray | None = None,
                  product_box: tuple[float, float, float, float] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(Lab set at work size, floor mask): wall and floor in the look's colour, textured, lit by the key.
    With `product_rim` and `product_box` (x, y, w, h at work size) and a look's `edge_contrast`, the set
    behind the product is lit so that its outline stands out (`_edge_light`)."""
    w, h = work
    hue = hex_rgb(look.palette[(look.variant + index) % len(look.palette)]) if look.palette else None
    lab0 = rgb_to_lab(hue or (236, 231, 224))[0]
    a0 = lab0[1] + 4.0 * look.warmth
    b0 = lab0[2] + 14.0 * look.warmth
    target = float(np.clip(look.lightness, 4, 97))
    if product_lab is not None and look.contrast > 0:
        a0, b0 = contrasting_hue((target, a0, b0), product_lab, look.contrast)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    hard = look.key == "hard"
    if pose == "flat":  # seen from above: the surface fills the frame, no wall, no perspective
        floor = np.ones((h, w), bool)
        lum = texture(surface, h, w, rng, target)
    else:
        floor = yy >= horizon
        # floor texture in its own plane, projected in perspective (features shrink toward the horizon)
        tw, th = w * 2, h
        plane = texture(surface, th, tw, rng, target)
        src = np.float32([[0, 0], [tw, 0], [tw, th], [0, th]])
        dst = np.float32([[-1.0 * w, horizon], [2.0 * w, horizon], [1.2 * w, h * 1.05], [-0.2 * w, h * 1.05]])
        floor_lum = cv2.warpPerspective(plane, cv2.getPerspectiveTransform(src, dst), (w, h),
                                        flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT)
        wall_kind = "sweep" if surface == "sweep" else "plaster"
        wall_lum = texture(wall_kind, h, w, rng) * (0.6 if hard else 1.0)
        if surface == "sweep":  # a seamless sweep: the wall bends into the floor, no line between them
            t = np.clip((yy - horizon) / (0.12 * h) + 0.5, 0, 1)
            lum = wall_lum * (1 - t) + floor_lum * t + 3.0 * t
        else:
            lum = np.where(floor, floor_lum + 2.0, wall_lum - 2.0)
            lum -= 5.0 * np.exp(-((yy - horizon) / (0.012 * h)) ** 2)  # the soft line where table meets wall
    # one key light: a pool of light around the product, falling off toward the frame's edges (low key: more)
    cy = horizon if pose != "flat" else h * 0.45
    spread = (0.42 if hard else 0.75) * max(w, h)
    pool = np.exp(-(((xx - light_x) ** 2) + ((yy - cy) ** 2) * 1.6) / (2 * spread ** 2))
    lum += (26.0 if hard else 10.0) * (pool - pool.mean())
    lum -= (4.0 if hard else 2.0) * ((xx / w - 0.5) ** 2 + (yy / h - 0.5) ** 2) * 4
    lum += target - float(lum.mean())
    if product_rim is not None and product_box is not None and look.edge_contrast > 0:
        bx, by, bw, bh = product_box
        gap = float(np.hypot(a0 - product_rim[1], b0 - product_rim[2]))
        lum = _edge_light(lum, gap, product_rim, look.edge_contrast, (bx + bw / 2, by + bh / 2), (bw, bh))
    lab = np.stack([np.clip(lum, 0, 100), np.full_like(lum, a0), np.full_like(lum, b0)], axis=2)
    return lab, floor


def _depth_of_field(rgb: np.ndarray, floor: np.ndarray, base: int, pose: str) -> np.ndarray:
    """Blur what lies behind the product's base: the wall fully, the floor more with distance from the focus."""
    if pose == "flat":
        return rgb
    h = rgb.shape[0]
    sigma = max(1.2, 0.006 * max(rgb.shape[:2]))
    rows = np.arange(h, dtype=np.float32)[:, None]
    weight = np.clip((base - rows) / (0.3 * h), 0, 1)
    weight = np.where(floor, weight, 1.0)[..., None]
    # only the rows behind the focus are blurred (and the kernel's reach below them): in front it is sharp
    behind = np.nonzero(weight[:, :, 0].any(axis=1))[0]
    if not len(behind):
        return rgb
    last = int(behind[-1]) + 1
    blurred = cv2.GaussianBlur(rgb[:min(h, last + int(np.ceil(4 * sigma)) + 2)], (0, 0), sigma)[:last]
    out = rgb.copy()
    out[:last] = rgb[:last] * (1 - weight[:last]) + blurred * weight[:last]
    return out


def _bokeh(rgb: np.ndarray, look: Look, horizon: int, rng: np.random.Generator, pose: str) -> np.ndarray:
    """Out-of-focus lights: soft discs in the look's colours, added like light; behind the product above the
    horizon for a standing product, around the frame's edges (fairy lights near the lens) for a flat lay."""
    if look.bokeh <= 0:
        return rgb
    h, w = rgb.shape[:2]
    layer = np.zeros_like(rgb)
    colors = [c for c in (hex_rgb(v) for v in look.bokeh_colors) if c] or [(255, 210, 122)]
    count = int(18 + 30 * look.bokeh)
    for _ in range(count):
        r = int(rng.uniform(0.015, 0.05) * max(w, h))
        if pose == "flat":  # along the edges, clear of the product in the middle
            t, edge = rng.uniform(0, 1), int(rng.integers(4))
            depth = rng.uniform(0, 0.14)
            x, y = [(t * w, depth * h), (t * w, (1 - depth) * h), (depth * w, t * h), ((1 - depth) * w, t * h)][edge]
            x, y = int(x), int(y)
        else:
            x, y = int(rng.uniform(0, w)), int(rng.uniform(0, max(1, horizon * 0.95)))
        color = np.array(colors[int(rng.integers(len(colors)))], np.float32) * rng.uniform(0.25, 0.6)
        cv2.circle(layer, (x, y), r, tuple(float(c) for c in color), -1, lineType=cv2.LINE_AA)
    layer = cv2.GaussianBlur(layer, (0, 0), max(1.0, 0.004 * max(w, h)))
    return 255.0 - (255.0 - rgb) * (255.0 - layer * look.bokeh) / 255.0  # screen blend


def _riser(lab: np.ndarray, cx: float, top: float, rx: float, height: float, look: Look, light_x: float,
           rng: np.random.Generator) -> None:
    """A round podium (cylinder) drawn into the Lab set: lit side brighter, top brighter still, stone-like."""
    h, w = lab.shape[:2]
    ry = max(2.0, rx * 0.2)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    u = (xx - cx) / rx
    side = (np.abs(u) <= 1) & (yy >= top) & (yy <= top + height + ry * np.sqrt(np.clip(1 - u ** 2, 0, 1)))
    cap = ((xx - cx) / rx) ** 2 + ((yy - top) / ry) ** 2 <= 1
    base_l = float(np.clip(look.lightness + (14 if look.lightness < 50 else -8), 8, 95))
    grain = 1.2 * fbm(h, w, rng, (40, 8), (1.0, 0.5))
    toward = 1.0 if light_x < cx else -1.0
    shade = base_l + 9.0 * np.clip(-u * toward, -1, 1) - 4.0 * np.abs(u) ** 3 + grain
    # the podium's own shadow on the floor, under and beside it
    foot = np.zeros((h, w), np.float32)
    cv2.ellipse(foot, (int(cx), int(top + height)), (int(rx * 1.15), int(ry * 1.4)), 0, 0, 360, 1.0, -1)
    foot = sparse_blur(foot, max(2.0, rx * 0.12))
    lab[..., 0] -= 10.0 * foot
    lab[..., 0] = np.where(side, shade, lab[..., 0])
    lab[..., 0] = np.where(cap, base_l + 6.0 + grain, lab[..., 0])


def _cast_shadow(alpha: np.ndarray, frame: tuple[int, int], x: int, y: int, base: int, look: Look,
                 light_x: float, pose: str) -> np.ndarray:
    """The product's shadow from the key light as a darkening map: standing, it falls on the floor behind
    and away from the light (the silhouette flattened toward its foot and slanted); lying flat, it is the
    silhouette offset away from the light. Sharper for a hard key, softer with `shadow_softness`."""
    w, h = frame
    ph, pw = alpha.shape
    away = 1.0 if light_x < x + pw / 2 else -1.0
    soft = float(np.clip(look.shadow_softness, 0, 1))
    if pose == "flat":
        d = max(1.0, 0.02 * max(pw, ph))
        m = np.float32([[1, 0, x + away * d], [0, 1, y + d]])
    else:
        squash, slant = 0.42, 0.9 * away
        # source row r (0 top .. ph bottom) goes to base - (ph - r) * squash, shifted by its height * slant
        m = np.float32([[1, -slant * squash, x + slant * squash * ph], [0, squash, base - ph * squash]])
    shadow = cv2.warpAffine(alpha, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    sigma = max(0.8, (0.004 + 0.07 * soft) * max(pw, ph))
    shadow = sparse_blur(shadow, sigma)
    strength = (0.55 if look.key == "hard" else 0.36) * (1 - 0.45 * soft)
    return np.clip(shadow * strength, 0, 0.7)


def _contact(alpha: np.ndarray, frame: tuple[int, int], x: int, base: int, strength: float) -> np.ndarray:
    """The dark line where the product touches the surface: its footprint, tight and soft."""
    w, h = frame
    ph, pw = alpha.shape
    foot_rows = alpha[int(ph * 0.9):].max(axis=0) if ph > 4 else alpha.max(axis=0)
    cols = np.nonzero(foot_rows > 0.3)[0]
    out = np.zeros((h, w), np.float32)
    if len(cols) == 0:
        return out
    x0, x1 = x + int(cols.min()), x + int(cols.max())
    cv2.ellipse(out, (int((x0 + x1) / 2), int(base)), (max(2, int((x1 - x0) * 0.55)), max(2, int(0.025 * ph) + 1)),
                0, 0, 360, 1.0, -1)
    out = sparse_blur(out, max(1.0, 0.012 * max(pw, ph)))
    return np.clip(out * strength, 0, 0.75)


def _outline_contact(alpha: np.ndarray, frame: tuple[int, int], x: int, y: int, look: Look,
                     light_x: float) -> np.ndarray:
    """A flat lay's contact shadow: where the product lies on the surface, the light is blocked right along
    its outline, so a tight soft darkening hugs the silhouette, nudged away from the key light. Softer
    and wider with `shadow_softness`, darker for a hard key."""
    w, h = frame
    ph, pw = alpha.shape
    soft = float(np.clip(look.shadow_softness, 0, 1))
    size = max(pw, ph)
    sigma = max(0.8, (0.004 + 0.008 * soft) * size)
    away = 1.0 if light_x < x + pw / 2 else -1.0
    shift = 0.6 * sigma
    m = np.float32([[1, 0, x + away * shift], [0, 1, y + shift]])
    placed = cv2.warpAffine(alpha, m, (w, h), flags=cv2.INTER_LINEAR, borderValue=0)
    # thicken thin strands (chains) a little so they press into the surface like the solid parts do
    placed = cv2.dilate(placed, np.ones((3, 3), np.uint8))
    strength = (0.62 if look.key == "hard" else 0.5) * (1 - 0.3 * soft)
    return np.clip(sparse_blur(placed, sigma) * strength, 0, 0.75)


@functools.cache
def _grain_tile(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A tile of prime size of sensor-like grain (sigma 1.1 levels), as its lightening and darkening parts
    (uint8, the same in all three channels) so that it is applied with saturating adds."""
    grain = np.round(np.random.default_rng(seed).normal(0, 1.1, (509, 509, 1))).astype(np.int16)
    return tuple(np.repeat(np.clip(part, 0, 255).astype(np.uint8), 3, axis=2) for part in (grain, -grain))


def _grain(image: np.ndarray, seed: int) -> np.ndarray:
    """The uint8 RGB set with fine grain added (clipped to 0..255), from a cached tile."""
    height, width = image.shape[:2]
    reps = (height // 509 + 1, width // 509 + 1, 1)
    lighter, darker = (np.tile(part, reps)[:height, :width] for part in _grain_tile(seed % 4))
    return cv2.subtract(cv2.add(image, lighter), darker)


def render(item: Image.Image, width: int, height: int, look: Look, *, index: int = 0, seed: int = 0,
           pose: str = "standing", max_upscale: float = 1.95, safe_margin: float = 0.08,
           resample=None, keep_set: bool = False) -> Scene:
    """The product (a trimmed RGBA cutout) in a scene made for `look`, at width x height. With `keep_set`,
    the result also holds the empty set (`Scene.set_image`): the same pixels before the shadows, the
    reflection and the product went in."""
    # 1. Check inputs
    if pose not in ("standing", "flat"):
        raise SceneError(f"pose must be standing or flat, got {pose!r}")
    if not 0.15 <= look.fill <= 0.95:
        raise SceneError(f"fill must be within 0.15..0.95, got {look.fill}")
    if look.key not in ("hard", "soft"):
        raise SceneError(f"key must be hard or soft, got {look.key!r}")
    rng = np.random.default_rng(seed * 7919 + index * 104729 + look.variant * 31)
    surface = look.surfaces[(look.variant + index) % len(look.surfaces)] if look.surfaces else "sweep"
    riser = look.riser and pose == "standing"

    # 2. Layout for the format; the key light comes from the side the product does not face
    asked_fill = look.fill
    look = Look(**{f.name: getattr(look, f.name) for f in fields(Look)})  # layout records the fill it reached
    scale, x, base, copy = layout(width, height, item.size, look, index, pose, max_upscale, safe_margin)
    if riser:  # the product and its podium (RISER_SHARE of its height) fit in the frame together
        fit = height * (1.0 - safe_margin) / (item.height * (1.0 + RISER_SHARE))
        if scale > fit:
            x, scale = round(x + item.width * (scale - fit) / 2), fit
    pw, ph = max(1, round(item.width * scale)), max(1, round(item.height * scale))
    placed_item = resample(item, (pw, ph)) if resample else item.resize((pw, ph), Image.LANCZOS)
    light_left = (look.variant + index) % 2 == 0
    light_x_full = x + pw / 2 + (-0.55 if light_left else 0.55) * max(width, height) * 0.5

    # 3. The set at a reduced size: wall + floor in Lab, depth of field, riser, lights
    f = max(1.0, max(width, height) / WORK_LONG)
    ww, wh = max(8, round(width / f)), max(8, round(height / f))
    riser_h = ph * RISER_SHARE if riser else 0.0
    riser_rx = max(pw * 0.75, 0.12 * width) if riser else 0.0
    floor_y = base + riser_h + (riser_rx * 0.2 if riser else 0.0) * 0.5
    if riser:  # the product stands on the podium; the podium stands on the floor
        base = int(min(base, height - height * safe_margin * 0.5 - riser_h))
        floor_y = base + riser_h
    horizon = int(np.clip((floor_y - (0.30 + 0.06 * ((look.variant + index) % 3)) * height) / f, wh * 0.2, wh * 0.75))
    product_lab = mean_lab(item) if look.contrast > 0 else None
    product_rim = rim_lab(item) if look.edge_contrast > 0 else None
    lab, floor = _backdrop_lab(look, index, (ww, wh), horizon, surface, pose, light_x_full / f, rng, product_lab,
                               product_rim, (x / f, (base - ph) / f, pw / f, ph / f))
    rgb = lab_to_rgb(lab)
    rgb = _depth_of_field(rgb, floor, int(floor_y / f), pose)
    rgb = _bokeh(rgb, look, horizon, rng, pose)
    if riser:
        lab2 = cv2.cvtColor((rgb / 255.0).astype(np.float32), cv2.COLOR_RGB2Lab)
        _riser(lab2, (x + pw / 2) / f, base / f, riser_rx / f, riser_h / f, look, light_x_full / f, rng)
        rgb = lab_to_rgb(lab2)

    # 4. Shadows at the reduced size: contact and cast, from the same key light
    small_alpha = np.asarray(placed_item.getchannel("A").resize((max(1, round(pw / f)), max(1, round(ph / f)))),
                             np.float32) / 255.0
    frame_small = (ww, wh)
    dark = _cast_shadow(small_alpha, frame_small, round(x / f), round((base - ph) / f), round(base / f), look,
                        light_x_full / f, pose)
    contact = None
    if pose == "standing":
        contact = _contact(small_alpha, frame_small, round(x / f), round(base / f), 0.6 if look.key == "hard" else 0.45)
        dark = np.maximum(dark, contact)
    else:
        dark = np.maximum(dark, _outline_contact(small_alpha, frame_small, round(x / f), round((base - ph) / f),
                                                 look, light_x_full / f))
    empty = None
    if keep_set:
        empty = Image.fromarray(_grain(cv2.resize(np.clip(rgb, 0, 255).astype(np.uint8), (width, height),
                                                  interpolation=cv2.INTER_LINEAR), seed), "RGB")

    # 5. Full size: enlarge the set, add fine grain, a reflection on glossy surfaces, then the product
    full = _grain(cv2.resize(np.clip(rgb * (1 - dark[..., None]), 0, 255).astype(np.uint8), (width, height),
                             interpolation=cv2.INTER_LINEAR), seed)
    reflection = look.reflection and pose == "standing" and (surface in GLOSSY or riser)
    y = int(base - ph)
    if reflection:
        flipped = np.asarray(placed_item.transpose(Image.FLIP_TOP_BOTTOM), np.float32)
        rows, cols = max(0, min(ph, height - base)), max(0, min(pw, width - x))
        if rows and cols:
            fade = np.linspace(0.30, 0.0, ph, dtype=np.float32)[:rows, None] ** 1.2 / 0.30 ** 0.2
            fade = fade * flipped[:rows, :cols, 3] / 255.0
            fade = cv2.GaussianBlur(fade, (0, 0), 1.0 + 0.004 * ph)[..., None]
            region = full[base:base + rows, x:x + cols].astype(np.float32)
            # what is mirrored right at the foot is the product's underside, in its own contact shadow: the
            # reflection is darkened like the surface there, so the contact still reads as a dark line
            occluded = cv2.resize(contact, (width, height), interpolation=cv2.INTER_LINEAR)[base:base + rows, x:x + cols]
            blended = region * (1 - fade) + flipped[:rows, :cols, :3] * (1 - occluded[..., None]) * fade
            full[base:base + rows, x:x + cols] = np.clip(blended, 0, 255).astype(np.uint8)
    image = Image.fromarray(full, "RGB")
    image.paste(placed_item.convert("RGB"), (x, y), placed_item.getchannel("A"))

    # 6. Report
    warnings = []
    if scale > 1.01:
        warnings.append(f"the product was enlarged {scale:.2f}x beyond its source photo")
    params = {"surface": surface, "lightness": round(float(look.lightness), 1), "warmth": round(look.warmth, 2),
              "key": look.key, "shadow_softness": round(look.shadow_softness, 2), "reflection": bool(reflection),
              "riser": riser, "bokeh": look.bokeh, "fill": round(look.fill, 3), "asked_fill": round(asked_fill, 3),
              "variant": look.variant, "contrast": look.contrast, "edge_contrast": look.edge_contrast,
              "palette": list(look.palette), "light": "left" if light_left else "right", "copy_space": copy,
              "pose": pose, "index": index}
    return Scene(image, (x, y, pw, ph), scale, params, warnings, empty)

