"""Vision-check benchmark: does the critique catch candidates that alter the product, and only those?

A labelled set is built from ../shared/realdata: every real product cutout (exact-alpha cutouts, and
catalog packshots cut out by pipelines/matting.py). Clean candidates are what the product makes: the
studio renderers of pipelines/studio.py (packshot, packshot with shadow re-encoded as JPEG, a 1600 px
packshot downsized to 800 px, detail crop, designed backdrop, campaign format, ring try-on on the real
hand plate via composite_try_on), each with its real placement record. A separate group of clean
images made elsewhere (no placement record: JPEG on white, procedural backdrop, real photo
background) is reported apart. Altered candidates are rendered by the same renderers from an edited
cutout under the clean render's placement record (hue and tint shifts, brightness and saturation
changes, a stone or part erased, a foreign element pasted on, a 10 % stretch, 0.7x scale on try-on,
a different product of the same category; cut by the frame is composited directly). An alteration must
be visible: one that changes under 1.5 % of the product's pixels (a stone whose erasure leaves metal that
looks the same, a pasted patch in the product's own colors) is redrawn, and color edits that change
nothing on an achromatic product are skipped; the counts are printed. Reported per
alteration type and overall, for all products and for a held-out half (split by product): ROC AUC
and the detection rate at the critique's limits, next to two baselines (whole-image SSIM and
imagehash pHash distance), and the time per 1024 px candidate.

Run: .venv/bin/python -m benchmarks.bench_vision [--quick] [--verbose] [--dump FILE]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
import zlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
FRAME = 1024
TARGET_AUC, TARGET_CATCH, TARGET_FALSE, TARGET_MS = 0.98, 0.95, 0.02, 150.0


@dataclass
class Product:
    name: str
    kind: str  # ring, bracelet, necklace, earrings, set, other
    cutout: Image.Image  # RGBA, tight


@dataclass
class Case:
    product: str
    label: str  # "clean" or the alteration type
    variant: str
    image: np.ndarray
    placement: object | None
    cutout: Image.Image
    product_mm: float | None = None
    meta: dict = field(default_factory=dict)


# -- 1. real products ---------------------------------------------------------------------------------


def _kind(name: str) -> str:
    for key, kind in (("earring", "earrings"), ("ring", "ring"), ("bracelet", "bracelet"), ("bangle", "bracelet"), ("necklace", "necklace"),
                      ("pendant", "necklace"), ("earring", "earrings"), ("_set", "necklace")):
        if key in name:
            return kind
    return "other"


def _tight(rgba: Image.Image) -> Image.Image:
    box = Image.fromarray((np.asarray(rgba)[..., 3] > 12).astype(np.uint8) * 255).getbbox()
    return rgba.crop(box) if box else rgba


def load_products(limit: int | None = None) -> list[Product]:
    from pipelines import matting
    from tools.assets import load_image

    products: list[Product] = []
    exact = sorted((REALDATA / "cutouts").glob("*.rgba.png")) + sorted((REALDATA / "masks").glob("*.rgba.png"))
    for path in exact:
        image = load_image(path).image
        if image.mode == "RGBA":
            products.append(Product(path.name.split(".")[0], _kind(path.name), _tight(image)))
    for folder in ("jewelry_packshot", "product_packshot"):
        for path in sorted((REALDATA / folder).glob("*.jpg")):
            try:
                result = matting.cut_out(load_image(path).image)
            except matting.MattingError:
                continue
            if result.confidence < 0.5:
                continue
            products.append(Product(path.stem, _kind(path.stem) if folder == "jewelry_packshot" else "other",
                                    _tight(result.rgba)))
    return products[:limit] if limit else products


# -- 2. rendering clean candidates ------------------------------------------------------------------------


def _backdrop(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    c0, c1 = rng.integers(90, 250, 3), rng.integers(60, 240, 3)
    t = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    base = c0 * (1 - t) + c1 * t
    texture = cv2.GaussianBlur(rng.normal(0, 10, (h, w)).astype(np.float32), (0, 0), 6)[..., None]
    return np.clip(np.broadcast_to(base, (h, w, 3)) + texture, 0, 255).astype(np.uint8)


def _photo_background(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    choices = sorted((REALDATA / "product_lifestyle").glob("unsplash_*.jpg"))
    photo = Image.open(choices[int(rng.integers(len(choices)))]).convert("RGB")
    scale = max(w / photo.width, h / photo.height)
    photo = photo.resize((round(photo.width * scale) + 1, round(photo.height * scale) + 1), Image.BILINEAR)
    x, y = int(rng.integers(0, photo.width - w + 1)), int(rng.integers(0, photo.height - h + 1))
    return np.asarray(photo.crop((x, y, x + w, y + h)))


def _plate() -> tuple[np.ndarray, tuple[float, float]]:
    plate = Image.open(REALDATA / "model_plates" / "ringvton_plate_left.jpg").convert("RGB")
    mask = np.asarray(Image.open(REALDATA / "model_plates" / "ringvton_plate_left.mask.png").convert("L")) > 127
    ys, xs = np.nonzero(mask)
    scale = FRAME / plate.height
    plate = plate.resize((round(plate.width * scale), FRAME), Image.LANCZOS)
    return np.asarray(plate), (float(xs.mean() * scale), float(ys.mean() * scale))


def composite(background: np.ndarray, cutout: Image.Image, x: int, y: int, shadow: bool = False) -> np.ndarray:
    canvas = Image.fromarray(background.copy())
    if shadow:
        alpha = cutout.getchannel("A").point(lambda a: a * 0.3)
        layer = Image.new("L", canvas.size, 0)
        layer.paste(alpha, (x + cutout.width // 50, y + cutout.height // 30))
        layer = layer.filter(__import__("PIL.ImageFilter", fromlist=["x"]).GaussianBlur(max(2, cutout.width // 60)))
        dark = Image.fromarray((background * 0.5).astype(np.uint8))
        canvas = Image.composite(dark, canvas, layer)
    canvas.paste(cutout, (x, y), cutout)
    return np.asarray(canvas)


def _jpeg(image: np.ndarray, quality: int) -> np.ndarray:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="JPEG", quality=quality)
    return np.asarray(Image.open(io.BytesIO(buffer.getvalue())).convert("RGB"))


def render(cutout: Image.Image, variant: str, rng: np.random.Generator, *, size_factor: float = 1.0,
           stretch: tuple[float, float] = (1.0, 1.0), recorded: Image.Image | None = None, cut_off: float = 0.0):
    """Composite a cutout for one clean variant. Returns (image, placement or None, mm_per_px or None).

    `recorded` is the cutout the engine believes it placed (its placement record); alterations
    render a different cutout under the clean record.
    """
    from tools.models import Placement

    recorded = recorded or cutout
    share = {"white_png": 0.85, "white_jpeg_nohint": 0.85, "resized": 0.8, "backdrop": 0.6, "backdrop_nohint": 0.6,
             "photo_bg": 0.42, "photo_bg_nohint": 0.42, "try_on": 0.2}[variant]
    W = H = FRAME
    if variant == "resized":
        W = H = 1600
    if variant.startswith("photo_bg"):
        H = 768
    if variant == "try_on":
        background, (ax, ay) = _plate()
        H, W = background.shape[:2]
    elif variant.startswith("white") or variant == "resized":
        background = np.full((H, W, 3), 255, np.uint8)
    elif variant.startswith("backdrop"):
        background = _backdrop(rng, W, H)
    else:
        background = _photo_background(rng, W, H)
    s = min(share * min(W, H) / max(recorded.size), 1.8)  # an engine does not blow a small photo up further
    rec_w, rec_h = recorded.width * s, recorded.height * s
    w = max(2, round(cutout.width * s * size_factor * stretch[0]))
    h = max(2, round(cutout.height * s * size_factor * stretch[1]))
    placed = cutout.resize((w, h), Image.LANCZOS)
    if variant == "try_on":
        cx, cy = ax, ay
    elif variant.startswith("photo_bg"):
        cx, cy = rng.uniform(0.3, 0.7) * W, rng.uniform(0.35, 0.65) * H
    else:
        cx, cy = W / 2, H / 2
    if cut_off:  # move right or left until this share of the product's width leaves the frame
        cx = W - w / 2 + cut_off * w if rng.uniform() < 0.5 else w / 2 - cut_off * w
    x, y = round(cx - w / 2), round(cy - h / 2)
    image = composite(background, placed, x, y, shadow=variant.startswith("backdrop"))
    rx, ry = cx - rec_w / 2, cy - rec_h / 2
    placement = Placement(x=rx, y=ry, width=rec_w, height=rec_h, scale=s)
    mm_per_px = None
    if variant == "try_on":
        mm_per_px = 0.1  # the plate's calibration; the product's real width follows from the recorded scale
        placement = placement.model_copy(update={"mm_per_px": mm_per_px})
    if variant.endswith("_nohint"):
        placement = None
    if variant == "resized":
        image = cv2.resize(image, (800, 800), interpolation=cv2.INTER_AREA)
        if placement is not None:
            placement = placement.model_copy(update={k: getattr(placement, k) / 2 for k in ("x", "y", "width", "height", "scale")})
    if variant != "white_png":
        image = _jpeg(image, {"white_jpeg_nohint": 80}.get(variant, 90))
    return image, placement, (recorded.width * s * mm_per_px if mm_per_px else None)


# -- 2b. clean candidates from the product's own renderers (pipelines/studio.py) -------------------------

STUDIO_VARIANTS = ("packshot", "packshot_jpeg", "resized", "detail", "backdrop", "campaign", "try_on")
NORECORD_VARIANTS = ("white_jpeg_nohint", "backdrop_nohint", "photo_bg_nohint")
ROLES = {"packshot": "packshot", "packshot_jpeg": "packshot", "resized": "packshot", "detail": "detail",
         "backdrop": "lifestyle", "campaign": "campaign", "try_on": "try_on", "white_jpeg_nohint": "packshot",
         "backdrop_nohint": "lifestyle", "photo_bg_nohint": "lifestyle", "white_png": "packshot", "photo_bg": "lifestyle"}
RING_MM = 20.0  # the true width recorded for every ring put on the hand plate
_PLATE: dict = {}


def _hand_plate():
    """The real hand plate, its anchor, the body silhouette (matting) and a 17 mm finger calibration."""
    if not _PLATE:
        from pipelines import matting, studio

        plate = Image.open(REALDATA / "model_plates" / "ringvton_plate_left.jpg").convert("RGB")
        anchor = studio.anchor_from_mask(Image.open(REALDATA / "model_plates" / "ringvton_plate_left.mask.png"))
        body = np.asarray(matting.cut_out(plate).rgba.getchannel("A")) > 127
        _PLATE.update(plate=plate, anchor=anchor, body=body, mm_per_px=17.0 / anchor.span_px)
    return _PLATE


def studio_render(cutout: Image.Image, variant: str, seed: int, *, width_mm: float = RING_MM):
    """Render a cutout the way the product does for one studio variant. Returns (image, placement)."""
    from pipelines import studio
    from tools.rendering import to_placement

    moods = ("warm", "fresh", "luxury", "minimal", "autumn", "summer")
    if variant in ("packshot", "packshot_jpeg"):
        out = studio.packshot(cutout, FRAME, FRAME, fill=0.85 if variant == "packshot" else 0.88,
                              shadow=variant == "packshot_jpeg")
    elif variant == "resized":
        out = studio.packshot(cutout, 1600, 1600, fill=0.86)
    elif variant == "detail":
        out = studio.detail(cutout, FRAME, FRAME, variant=seed % 2)
    elif variant == "backdrop":
        out = studio.backdrop(cutout, FRAME, FRAME, mood=moods[seed % 6], surface_kind=studio.SURFACES[seed % 5],
                              seed=seed, reflection=seed % 2 == 0)
    elif variant == "campaign":
        out = studio.campaign(cutout, ("4:5", "9:16", "16:9", "1:1")[seed % 4], mood=moods[(seed + 2) % 6],
                              seed=seed, long_side=FRAME)
    elif variant == "try_on":
        p = _hand_plate()
        out = studio.composite_try_on(p["plate"], cutout, p["anchor"], product_width_mm=width_mm,
                                      mm_per_px=p["mm_per_px"], body_mask=p["body"], size=(FRAME, FRAME),
                                      shadow=0.3 if seed % 2 == 0 else 0.2)
    else:
        raise ValueError(f"unknown studio variant {variant!r}")
    image = np.asarray(out.image.convert("RGB"))
    placement = to_placement(out.placed)
    if variant == "resized":  # a channel's downsize of the 1600 px render, record scaled with it
        k = 800 / image.shape[1]
        image = cv2.resize(image, (800, round(image.shape[0] * k)), interpolation=cv2.INTER_AREA)
        placement = placement.model_copy(update={n: getattr(placement, n) * k for n in ("x", "y", "width", "height", "scale")}
                                         | ({"mm_per_px": placement.mm_per_px / k} if placement.mm_per_px else {}))
    if variant in ("packshot_jpeg", "resized", "campaign", "try_on"):
        image = _jpeg(image, 85 if variant == "packshot_jpeg" else 90)
    return image, placement


# -- 3. alterations ----------------------------------------------------------------------------------------


def _hsv_edit(cutout: Image.Image, hue_deg: float = 0, sat: float = 1.0, val: float = 1.0) -> Image.Image:
    a = np.asarray(cutout).copy()
    hsv = cv2.cvtColor(a[..., :3], cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + hue_deg * 256 / 360) % 256
    hsv[..., 1] = np.clip(hsv[..., 1] * sat, 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * val, 0, 255)
    a[..., :3] = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB_FULL)
    return Image.fromarray(a, "RGBA")


def _tint(cutout: Image.Image, rng: np.random.Generator) -> Image.Image:
    a = np.asarray(cutout).astype(np.float32)
    cast = rng.choice([(1.1, 1.0, 0.86), (0.88, 1.0, 1.12), (1.0, 1.1, 0.9), (1.1, 0.9, 1.05)])
    a[..., :3] = np.clip(a[..., :3] * np.asarray(cast, np.float32), 0, 255)
    return Image.fromarray(a.astype(np.uint8), "RGBA")


MIN_VISIBLE = 0.015  # an alteration must visibly change at least this share of the product


def _visible_change(before: Image.Image, after: Image.Image) -> float:
    """Share of the product's pixels an edit visibly changed (Lab distance > 10, or opacity flipped)."""
    a, b = np.asarray(before), np.asarray(after)
    product = a[..., 3] > 200
    la = cv2.cvtColor(a[..., :3].astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    lb = cv2.cvtColor(b[..., :3].astype(np.float32) / 255, cv2.COLOR_RGB2Lab)
    changed = (np.linalg.norm(la - lb, axis=2) > 10) | (np.abs(a[..., 3].astype(int) - b[..., 3]) > 128)
    return float((changed & (product | (b[..., 3] > 200))).sum()) / max(1, int(product.sum()))


def _erase(cutout: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Erase a stone (a small region of distinct color) with the surrounding material, or cut off a part.

    Stones are tried from the most distinct; one whose erasure leaves no visible change (a region the
    surrounding material already resembles) does not count, and a part is cut off instead."""
    a = np.asarray(cutout).copy()
    alpha = a[..., 3] > 200
    area = int(alpha.sum())
    lab = cv2.cvtColor(a[..., :3], cv2.COLOR_RGB2Lab).astype(np.float32)
    pixels = lab[alpha]
    criteria = (cv2.TERM_CRITERIA_EPS + cv2.TERM_CRITERIA_MAX_ITER, 20, 1.0)
    cv2.setRNGSeed(int(rng.integers(1 << 30)))
    sample = pixels[rng.choice(len(pixels), min(4000, len(pixels)), replace=False)]
    _, _, centers = cv2.kmeans(sample, 4, None, criteria, 2, cv2.KMEANS_PP_CENTERS)
    dist = np.stack([np.linalg.norm(lab - c, axis=2) for c in centers])
    labels = dist.argmin(axis=0)
    stones = []
    typical = np.median(pixels, axis=0)
    for k in range(len(centers)):
        contrast = float(np.linalg.norm(centers[k] - typical))
        if contrast <= 25:
            continue
        mask = ((labels == k) & alpha).astype(np.uint8)
        count, comp, stats, _ = cv2.connectedComponentsWithStats(mask)
        for i in range(1, count):
            if 0.02 <= stats[i, cv2.CC_STAT_AREA] / area <= 0.12:
                stones.append((contrast, comp == i))
    for _contrast, stone in sorted(stones, key=lambda item: -item[0])[:4]:
        edited = a.copy()
        region = cv2.dilate(stone.astype(np.uint8), np.ones((5, 5), np.uint8))
        x, y, w, h = cv2.boundingRect(region)
        x0, y0 = max(0, x - 16), max(0, y - 16)
        x1, y1 = min(a.shape[1], x + w + 16), min(a.shape[0], y + h + 16)  # inpaint around the stone only
        edited[y0:y1, x0:x1, :3] = cv2.inpaint(np.ascontiguousarray(a[y0:y1, x0:x1, :3]),
                                               np.ascontiguousarray(region[y0:y1, x0:x1]), 7, cv2.INPAINT_TELEA)
        result = Image.fromarray(edited, "RGBA")
        if _visible_change(cutout, result) >= MIN_VISIBLE:
            return result
    # no distinct stone: cut off a part (alpha to zero in a disc at the product's edge)
    ys, xs = np.nonzero(alpha)
    i = int(rng.integers(len(xs)))
    r = np.sqrt(area * 0.06 / np.pi)
    yy, xx = np.mgrid[0:a.shape[0], 0:a.shape[1]]
    far = np.argmax((xs - xs.mean()) ** 2 + (ys - ys.mean()) ** 2)
    i = far if rng.uniform() < 0.7 else i
    disc = (xx - xs[i]) ** 2 + (yy - ys[i]) ** 2 < (2 * r) ** 2
    a[disc, 3] = 0
    return Image.fromarray(a, "RGBA")


def _paste(cutout: Image.Image, other: Image.Image, rng: np.random.Generator) -> Image.Image:
    """Paste a foreign element (an opaque oval cut from another product's densest part) onto the product."""
    a = np.asarray(cutout).copy()
    alpha = a[..., 3] > 200
    area = int(alpha.sum())
    side = max(8, int(np.sqrt(area * rng.uniform(0.03, 0.06))))
    o = np.asarray(other)
    density = cv2.boxFilter((o[..., 3] > 200).astype(np.float32), -1, (max(3, o.shape[1] // 4), max(3, o.shape[0] // 4)))
    cy, cx = np.unravel_index(np.argmax(density), density.shape)
    half = max(4, min(o.shape[0], o.shape[1]) // 8)
    patch = o[max(0, cy - half):cy + half, max(0, cx - half):cx + half, :3]
    patch = cv2.resize(patch, (side, side), interpolation=cv2.INTER_AREA)
    oval = np.zeros((side, side), np.uint8)
    cv2.ellipse(oval, (side // 2, side // 2), (side // 2 - 1, max(2, side // 3)), float(rng.uniform(0, 180)), 0, 360, 255, -1)
    inner = cv2.erode(alpha.astype(np.uint8), np.ones((3, 3), np.uint8)) > 0
    ys, xs = np.nonzero(inner if inner.any() else alpha)
    i = int(rng.integers(len(xs)))
    y0 = int(np.clip(ys[i] - side // 2, 0, a.shape[0] - side))
    x0 = int(np.clip(xs[i] - side // 2, 0, a.shape[1] - side))
    region = a[y0:y0 + side, x0:x0 + side]
    m = (oval[: region.shape[0], : region.shape[1]] > 0)
    region[..., :3][m] = patch[: region.shape[0], : region.shape[1]][m]
    region[..., 3][m] = 255
    return Image.fromarray(a, "RGBA")


def _changes(before: Image.Image, after: Image.Image) -> float:
    """Median CIEDE2000 an alteration causes on the product itself (to skip no-op alterations)."""
    from pipelines.vision import ciede2000

    a, b = np.asarray(before), np.asarray(after)
    m = a[..., 3] > 200
    la = cv2.cvtColor(a[..., :3].astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[m]
    lb = cv2.cvtColor(b[..., :3].astype(np.float32) / 255, cv2.COLOR_RGB2Lab)[m]
    return float(np.median(ciede2000(la, lb)))


ALTER_VARIANTS = ("packshot", "backdrop", "campaign", "packshot_jpeg", "resized", "try_on")


def _wearable(cutout, skipped: dict[str, int]) -> bool:
    """Whether the try-on engine puts this ring on the hand plate: it refuses a ring photographed from the side or
    lying down, and two rings photographed together (studio.ring_view); those have no try-on case, counted as
    skipped."""
    from pipelines.studio import ring_view, trim

    view = ring_view(trim(cutout)[0])
    if view not in ("side", "pair"):
        return True
    reason = ("try-on refused by the engine (ring seen from the side or lying down)" if view == "side" else
              "try-on refused by the engine (two rings in one photo)")
    skipped[reason] = skipped.get(reason, 0) + 1
    return False


def build_cases(products: list[Product], seed: int = 0) -> tuple[list[Case], dict]:
    """Clean candidates from the studio renderers with their placement records, a separate group of clean
    images made elsewhere (no placement record), and altered candidates rendered by the same renderers
    from an edited cutout under the clean render's placement record."""
    rng = np.random.default_rng(seed)
    cases: list[Case] = []
    skipped: dict[str, int] = {}
    for index, product in enumerate(products):
        cut = product.cutout
        ring = product.kind == "ring" and _wearable(cut, skipped)  # the try-on is for rings (the hand plate)
        records: dict[str, object] = {}

        def studio_case(label, variant, image_cutout, product=product, cut=cut, records=records, width_mm=RING_MM,
                        index=index):
            s = index * 7 + len(cases)
            if variant not in records:
                records[variant] = studio_render(cut, variant, s)[1]
            image, placement = studio_render(image_cutout, variant, s, width_mm=width_mm)
            if label != "clean":
                placement = records[variant]  # the engine's record describes what it meant to place
            cases.append(Case(product.name, label, variant, image, placement, cut,
                              RING_MM if variant == "try_on" else None, {"group": "studio"}))

        def other_case(label, variant, image_cutout, product=product, cut=cut, **kw):
            image, placement, mm = render(image_cutout, variant, rng, recorded=cut, **kw)
            group = "norecord" if placement is None else "studio"
            cases.append(Case(product.name, label, variant, image, placement, cut, mm, {"group": group}))

        # 1. clean: every studio variant (try-on for rings), then the images made elsewhere
        for variant in STUDIO_VARIANTS:
            if variant == "try_on" and not ring:
                continue
            studio_case("clean", variant, cut)
        for variant in NORECORD_VARIANTS:
            other_case("clean", variant, cut)

        # 2. altered
        variants = [v for v in ALTER_VARIANTS if ring or v != "try_on"]
        pick = lambda k, index=index, variants=variants: variants[(index + k) % len(variants)]  # noqa: E731
        color_edits = {
            "hue": _hsv_edit(cut, hue_deg=float(rng.choice([-1, 1]) * rng.uniform(10, 20))),
            "tint": _tint(cut, rng),
            "brightness": _hsv_edit(cut, val=float(rng.choice([0.82, 1.18]))),
            "saturation": _hsv_edit(cut, sat=float(rng.choice([0.6, 1.5]))),
        }
        for k, (label, edited) in enumerate(color_edits.items()):
            if _changes(cut, edited) < 2.0:
                skipped[label] = skipped.get(label, 0) + 1  # achromatic product: the edit changes nothing visible
                continue
            studio_case(label, pick(k), edited)
        studio_case("erased", pick(4), _erase(cut, rng))
        others = [p for p in products if p is not product]
        # a foreign element: from another product, redrawn when its colors happen to match this one's
        for _attempt in range(6):
            pasted = _paste(cut, others[int(rng.integers(len(others)))].cutout, rng)
            if _visible_change(cut, pasted) >= MIN_VISIBLE:
                break
            skipped["pasted (invisible, redrawn)"] = skipped.get("pasted (invisible, redrawn)", 0) + 1
        studio_case("pasted", pick(5), pasted)
        stretch = (1.1, 1.0) if rng.uniform() < 0.5 else (1.0, 1.1)
        stretched = cut.resize((round(cut.width * stretch[0]), round(cut.height * stretch[1])), Image.LANCZOS)
        studio_case("stretch", pick(6), stretched)
        if ring:  # 0.7x on try-on: the record claims the true width; the product shows at 0.7x
            studio_case("scale_0.7", "try_on", cut, width_mm=0.7 * RING_MM)
        # cut by the frame: moved so 10-30 % of its width leaves the frame (no studio renderer does this)
        other_case("cut_by_frame", ("white_png", "backdrop", "photo_bg")[index % 3], cut, cut_off=float(rng.uniform(0.1, 0.3)))
        same = [p for p in others if p.kind == product.kind] or others
        studio_case("different_product", pick(7), same[int(rng.integers(len(same)))].cutout)
    return cases, skipped


# -- 4. scoring ------------------------------------------------------------------------------------------


FIDELITY = {"placement", "scale", "complete", "proportions", "silhouette", "outline_region", "color", "color_extremes",
            "changed_region", "structure", "missing_detail", "added_detail", "sharpness", "clipping", "noise"}
# "upscale" judges the source photo's size (the packshot renderer enlarges a small source to the channel's
# minimum size and says so); it is the same for clean and altered candidates, so it is reported apart.


def evaluate(case: Case):
    from tools.critique import critique_images, verdict
    from tools.models import Category, Dimensions
    from tools.models import Product as ProductModel
    from tools.settings import Settings

    product = None
    if case.product_mm:
        product = ProductModel(sku="BENCH", category=Category.ring, dimensions=Dimensions(width_mm=case.product_mm))
    role = ROLES[case.variant]
    started = time.perf_counter()
    critique = critique_images(Settings(), case.cutout, Image.fromarray(case.image), role, None,
                               placement=case.placement, product=product, main=False)
    elapsed = time.perf_counter() - started
    checks = [c for c in critique.checks if c.name in FIDELITY]
    case.meta["upscale_failed"] = any(c.name == "upscale" and not c.passed for c in critique.checks)
    result, score = verdict(checks)
    failed = [c.name for c in checks if not c.passed]
    case.meta["values"] = {c.name: c.value for c in checks}
    return result == "fail", 1.0 - score, failed, elapsed


def held_out(product: str) -> bool:
    """The held-out half, split by product (stable across runs): limits are tuned on the other half."""
    return zlib.crc32(product.encode()) % 2 == 1


def baselines(case: Case) -> tuple[float, float]:
    """Whole-image SSIM and pHash distance between the source on white and the candidate."""
    import imagehash
    from skimage.metrics import structural_similarity

    src = Image.new("RGB", case.cutout.size, (255, 255, 255))
    src.paste(case.cutout, mask=case.cutout.getchannel("A"))
    cand = Image.fromarray(case.image)
    a = np.asarray(src.convert("L").resize((256, 256)), np.float32)
    b = np.asarray(cand.convert("L").resize((256, 256)), np.float32)
    ssim = structural_similarity(a, b, data_range=255)
    distance = imagehash.phash(src) - imagehash.phash(cand)
    return -float(ssim), float(distance)


def auc(pos: list[float], neg: list[float]) -> float:
    if not pos or not neg:
        return float("nan")
    p, n = np.asarray(pos)[:, None], np.asarray(neg)[None, :]
    return float(((p > n).sum() + 0.5 * (p == n).sum()) / (p.size * n.size))


def report(rows: list, title: str, baseline: bool = True) -> bool:
    """Print the per-alteration table for these rows against their clean studio renders; True when on target."""
    clean = [r for r in rows if r[0].label == "clean" and r[0].meta["group"] == "studio"]
    labels = list(dict.fromkeys(r[0].label for r in rows if r[0].label != "clean"))
    false_rate = float(np.mean([r[1] for r in clean]))
    ok = True
    print(f"\n{title}")
    print(f"{'alteration':<18} {'n':>4} {'caught':>7} {'AUC':>6}" + (f" {'AUC SSIM':>9} {'AUC pHash':>10}" if baseline else "")
          + "  usual failing checks")
    all_alt = []
    for label in labels:
        group = [r for r in rows if r[0].label == label]
        all_alt += group
        caught = float(np.mean([r[1] for r in group]))
        a = auc([r[2] for r in group], [r[2] for r in clean])
        names: dict[str, int] = {}
        for r in group:
            for n in r[3]:
                names[n] = names.get(n, 0) + 1
        usual = ", ".join(f"{n} {c}" for n, c in sorted(names.items(), key=lambda kv: -kv[1])[:3])
        ok &= caught >= TARGET_CATCH and a >= TARGET_AUC
        base = (f" {auc([r[4] for r in group], [r[4] for r in clean]):>9.3f} "
                f"{auc([r[5] for r in group], [r[5] for r in clean]):>10.3f}") if baseline else ""
        print(f"{label:<18} {len(group):>4} {caught:>7.1%} {a:>6.3f}{base}  {usual}")
    caught_all = float(np.mean([r[1] for r in all_alt]))
    a_all = auc([r[2] for r in all_alt], [r[2] for r in clean])
    base = (f" {auc([r[4] for r in all_alt], [r[4] for r in clean]):>9.3f} "
            f"{auc([r[5] for r in all_alt], [r[5] for r in clean]):>10.3f}") if baseline else ""
    print(f"{'overall':<18} {len(all_alt):>4} {caught_all:>7.1%} {a_all:>6.3f}{base}")
    print(f"{'clean rejected':<18} {len(clean):>4} {false_rate:>7.1%}   studio renders with their placement record "
          f"(target <= {TARGET_FALSE:.0%})")
    by_variant: dict[str, list] = {}
    for r in clean:
        by_variant.setdefault(r[0].variant, []).append(r[1])
    print("  by variant: " + ", ".join(f"{k} {np.mean(v):.0%}" for k, v in by_variant.items()))
    small = float(np.mean([r[0].meta.get("upscale_failed", False) for r in clean]))
    print(f"  besides: the upscale check (source photo too small for the frame) flags {small:.0%} of them")
    norecord = [r for r in rows if r[0].label == "clean" and r[0].meta["group"] == "norecord"]
    if norecord:
        nb: dict[str, list] = {}
        for r in norecord:
            nb.setdefault(r[0].variant, []).append(r[1])
        print(f"{'no placement record':<18} {len(norecord):>3} {float(np.mean([r[1] for r in norecord])):>7.1%}   "
              "clean images made elsewhere (reported apart): " + ", ".join(f"{k} {np.mean(v):.0%}" for k, v in nb.items()))
    return ok and a_all >= TARGET_AUC and false_rate <= TARGET_FALSE


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit-products", type=int)
    parser.add_argument("--quick", action="store_true", help="every third product (for iteration)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--verbose", action="store_true", help="list misclassified candidates")
    parser.add_argument("--dump", help="write every candidate's check values to this JSON file")
    args = parser.parse_args(argv)
    if not REALDATA.is_dir():
        print(f"bench_vision: skipped, {REALDATA} is absent")
        return 0
    cv2.setNumThreads(1)
    import tools.critique  # noqa: F401  (load the code under test once, before the long run)

    # 1. Build the labelled set.
    started = time.perf_counter()
    products = load_products(args.limit_products)
    if args.quick:
        products = products[::3]
    cases, skipped = build_cases(products, args.seed)
    print(f"{len(products)} real products, {len(cases)} candidates "
          f"({sum(c.label == 'clean' for c in cases)} clean), built in {time.perf_counter() - started:.0f} s")
    if skipped:
        print("alterations skipped or redrawn as invisible (achromatic products, matching colors): "
              + ", ".join(f"{k} {v}" for k, v in sorted(skipped.items())))

    # 2. Critique every candidate; time the 1024 px ones.
    rows = []
    times = []
    for case in cases:
        rejected, risk, failed, elapsed = evaluate(case)
        ssim_b, phash_b = baselines(case)
        rows.append((case, rejected, risk, failed, ssim_b, phash_b))
        if max(case.image.shape[:2]) == FRAME:
            times.append(elapsed * 1000)

    if args.dump:
        import json

        Path(args.dump).write_text(json.dumps([{"label": r[0].label, "variant": r[0].variant, "product": r[0].product,
                                                 "group": r[0].meta["group"], "rejected": r[1],
                                                 "values": r[0].meta["values"]} for r in rows]))

    # 3. Report: all products, then the held-out half.
    ok = report(rows, "all products")
    held = [r for r in rows if held_out(r[0].product)]
    report(held, f"held-out half ({len({r[0].product for r in held})} products)", baseline=False)
    t = np.asarray(times)
    print(f"\ntime per 1024 px candidate: median {np.median(t):.0f} ms, p90 {np.percentile(t, 90):.0f} ms "
          f"(target <= {TARGET_MS:.0f} ms; 1 OpenCV thread)")
    ok &= float(np.median(t)) <= TARGET_MS
    if args.verbose:
        for case, rejected, risk, failed, *_ in rows:
            if rejected != (case.label != "clean"):
                print(f"  miss: {case.label:<16} {case.variant:<18} {case.meta['group']:<8} {case.product:<30} "
                      f"risk {risk:.2f} {failed}")
    print("targets met" if ok else "targets missed")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
