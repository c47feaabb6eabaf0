"""The domain vocabulary as pydantic models: products, photos, briefs, plans, candidates, critiques,
decisions, talents, consents and plates. Everything here is JSON-able; images are referred to by
asset id (sha256), never embedded.

Identifiers are lower-case strings; `normalize_*` accept the synonyms a seller types.
"""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from tools.errors import BadInput
from tools.text import strip_control


class Category(StrEnum):
    ring = "ring"
    necklace = "necklace"
    earrings = "earrings"
    bracelet = "bracelet"
    watch = "watch"
    apparel_top = "apparel_top"
    apparel_bottom = "apparel_bottom"
    dress = "dress"
    shoes = "shoes"
    bag = "bag"
    beauty = "beauty"
    other = "other"


class Role(StrEnum):
    packshot = "packshot"
    try_on = "try_on"
    detail = "detail"
    lifestyle = "lifestyle"
    campaign = "campaign"
    on_model = "on_model"
    model_swap = "model_swap"


class Slot(StrEnum):
    grid = "grid"
    hero = "hero"
    gallery_2 = "gallery_2"
    gallery_3 = "gallery_3"
    campaign = "campaign"


class Channel(StrEnum):
    amazon = "amazon"
    etsy = "etsy"
    shopify = "shopify"
    ebay = "ebay"
    google = "google"
    zalando = "zalando"


class PhotoKind(StrEnum):
    packshot = "packshot"
    flat_lay = "flat_lay"
    ghost_mannequin = "ghost_mannequin"
    on_model = "on_model"
    detail = "detail"
    plate = "plate"


JEWELRY = frozenset({Category.ring, Category.necklace, Category.earrings, Category.bracelet})
APPAREL = frozenset({Category.apparel_top, Category.apparel_bottom, Category.dress})

CATEGORY_SYNONYMS: dict[str, Category] = {
    "rings": Category.ring, "band": Category.ring, "wedding band": Category.ring,
    "engagement ring": Category.ring, "signet": Category.ring,
    "pendant": Category.necklace, "necklaces": Category.necklace, "chain": Category.necklace,
    "choker": Category.necklace, "locket": Category.necklace,
    "earring": Category.earrings, "hoops": Category.earrings, "hoop": Category.earrings,
    "studs": Category.earrings, "stud": Category.earrings, "drops": Category.earrings,
    "bangle": Category.bracelet, "bracelets": Category.bracelet, "cuff": Category.bracelet,
    "bangles": Category.bracelet, "anklet": Category.bracelet,
    "watches": Category.watch, "wristwatch": Category.watch,
    "tee": Category.apparel_top, "t-shirt": Category.apparel_top, "tshirt": Category.apparel_top,
    "shirt": Category.apparel_top, "top": Category.apparel_top, "blouse": Category.apparel_top,
    "sweater": Category.apparel_top, "cardigan": Category.apparel_top, "hoodie": Category.apparel_top,
    "tank": Category.apparel_top, "cami": Category.apparel_top, "jacket": Category.apparel_top,
    "pants": Category.apparel_bottom, "trousers": Category.apparel_bottom, "jeans": Category.apparel_bottom,
    "skirt": Category.apparel_bottom, "shorts": Category.apparel_bottom, "leggings": Category.apparel_bottom,
    "dresses": Category.dress, "gown": Category.dress,
    "shoe": Category.shoes, "sneakers": Category.shoes, "sneaker": Category.shoes, "boots": Category.shoes,
    "sandals": Category.shoes, "heels": Category.shoes,
    "bags": Category.bag, "handbag": Category.bag, "backpack": Category.bag, "tote": Category.bag,
    "purse": Category.bag, "duffel": Category.bag, "laptop bag": Category.bag,
    "cosmetics": Category.beauty, "makeup": Category.beauty, "perfume": Category.beauty,
    "lipstick": Category.beauty, "nail polish": Category.beauty, "skincare": Category.beauty,
    "sunscreen": Category.beauty, "lotion": Category.beauty, "face cream": Category.beauty, "shampoo": Category.beauty,
    "lip balm": Category.beauty, "mascara": Category.beauty, "foundation": Category.beauty, "cleanser": Category.beauty,
    "toner": Category.beauty, "body oil": Category.beauty, "face mask": Category.beauty, "blush": Category.beauty,
}

CHANNEL_SYNONYMS: dict[str, Channel] = {
    "amazon.com": Channel.amazon, "amz": Channel.amazon,
    "etsy.com": Channel.etsy,
    "shopify store": Channel.shopify,
    "ebay.com": Channel.ebay,
    "google shopping": Channel.google, "google merchant": Channel.google, "gmc": Channel.google,
    "merchant center": Channel.google,
}

ROLE_SYNONYMS: dict[str, Role] = {
    "main": Role.packshot, "white": Role.packshot, "packshots": Role.packshot,
    "tryon": Role.try_on, "try-on": Role.try_on, "worn": Role.try_on, "on hand": Role.try_on,
    "close-up": Role.detail, "closeup": Role.detail, "macro": Role.detail, "details": Role.detail,
    "scene": Role.lifestyle, "lifestyle shot": Role.lifestyle,
    "campaigns": Role.campaign, "social": Role.campaign, "banner": Role.campaign,
    "on-model": Role.on_model, "model": Role.on_model,
    "model-swap": Role.model_swap, "swap": Role.model_swap,
}


def _normalize(value: str, enum: type[StrEnum], synonyms: dict, what: str):
    key = str(value).strip().lower().replace("-", "_") if value is not None else ""
    for candidate in (key, key.replace("_", " "), key.replace("_", "-"), str(value).strip().lower()):
        if candidate in enum.__members__:
            return enum(candidate)
        if candidate in synonyms:
            return synonyms[candidate]
    choices = ", ".join(enum.__members__)
    raise BadInput(f"unknown {what} {value!r}: use one of {choices}")


def normalize_category(value: str) -> Category:
    return _normalize(value, Category, CATEGORY_SYNONYMS, "category")


def normalize_channel(value: str) -> Channel:
    return _normalize(value, Channel, CHANNEL_SYNONYMS, "channel")


def normalize_role(value: str) -> Role:
    return _normalize(value, Role, ROLE_SYNONYMS, "role")


def _visible_text(value):
    """Brief words become titles and alt text: no control characters or escape sequences in them."""
    if isinstance(value, str):
        return strip_control(value)
    if isinstance(value, list):
        return [strip_control(v) if isinstance(v, str) else v for v in value]
    return value


SKU_PATTERN = re.compile(r"[A-Za-z0-9._-]{1,64}")  # always fullmatch: `$` would let a final "\n" through


def check_sku(sku: str) -> str:
    """Return the SKU if it is a safe id; refuse otherwise (it becomes part of file names)."""
    if not isinstance(sku, str) or not SKU_PATTERN.fullmatch(sku) or sku in {".", ".."}:
        raise BadInput(f"invalid SKU {sku!r}: use 1-64 characters from A-Z a-z 0-9 . _ -")
    return sku


def new_id(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


def utcnow() -> datetime:
    return datetime.now(UTC)


class Model(BaseModel):
    model_config = ConfigDict(use_enum_values=False, extra="forbid")


class Dimensions(Model):
    """Real product size in millimetres. Rings also carry the inner diameter (from the ring size)."""

    width_mm: float | None = Field(default=None, gt=0)
    height_mm: float | None = Field(default=None, gt=0)
    depth_mm: float | None = Field(default=None, gt=0)
    inner_diameter_mm: float | None = Field(default=None, gt=0)
    band_width_mm: float | None = Field(default=None, gt=0, description="a ring's band, along the finger")

    def longest_mm(self) -> float | None:
        sizes = [v for v in (self.width_mm, self.height_mm, self.depth_mm) if v]
        return max(sizes) if sizes else None


class Product(Model):
    sku: str
    category: Category
    title: str = ""
    materials: list[str] = Field(default_factory=list)
    colors: list[str] = Field(default_factory=list)
    dimensions: Dimensions = Field(default_factory=Dimensions)
    description: str = ""

    @field_validator("sku")
    @classmethod
    def _sku(cls, v: str) -> str:
        return check_sku(v)

    @field_validator("title", "materials", "colors")
    @classmethod
    def _visible(cls, v):
        return _visible_text(v)


class Photo(Model):
    asset_id: str
    sku: str
    kind: PhotoKind = PhotoKind.packshot
    width: int
    height: int
    original_name: str = ""
    notes: list[str] = Field(default_factory=list)
    cutout_asset_id: str | None = None
    # how the current cutout was made: matting, matting+neural, neural, strokes or "your cutout"
    cutout_method: str = "matting"
    # earlier cutouts of this photo (oldest first), kept when a person corrects the cutout
    previous_cutout_ids: list[str] = Field(default_factory=list)


class Brief(Model):
    """What the seller asked for, read from plain words (offline reader or an LLM)."""

    sku: str | None = None
    category: Category | None = None
    title: str = ""
    product_type: str = Field(default="", description="the product's own noun when the category is other: candle, brooch")
    materials: list[str] = Field(default_factory=list)
    colors: list[str] = Field(default_factory=list)
    dimensions: Dimensions = Field(default_factory=Dimensions)
    channels: list[Channel] = Field(default_factory=list)
    mood: str = ""
    season: str = ""
    brand_colors: list[str] = Field(default_factory=list)
    brand_style: str = ""
    talent: str | None = None
    roles: list[Role] = Field(default_factory=list, description="roles explicitly asked for")
    exclude_roles: list[Role] = Field(default_factory=list, description="roles explicitly declined")
    aspect_ratios: list[str] = Field(default_factory=list, description="e.g. '9:16', '1:1'")
    count: int | None = Field(default=None, ge=1, le=12, description="candidates per shot")
    campaign_count: int | None = Field(default=None, ge=1, le=12)
    use_case: Literal["gallery", "model_creation", "model_swap", "digital_twin", "campaign"] = "gallery"
    notes: str = ""

    @field_validator("title", "materials", "colors", "mood", "season")
    @classmethod
    def _visible(cls, v):
        return _visible_text(v)


class Shot(Model):
    id: str = Field(default_factory=lambda: new_id("shot"))
    role: Role
    slot: Slot
    channel: Channel | None = None
    width: int = Field(gt=0, le=8000)
    height: int = Field(gt=0, le=8000)
    scene: str = ""
    mood: str = ""
    count: int = Field(default=2, ge=1, le=12)
    options: dict = Field(default_factory=dict, description="engine hints: backdrop, surface, plate id, ...")

    @field_validator("scene", "mood")
    @classmethod
    def _visible(cls, v):
        return _visible_text(v)

    @property
    def aspect(self) -> str:
        from math import gcd

        g = gcd(self.width, self.height)
        return f"{self.width // g}:{self.height // g}"


class NotPlanned(Model):
    """A shot the gallery should have but that cannot be made honestly with what is installed or
    uploaded: it is not rendered as a look-alike; `missing` lists it with the reason."""

    role: Role
    slot: Slot
    channel: Channel | None = None
    reason: str = Field(description="for the seller, in plain words: what it needs")
    needs: str = Field(description="what would enable it: diffusion_model, plate:<kind>, larger_photo, ...")


class GalleryPlan(Model):
    sku: str
    version: int = 1
    shots: list[Shot]
    channels: list[Channel] = Field(default_factory=list, description="every channel the gallery is for")
    notes: list[str] = Field(default_factory=list)
    not_planned: list[NotPlanned] = Field(default_factory=list, description="shots that cannot be made yet, and why")

    def shot(self, shot_id: str) -> Shot:
        for shot in self.shots:
            if shot.id == shot_id:
                return shot
        raise BadInput(f"plan for {self.sku} has no shot {shot_id!r}")


class Placement(Model):
    """Where and how large an engine put the product in a candidate (pixels of the candidate)."""

    x: float
    y: float
    width: float
    height: float
    angle: float = 0.0
    scale: float = Field(default=1.0, description="candidate px per source cutout px")
    upscale: float = Field(default=1.0, description="> 1 when the product was enlarged beyond its source")
    crop: list[int] | None = Field(default=None, description="source crop box [x0, y0, x1, y1] for detail")
    mm_per_px: float | None = None
    hidden_below: float | None = Field(default=None, description="try-on: share of the product's height (before "
                                       "turning) below which the body may hide it; None: nothing hidden")
    hidden_turn: float = Field(default=0.0, description="try-on: degrees (counter-clockwise, part of `angle`) the "
                               "product was first turned by; hidden_below is measured in that turned frame")
    seam_px: float | None = Field(default=None, description="width of the band inside the product's outline that the "
                                  "engine blended into a generated scene (candidate px); None: every pixel is the source's")


class Candidate(Model):
    id: str = Field(default_factory=lambda: new_id("cand"))
    sku: str
    shot_id: str
    role: Role
    asset_id: str
    source_asset_id: str = Field(description="the cutout (RGBA) the candidate must stay true to")
    engine: str = "studio"
    model: str | None = None
    seed: int = 0
    prompt: str = ""
    negative_prompt: str = ""
    placement: Placement | None = None
    attempt: int = 0
    warnings: list[str] = Field(default_factory=list)
    params: dict = Field(default_factory=dict)
    talent_id: str | None = None
    plate_id: str | None = None
    created_at: datetime = Field(default_factory=utcnow)


class Check(Model):
    name: str
    passed: bool
    value: float | str | None = None
    limit: float | str | None = None
    message: str = ""
    warning: bool = Field(default=False, description="passed, but the seller should know (e.g. an enlargement)")


class Critique(Model):
    candidate_id: str
    verdict: Literal["pass", "fail"]
    score: float = Field(ge=0, le=1)
    checks: list[Check]
    created_at: datetime = Field(default_factory=utcnow)

    @property
    def reasons(self) -> list[str]:
        return [c.message for c in self.checks if not c.passed]

    @property
    def warnings(self) -> list[str]:
        """Checks that passed but that the seller should see (an enlargement, an unverified cutout)."""
        return [c.message for c in self.checks if c.passed and c.warning]


class Decision(Model):
    candidate_id: str
    action: Literal["approve", "reject", "change"]
    note: str = ""
    by: str = "user"
    acknowledged: list[str] = Field(default_factory=list, description="warnings shown to the person who approved")
    created_at: datetime = Field(default_factory=utcnow)


class CutoutConfidence(Model):
    """How far a cutout is confirmed by the photo it was cut from (tools/verification.py)."""

    cutout_asset_id: str
    photo_asset_id: str
    sku: str
    level: Literal["verified", "uncertain", "failed"]
    method: str = "photo"  # photo | photo+neural | seller (the seller's own transparency) | person (strokes)
    values: dict = Field(default_factory=dict, description="the measured evidence (shares of the product's area)")
    reasons: list[str] = Field(default_factory=list, description="what a seller reads when it is not verified")
    created_at: datetime = Field(default_factory=utcnow)


class Consent(Model):
    talent_id: str
    channels: list[Channel] = Field(default_factory=list, description="empty = none")
    regions: list[str] = Field(default_factory=lambda: ["worldwide"])
    expires: date | None = None
    revoked: bool = False
    revoked_at: datetime | None = None
    likeness: bool = Field(default=False, description="allows a digital twin of the talent")

    def refusal(self, channel: Channel | str | None, today: date | None = None, *, likeness: bool = False) -> str | None:
        """Why this consent does not cover the use, or None when it does."""
        today = today or date.today()
        if self.revoked:
            return f"consent of talent {self.talent_id} was revoked"
        if self.expires and self.expires < today:
            return f"consent of talent {self.talent_id} expired on {self.expires.isoformat()}"
        if channel is not None and Channel(channel) not in self.channels:
            allowed = ", ".join(c.value for c in self.channels) or "no channel"
            return f"consent of talent {self.talent_id} covers {allowed}, not {Channel(channel).value}"
        if likeness and not self.likeness:
            return f"consent of talent {self.talent_id} does not allow a digital twin of their likeness"
        return None


class Talent(Model):
    id: str
    name: str
    consent: Consent


class Anchor(Model):
    """Where jewelry sits on a plate, in plate pixels.

    ring: `points` = the two edges of the finger across the band spot, `angle` along the finger;
    necklace: the two neck points and the drop point; earrings: lobe points; bracelet: the wrist line.
    """

    kind: Literal["ring", "necklace", "earrings", "bracelet", "surface"]
    center: tuple[float, float]
    points: list[tuple[float, float]] = Field(default_factory=list)
    angle: float = 0.0
    span_px: float = Field(gt=0, description="finger/wrist width or neck span at the anchor, in px")


class Plate(Model):
    id: str
    asset_id: str
    kind: Literal["hand", "neck", "ear", "wrist", "scene"]
    anchor: Anchor
    mm_per_px: float = Field(gt=0)
    talent_id: str | None = None
    mask_asset_id: str | None = None
    description: str = ""
