"""The rules: channel specs (sizes, formats, what the main image may show) and the page map that turns
a product category into a gallery plan (which shots, for which slot and channel).

Pure functions of the product, the brief and the channels; no images and no catalog access (the
caller passes the registered plates when it knows them).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tools.errors import BadInput
from tools.models import (
    APPAREL,
    JEWELRY,
    Brief,
    Category,
    Channel,
    GalleryPlan,
    NotPlanned,
    Plate,
    Product,
    Role,
    Shot,
    Slot,
    normalize_channel,
)


@dataclass(frozen=True)
class ChannelSpec:
    """One channel's image rules. `width` x `height` is the size we render the main image at."""

    channel: Channel
    width: int
    height: int
    min_long_side: int  # the channel's minimum for zoom / upload
    max_long_side: int
    formats: tuple[str, ...]
    main_pure_white: bool = False  # main image: product alone on RGB 255,255,255
    main_share: float = 0.0  # main image: product's longer side / frame side, at least
    main_no_model_jewelry: bool = False  # jewelry main image: no model, hand or mannequin
    main_shadow_allowed: bool = True
    jewelry_main_max_long_side: int | None = None  # jewelry main image: long side at most this
    no_text: bool = False  # no text, logos, watermarks, borders on the main image
    no_borders: bool = False
    thumbnail_aspect: str | None = None  # the grid crops the main image to this aspect
    background: tuple[int, int, int] = (255, 255, 255)
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def main_white(self) -> bool:
        return self.main_pure_white

    @property
    def aspect(self) -> str:
        from math import gcd

        g = gcd(self.width, self.height)
        return f"{self.width // g}:{self.height // g}"


CHANNEL_SPECS: dict[Channel, ChannelSpec] = {
    Channel.amazon: ChannelSpec(
        Channel.amazon, 2000, 2000, 1000, 10000, ("JPEG", "PNG", "TIFF", "GIF"), main_pure_white=True,
        main_share=0.85, main_no_model_jewelry=True, main_shadow_allowed=False, no_text=True, no_borders=True,
        jewelry_main_max_long_side=2100,
        notes=("MAIN: product alone on pure white (255,255,255), filling >= 85 % of the frame; no text, logos, "
               "props, models or mannequins for jewelry; >= 1000 px on the long side for zoom, jewelry "
               "1000-2100 px",)),
    Channel.etsy: ChannelSpec(
        Channel.etsy, 2000, 1600, 635, 10000, ("JPEG", "PNG", "GIF"), thumbnail_aspect="4:3",
        notes=("the first photo is cropped to 4:3 in search results; keep the product centred",)),
    Channel.shopify: ChannelSpec(
        Channel.shopify, 2048, 2048, 800, 4472, ("JPEG", "PNG", "WEBP", "GIF"),
        notes=("square 2048 px images keep the theme grid even",)),
    Channel.ebay: ChannelSpec(
        Channel.ebay, 1600, 1600, 500, 9000, ("JPEG", "PNG", "TIFF", "BMP", "GIF"), no_borders=True, no_text=True,
        notes=("white or light background preferred; no borders or added text",)),
    Channel.google: ChannelSpec(
        Channel.google, 1500, 1500, 250, 8000, ("JPEG", "PNG", "GIF", "WEBP", "BMP", "TIFF"), main_pure_white=True,
        main_share=0.5, no_text=True, no_borders=True,
        notes=("main image on a plain white background, no promotional overlays or watermarks",)),
    Channel.zalando: ChannelSpec(
        Channel.zalando, 1801, 2600, 1801, 6000, ("JPEG", "PNG"),
        notes=("portrait 1801x2600 images; apparel shown on a model or packshot",)),
}

# One enlargement policy for small photos (README "Small photos"), stated and applied alike by the render
# warnings, `check`, the gallery's cards and `publish`: a product may be enlarged up to ENLARGE_FREE times
# its source photo; up to ENLARGE_LIMIT times only to reach a channel's minimum size, with a visible warning
# and a record in the manifest; never beyond (a larger photo is needed); and never at all (1x) for channels
# whose rules forbid upscaled images.
ENLARGE_FREE = 2.0
ENLARGE_LIMIT = 3.0
ENLARGE_NOTICE = 1.01  # beyond this a product counts as enlarged (the engines warn from here on, pipelines/)
NO_UPSCALE_CHANNELS = frozenset({Channel.google})  # Google Merchant Center: "do not upscale images"


def enlarge_limits(channel: Channel | None) -> tuple[float, float]:
    """(free, limit) enlargement beyond the source photo for a channel (None: any channel)."""
    if channel in NO_UPSCALE_CHANNELS:
        return 1.0, 1.0
    return ENLARGE_FREE, ENLARGE_LIMIT


def enlargement_note(factor: float, channel: Channel | None) -> tuple[str, str]:
    """("ok" | "warn" | "refuse", the seller's sentence) for a product enlarged `factor` times its photo."""
    free, limit = enlarge_limits(channel)
    where = f" for {channel_words(channel)}" if channel else ""
    if factor <= free + 1e-6:
        if factor <= ENLARGE_NOTICE:
            return "ok", "not enlarged beyond the source photo"
        return "ok", f"enlarged {factor:.2f}x beyond the source photo, within the {free:g}x allowed{where}"
    if factor <= limit + 1e-6:
        return "warn", (f"enlarged {factor:.1f}x beyond the source photo to reach the channel's minimum size; it may "
                        "look soft when zoomed: a larger photo would be sharper")
    if limit <= 1.0:
        return "refuse", (f"enlarged {factor:.1f}x beyond the source photo, and{where} images may not be upscaled: "
                          "use a larger photo")
    return "refuse", (f"enlarged {factor:.1f}x beyond the source photo (limit {limit:g}x{where}): it would look "
                      "blurry; upload a larger photo")


# the fill of the main image per category family (within the channel's minimum)
JEWELRY_FILL = 0.86  # 80-90 % for jewelry; >= 85 % for Amazon
DEFAULT_FILL = 0.88
PLATE_KIND = {Category.ring: "hand", Category.necklace: "neck", Category.earrings: "ear",
              Category.bracelet: "wrist", Category.watch: "wrist"}
CAMPAIGN_SIZES = {"1:1": (1080, 1080), "4:5": (1080, 1350), "9:16": (1080, 1920), "16:9": (1920, 1080),
                  "1.91:1": (1200, 628)}
# The photo that enables a try-on, per plate kind, in the seller's words.
TRY_ON_PHOTO = {"hand": "a photo of a hand with the ring finger in view", "neck": "a photo of a neckline",
                "ear": "a photo of an ear with the hair tucked back", "wrist": "a photo of a wrist"}
NEEDS_DIFFUSION = "needs a diffusion model: see README; the built-in engine does not draw people"
MODEL_ROLES = frozenset({Role.on_model, Role.model_swap})
MOOD_SURFACE = {"holiday": "marble", "warm": "linen", "fresh": "paper", "summer": "wood", "minimal": "sweep",
                "luxury": "marble", "autumn": "wood"}


def primary_channel(channels: list[Channel]) -> Channel:
    """The channel whose rules the main image and the try-on follow: Amazon when listed (the strictest)."""
    return Channel.amazon if Channel.amazon in channels or not channels else channels[0]


def main_fill(category: Category, spec: ChannelSpec) -> float:
    fill = JEWELRY_FILL if category in JEWELRY else DEFAULT_FILL
    return max(fill, spec.main_share + 0.01) if spec.main_share else fill


def _plate_usable(plate: Plate, kind: str) -> bool:
    return plate.kind == kind


# Where a seller adds a model photo (the spot the jewelry sits on painted, the model's consent ticked): the app's
# panel of that name (ui/app.py); `listing-studio plate add` does the same from the command line.
ADD_MODEL_PHOTO = "add one in the app under \"Model photos for try-ons\""


def channel_words(channel: Channel) -> str:
    """A channel as sellers write it: "Amazon", "eBay"."""
    return {"ebay": "eBay"}.get(channel.value, channel.value.capitalize())


def try_on_request(kind: str, channel: Channel, plates_of_kind: int) -> str:
    """What the seller should add so that a try-on can be made, and where in the app, in plain words."""
    photo, where = TRY_ON_PHOTO[kind], channel_words(channel)
    if plates_of_kind:
        return (f"a try-on needs {photo} whose model agreed to its use on {where}; none of your {kind} photos has "
                f"that consent yet: {ADD_MODEL_PHOTO} with {where} ticked, then say \"add a try-on\"")
    return (f"a try-on needs {photo}, plain background, from a model who agreed to its use on {where}: "
            f"{ADD_MODEL_PHOTO}, then say \"add a try-on\"")


def closeup_refusal(photo_size: tuple[int, int] | None) -> str:
    """Why a photo of this size gets no close-up ("" when it can have one): a close-up is cut from the photo
    at <= 2x, so it needs pipelines.studio.DETAIL_MIN_PHOTO px on the short side."""
    from pipelines.studio import DETAIL_MIN_PHOTO

    if photo_size is None or min(photo_size) >= DETAIL_MIN_PHOTO:
        return ""
    return (f"a close-up needs a photo of at least {DETAIL_MIN_PHOTO} px on the short side; yours is "
            f"{photo_size[0]}×{photo_size[1]}")


def plan_gallery(product: Product, brief: Brief | None, channels: list[Channel] | list[str] | tuple = (),
                 *, plates: list[Plate] | None = None, consents: dict[str, str | None] | None = None,
                 diffusion: bool = False, photo_size: tuple[int, int] | None = None) -> GalleryPlan:
    """The gallery plan for a product: one Shot per image to make.

    Page map: grid = the main packshot (product alone; on pure white where the channel demands it),
    gallery_2 = try-on for scale (jewelry, when a plate exists) or on-model (apparel), gallery_3 = a
    close-up detail, hero = a designed lifestyle backdrop, campaign = campaign variants. `plates`
    (registered plates, when the caller knows them) decides whether a try-on can be made; `consents`
    maps a plate id to why its talent's consent does not cover the main channel (None = covered).
    `diffusion`: a usable diffusion model renders the shots (on-model, model swap); without one those
    shots are not planned but listed in `not_planned` with what they need.
    `photo_size` (the main photo's width, height, when known) decides whether a close-up can be made.
    """
    # 1. Check inputs
    brief = brief or Brief()
    chans = [normalize_channel(c) if not isinstance(c, Channel) else c for c in (channels or brief.channels)]
    chans = list(dict.fromkeys(chans)) or [Channel.amazon]
    category = product.category
    primary = primary_channel(chans)
    spec = CHANNEL_SPECS[primary]
    count = brief.count or 2
    mood = brief.mood or brief.season or ""
    notes: list[str] = []
    excluded = set(brief.exclude_roles)
    shots: list[Shot] = []
    not_planned: list[NotPlanned] = []

    def cannot(role: Role, slot: Slot, reason: str, needs: str, channel: Channel | None = primary) -> None:
        if role in excluded or any(n.role is role for n in not_planned):
            return
        not_planned.append(NotPlanned(role=role, slot=slot, channel=channel, reason=reason, needs=needs))
        notes.append(f"no {role.value.replace('_', '-')}: {reason}")

    def add(role: Role, slot: Slot, width: int, height: int, scene: str, options: dict | None = None,
            channel: Channel | None = primary, n: int | None = None) -> None:
        if role in excluded:
            notes.append(f"skipped {role.value} ({slot.value}): declined in the brief")
            return
        shots.append(Shot(role=role, slot=slot, channel=channel, width=width, height=height, scene=scene,
                          mood=mood, count=n or count, options=options or {}))

    # 2. Grid: the main image, product alone
    main_scene = "product alone, centred"
    if spec.main_pure_white:
        main_scene += f" on pure white, filling >= {spec.main_share:.0%} of the frame"
    add(Role.packshot, Slot.grid, spec.width, spec.height, main_scene,
        {"fill": main_fill(category, spec), "background": "white", "shadow": False, "main": True,
         "min_long_side": max(1000, spec.min_long_side)})
    if category in JEWELRY and spec.main_no_model_jewelry:
        notes.append(f"the {primary.value.capitalize()} main image shows the product alone on white: no model, hand or "
                     "mannequin")

    # 3. Gallery 2: scale on the body (jewelry try-on), on-model for apparel, else a second scene
    kind = PLATE_KIND.get(category)
    if category in JEWELRY or category is Category.watch:
        candidates = [p for p in (plates or []) if _plate_usable(p, kind)] if plates is not None else None
        if candidates is not None and consents is not None:
            candidates = [p for p in candidates if consents.get(p.id) is None]
        if candidates is None:
            add(Role.try_on, Slot.gallery_2, 1600, 1600, f"{category.value} worn on a registered {kind} plate, true scale",
                {"plate_kind": kind})
            notes.append(f"try-on needs a registered {kind} plate whose talent consents to {primary.value}")
        elif candidates:
            # one version per model photo: a second version on the same photo differed only in its shadow
            versions = min(count, len(candidates))
            add(Role.try_on, Slot.gallery_2, 1600, 1600, f"{category.value} worn on plate {candidates[0].id}, true scale",
                {"plate_kind": kind, "plate_id": candidates[0].id,
                 "plate_ids": [plate.id for plate in candidates[:versions]]}, n=versions)
            if versions < count:
                notes.append(f"{versions} try-on version{'s' if versions != 1 else ''}: one per model photo "
                             f"({kind}); add another model photo for another version")
        else:
            cannot(Role.try_on, Slot.gallery_2, try_on_request(kind, primary, sum(p.kind == kind for p in plates)),
                   f"plate:{kind}")
    elif category in APPAREL:
        if diffusion:
            add(Role.on_model, Slot.gallery_2, spec.width if primary is Channel.zalando else 1600,
                spec.height if primary is Channel.zalando else 2000, "the garment worn by a model")
        else:
            cannot(Role.on_model, Slot.gallery_2, f"a photo of the garment worn by a model {NEEDS_DIFFUSION}",
                   "diffusion_model")
    else:
        add(Role.lifestyle, Slot.gallery_2, 1600, 1600, "product on a second designed surface",
            {"surface": "wood" if category in (Category.shoes, Category.bag) else "paper"})

    # 4. Gallery 3: a close-up, when the photo is large enough for a useful one (cut from it at <= 2x)
    too_small = closeup_refusal(photo_size)
    if too_small:
        cannot(Role.detail, Slot.gallery_3, too_small, "larger_photo")
    else:
        add(Role.detail, Slot.gallery_3, 1600, 1600, "close-up of the most informative region (stones, clasp, texture)")

    # 5. Hero: a designed lifestyle backdrop in the mood's palette
    surface = next((s for k, s in MOOD_SURFACE.items() if k in mood.lower()), "sweep")
    add(Role.lifestyle, Slot.hero, 2000, 2000, f"product on a {surface} studio scene, {mood or 'neutral'} palette",
        {"surface": surface, "reflection": surface in ("marble", "sweep"), "brand_colors": list(brief.brand_colors)})

    # 6. Campaign: the asked aspect ratios, or 4:5 (one per aspect for a campaign brief)
    aspects = [a for a in brief.aspect_ratios if a in CAMPAIGN_SIZES]
    unknown = [a for a in brief.aspect_ratios if a not in CAMPAIGN_SIZES]
    if unknown:
        notes.append(f"ignored aspect ratio(s) {', '.join(unknown)}: use {', '.join(CAMPAIGN_SIZES)}")
    if not aspects:
        aspects = list(CAMPAIGN_SIZES) if brief.use_case == "campaign" else ["4:5"]
    for aspect in aspects:
        w, h = CAMPAIGN_SIZES[aspect]
        add(Role.campaign, Slot.campaign, w, h, f"campaign variant {aspect}, {mood or 'neutral'} mood, safe margins",
            {"aspect": aspect, "brand_colors": list(brief.brand_colors)}, channel=None,
            n=brief.campaign_count or count)

    # 7. Explicitly asked roles that the page map did not include
    asked = [*brief.roles, *([Role.model_swap] if brief.use_case == "model_swap" else [])]
    for role in dict.fromkeys(asked):
        if role not in {s.role for s in shots} and role not in excluded and all(n.role is not role for n in not_planned):
            if role is Role.try_on and kind is None:
                notes.append(f"try-on is for jewelry and watches, not {category.value}")
                continue
            if role in MODEL_ROLES and not diffusion:
                what = "the garment on a different model" if role is Role.model_swap else "a photo worn by a model"
                cannot(role, Slot.gallery_2, f"{what} {NEEDS_DIFFUSION}", "diffusion_model")
                continue
            add(role, Slot.gallery_3 if role is Role.detail else Slot.hero, 1600, 1600, f"{role.value} as asked",
                {"plate_kind": kind} if role is Role.try_on else {})
    if not shots:
        raise BadInput("the brief declines every shot; keep at least one role")
    return GalleryPlan(sku=product.sku, shots=shots, channels=chans, notes=notes, not_planned=not_planned)
