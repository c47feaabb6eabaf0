"""Demo products drawn by the project itself: exact-alpha cutouts and studio "photos" made from them.

They let anyone try the app with no photos of their own ("try a demo product") and give tests a
ground truth (the alpha is known exactly). Nothing here comes from outside the repository.
"""

from __future__ import annotations

import io
import math
from dataclasses import dataclass, field

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from tools.models import Category, Dimensions

SUPERSAMPLE = 3


@dataclass(frozen=True)
class DemoProduct:
    sku: str
    category: Category
    title: str
    brief: str
    dimensions: Dimensions
    materials: list[str] = field(default_factory=list)
    colors: list[str] = field(default_factory=list)


DEMO_PRODUCTS: dict[str, DemoProduct] = {
    "DEMO-RING": DemoProduct(
        "DEMO-RING", Category.ring, "Gold ring with a blue sapphire",
        "gold ring with a sapphire, 21 mm wide, US size 7, for Amazon and Etsy, warm holiday mood",
        Dimensions(width_mm=21.0, height_mm=24.0, inner_diameter_mm=17.3), ["gold", "sapphire"], ["gold", "blue"],
    ),
    "DEMO-NECKLACE": DemoProduct(
        "DEMO-NECKLACE", Category.necklace, "Silver pendant necklace with an emerald drop",
        "silver pendant necklace with an emerald, 45 cm chain, pendant 20 mm, for Shopify, fresh spring mood",
        Dimensions(width_mm=160.0, height_mm=240.0), ["silver", "emerald"], ["silver", "green"],
    ),
    "DEMO-EARRINGS": DemoProduct(
        "DEMO-EARRINGS", Category.earrings, "Gold hoop earrings",
        "gold hoops, 30 mm, for Etsy and Amazon, something cosy for Christmas",
        Dimensions(width_mm=30.0, height_mm=30.0), ["gold"], ["gold"],
    ),
    "DEMO-BRACELET": DemoProduct(
        "DEMO-BRACELET", Category.bracelet, "Rose gold bangle with pearls",
        "rose gold bangle with pearls, 65 mm across, for Amazon, minimal elegant mood",
        Dimensions(width_mm=65.0, height_mm=65.0), ["rose gold", "pearl"], ["pink", "white"],
    ),
    "DEMO-TEE": DemoProduct(
        "DEMO-TEE", Category.apparel_top, "Navy cotton tee with a coral stripe",
        "navy cotton t-shirt with a coral chest stripe, flat lay, for Zalando and Shopify, summer mood",
        Dimensions(width_mm=520.0, height_mm=700.0), ["cotton"], ["navy", "coral"],
    ),
}


def _canvas(size: int) -> tuple[Image.Image, ImageDraw.ImageDraw]:
    image = Image.new("RGBA", (size * SUPERSAMPLE, size * SUPERSAMPLE), (0, 0, 0, 0))
    return image, ImageDraw.Draw(image)


def _finish(image: Image.Image, size: int) -> Image.Image:
    return image.resize((size, size), Image.LANCZOS)


def _shade(image: Image.Image, light: float = 0.35) -> Image.Image:
    """A soft top-left highlight so the metal reads as metal (keeps alpha exactly)."""
    array = np.asarray(image).astype(np.float32)
    h, w = array.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    gradient = 1.0 + light * (0.5 - (xx / w + yy / h) / 2.0)
    array[..., :3] = np.clip(array[..., :3] * gradient[..., None], 0, 255)
    return Image.fromarray(array.astype(np.uint8), "RGBA")


def draw_ring(size: int = 900) -> Image.Image:
    image, draw = _canvas(size)
    s = SUPERSAMPLE * size / 900
    cx, cy = 450 * s, 520 * s
    draw.ellipse([cx - 300 * s, cy - 300 * s, cx + 300 * s, cy + 300 * s], fill=(212, 168, 64, 255))
    draw.ellipse([cx - 245 * s, cy - 245 * s, cx + 245 * s, cy + 245 * s], fill=(0, 0, 0, 0))
    # setting and stone
    draw.polygon([(cx - 90 * s, cy - 270 * s), (cx + 90 * s, cy - 270 * s), (cx + 60 * s, cy - 215 * s),
                  (cx - 60 * s, cy - 215 * s)], fill=(190, 150, 55, 255))
    draw.ellipse([cx - 95 * s, cy - 420 * s, cx + 95 * s, cy - 240 * s], fill=(28, 62, 170, 255))
    draw.polygon([(cx - 40 * s, cy - 390 * s), (cx + 10 * s, cy - 400 * s), (cx - 20 * s, cy - 330 * s)],
                 fill=(120, 160, 240, 255))
    return _shade(_finish(image, size))


def draw_necklace(size: int = 900) -> Image.Image:
    image, draw = _canvas(size)
    s = SUPERSAMPLE * size / 900
    points = []
    for i in range(121):
        t = math.pi * i / 120
        points.append((450 * s + 330 * s * math.cos(t), 120 * s + 420 * s * math.sin(t)))
    for a, b in zip(points, points[1:], strict=False):
        draw.line([a, b], fill=(200, 200, 205, 255), width=max(1, int(7 * s)))
    bottom = (450 * s, 540 * s)
    draw.ellipse([bottom[0] - 22 * s, bottom[1] - 10 * s, bottom[0] + 22 * s, bottom[1] + 34 * s],
                 outline=(200, 200, 205, 255), width=int(8 * s))
    draw.polygon([(450 * s, 570 * s), (540 * s, 680 * s), (450 * s, 820 * s), (360 * s, 680 * s)],
                 fill=(205, 205, 210, 255))
    draw.polygon([(450 * s, 595 * s), (515 * s, 680 * s), (450 * s, 790 * s), (385 * s, 680 * s)],
                 fill=(16, 140, 80, 255))
    return _shade(_finish(image, size), 0.25)


def draw_earrings(size: int = 900) -> Image.Image:
    image, draw = _canvas(size)
    s = SUPERSAMPLE * size / 900
    for cx in (250 * s, 650 * s):
        cy = 470 * s
        draw.ellipse([cx - 170 * s, cy - 170 * s, cx + 170 * s, cy + 170 * s], fill=(218, 172, 60, 255))
        draw.ellipse([cx - 138 * s, cy - 138 * s, cx + 138 * s, cy + 138 * s], fill=(0, 0, 0, 0))
        draw.rectangle([cx - 6 * s, cy - 230 * s, cx + 6 * s, cy - 160 * s], fill=(200, 160, 60, 255))
    return _shade(_finish(image, size))


def draw_bracelet(size: int = 900) -> Image.Image:
    image, draw = _canvas(size)
    s = SUPERSAMPLE * size / 900
    cx, cy = 450 * s, 450 * s
    draw.ellipse([cx - 360 * s, cy - 360 * s, cx + 360 * s, cy + 360 * s], fill=(214, 150, 130, 255))
    draw.ellipse([cx - 310 * s, cy - 310 * s, cx + 310 * s, cy + 310 * s], fill=(0, 0, 0, 0))
    for k in range(12):
        t = 2 * math.pi * k / 12
        px, py = cx + 335 * s * math.cos(t), cy + 335 * s * math.sin(t)
        draw.ellipse([px - 34 * s, py - 34 * s, px + 34 * s, py + 34 * s], fill=(244, 240, 228, 255))
    return _shade(_finish(image, size), 0.3)


def draw_tee(size: int = 900) -> Image.Image:
    image, draw = _canvas(size)
    s = SUPERSAMPLE * size / 900
    body = [(250, 130), (360, 90), (450, 130), (540, 90), (650, 130), (820, 260), (730, 370), (660, 320),
            (660, 820), (240, 820), (240, 320), (170, 370), (80, 260)]
    draw.polygon([(x * s, y * s) for x, y in body], fill=(28, 40, 88, 255))
    draw.ellipse([390 * s, 70 * s, 510 * s, 170 * s], fill=(0, 0, 0, 0))
    draw.rectangle([240 * s, 420 * s, 660 * s, 470 * s], fill=(240, 110, 90, 255))
    draw.rectangle([240 * s, 490 * s, 660 * s, 505 * s], fill=(240, 110, 90, 255))
    return _shade(_finish(image, size), 0.15)


_DRAWERS = {
    "DEMO-RING": draw_ring,
    "DEMO-NECKLACE": draw_necklace,
    "DEMO-EARRINGS": draw_earrings,
    "DEMO-BRACELET": draw_bracelet,
    "DEMO-TEE": draw_tee,
}


def demo_cutout(sku: str, size: int = 900) -> Image.Image:
    """The product with its exact alpha (RGBA)."""
    return _DRAWERS[sku](size)


def studio_photo(cutout: Image.Image, background=(255, 255, 255), margin: float = 0.18, shadow: bool = True,
                 seed: int = 0) -> Image.Image:
    """Place a cutout on a studio background with a soft cast shadow and a little sensor noise."""
    w, h = cutout.size
    pad_w, pad_h = int(w * margin), int(h * margin)
    canvas = Image.new("RGB", (w + 2 * pad_w, h + 2 * pad_h), background)
    if shadow:
        alpha = cutout.getchannel("A")
        shadow_layer = Image.new("L", canvas.size, 0)
        shadow_layer.paste(alpha.point(lambda a: a * 0.35), (pad_w + w // 40, pad_h + h // 25))
        shadow_layer = shadow_layer.filter(ImageFilter.GaussianBlur(radius=max(2, w // 60)))
        dark = Image.new("RGB", canvas.size, tuple(int(c * 0.55) for c in background))
        canvas = Image.composite(dark, canvas, shadow_layer)
    canvas.paste(cutout, (pad_w, pad_h), cutout)
    rng = np.random.default_rng(seed)
    array = np.asarray(canvas).astype(np.int16) + rng.integers(-2, 3, size=(canvas.height, canvas.width, 1))
    return Image.fromarray(np.clip(array, 0, 255).astype(np.uint8), "RGB")


def demo_photo_bytes(sku: str, size: int = 900) -> bytes:
    """A JPEG studio photo of a demo product, as a seller would upload it."""
    buffer = io.BytesIO()
    studio_photo(demo_cutout(sku, size)).save(buffer, format="JPEG", quality=92)
    return buffer.getvalue()
