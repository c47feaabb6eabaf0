"""Model plates for try-on and their talents' consent: register a plate (image + anchor mask +
calibration + talent consent), revoke a consent, and pick a plate that may be used for a channel.

A plate always belongs to a talent; a plate registered without consent channels has consent for no
channel, so it cannot be used until the consent is recorded. No rendering here.
"""

from __future__ import annotations

import math
import os
import re
from datetime import date
from pathlib import Path

import numpy as np
from PIL import Image

from tools.assets import load_image
from tools.errors import BadInput, NotFound, Refused
from tools.models import Anchor, Channel, Consent, Plate, Talent, normalize_channel, utcnow
from tools.workspace import Workspace

KINDS = ("hand", "neck", "ear", "wrist")  # model plates (a talent, consent); "scene" plates are sets
ANCHOR_KIND = {"hand": "ring", "neck": "necklace", "ear": "earrings", "wrist": "bracelet"}
# the typical real width of the body part across the anchor, used when no calibration is given
TYPICAL_SPAN_MM = {"hand": 17.0, "wrist": 55.0, "neck": 110.0, "ear": 20.0}
MM_PER_PX = (0.005, 20.0)  # the scales a plate may have: a macro shot of a ring .. a whole room
_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")  # fullmatch: `$` would let a final "\n" through


def _check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not _ID.fullmatch(value):
        raise BadInput(f"invalid {what} {value!r}: use 1-64 characters from A-Z a-z 0-9 . _ -")
    return value


def register_plate(ws: Workspace, image, *, kind: str, mask=None, plate_id: str | None = None,
                   mm_per_px: float | None = None, talent_id: str | None = None, talent_name: str | None = None,
                   consent_channels=(), consent_regions=(), consent_expires: str | date | None = None) -> Plate:
    """Store a plate image with its anchor (derived from `mask`), calibration and talent consent; a
    "scene" plate (a photographed set, no person) takes `mask` as its surface (see register_scene_plate)."""
    from pipelines.studio import StudioError, anchor_from_mask

    # 1. Check inputs
    if kind == "scene":
        return register_scene_plate(ws, image, surface=mask, plate_id=plate_id, mm_per_px=mm_per_px)
    if kind not in KINDS:
        raise BadInput(f"unknown plate kind {kind!r}: use one of {', '.join(KINDS)}")
    if mask is None:
        raise BadInput("a plate needs --mask: an image whose white pixels mark where the jewelry sits")
    plate_id = _checked_plate_id(image, plate_id, mm_per_px, default="plate")
    talent_id = _check_id(talent_id, "talent id") if talent_id else f"talent-{plate_id}"[:64]
    channels = [normalize_channel(c) for c in consent_channels if str(c).strip()]
    regions = [r.strip() for r in consent_regions if r.strip()] or ["worldwide"]
    expires = None
    if consent_expires:
        try:
            expires = consent_expires if isinstance(consent_expires, date) else date.fromisoformat(str(consent_expires))
        except ValueError:
            raise BadInput(f"consent_expires must be YYYY-MM-DD, got {consent_expires!r}") from None

    # 2. Load the plate (refused when it carries text or a watermark) and its mask; derive the anchor
    #    and the calibration
    loaded = load_image(image if not isinstance(image, os.PathLike) else str(image))
    _check_plate_size(loaded.image, f"{kind} photo")
    marks_checked = check_marks(loaded.image)
    mask_loaded = load_image(mask if not isinstance(mask, os.PathLike) else str(mask))
    mask_image = mask_loaded.image.convert("L")
    if mask_image.size != loaded.image.size:
        raise BadInput(f"mask is {mask_image.width}x{mask_image.height} but the plate is "
                       f"{loaded.image.width}x{loaded.image.height}; they must match")
    try:
        found = anchor_from_mask(mask_image)
    except StudioError as exc:
        raise BadInput(f"mask: {exc}") from None
    anchor = Anchor(kind=ANCHOR_KIND[kind], center=found.center, points=found.points, angle=found.angle,
                    span_px=found.span_px)
    calibrated = mm_per_px is not None
    mm = float(mm_per_px) if calibrated else TYPICAL_SPAN_MM[kind] / found.span_px

    # 3. Store: image, mask, talent with consent, plate
    asset_id = ws.assets.put_loaded(loaded)
    mask_id = ws.assets.put_image(mask_image, "PNG")
    catalog = ws.catalog
    try:
        talent = catalog.get_talent(talent_id)
        name = talent_name or talent.name
    except NotFound:
        name = talent_name or talent_id
    consent = Consent(talent_id=talent_id, channels=channels, regions=regions, expires=expires)
    catalog.upsert_talent(Talent(id=talent_id, name=name, consent=consent))
    description = (f"{kind} plate; {'calibrated' if calibrated else 'calibration assumed from a typical'} "
                   f"{'' if calibrated else f'{TYPICAL_SPAN_MM[kind]:g} mm span '}at {mm:.4f} mm/px"
                   + ("" if marks_checked else "; not checked for text or watermarks (no text detector installed)"))
    plate = Plate(id=plate_id, asset_id=asset_id, kind=kind, anchor=anchor, mm_per_px=mm, talent_id=talent_id,
                  mask_asset_id=mask_id, description=description)
    return catalog.add_plate(plate)


def plate_min_side() -> int:
    """The long side below which no channel could take an image made on a plate: a plate is the image's
    whole background, enlarged to the channel's minimum at most as far as the small-photo policy allows."""
    from tools.rules import CHANNEL_SPECS, enlarge_limits

    return min(math.ceil(spec.min_long_side / enlarge_limits(channel)[1]) for channel, spec in CHANNEL_SPECS.items())


def _check_plate_size(image: Image.Image, what: str) -> None:
    need = plate_min_side()
    if max(image.size) < need:
        raise BadInput(f"the {what} is {image.width}x{image.height} px: no channel could take an image made on it "
                       f"(at least {need} px on its long side; a photo of 1000 px or more looks best)")


def _checked_plate_id(image, plate_id: str | None, mm_per_px: float | None, *, default: str) -> str:
    """Check the scale and the plate id every plate kind shares; without an id, the file's name is used."""
    low, high = MM_PER_PX
    if mm_per_px is not None and not low <= float(mm_per_px) <= high:
        raise BadInput(f"mm_per_px must be within {low:g}..{high:g}, got {mm_per_px}")
    if plate_id is None:
        stem = Path(str(image)).stem if not isinstance(image, bytes | bytearray) else default
        plate_id = re.sub(r"[^A-Za-z0-9._-]", "-", stem)[:64] or default
    return _check_id(plate_id, "plate id")


def register_scene_plate(ws: Workspace, image, *, surface=None, plate_id: str | None = None,
                         mm_per_px: float | None = None, surface_width_mm: float | None = None) -> Plate:
    """Store the seller's photographed set (a marble slab, a shelf, a linen table) for lifestyle and
    campaign shots. `surface`: a mask whose white pixels are where a product may stand (default: the
    lower third of the photo). `mm_per_px`: the set's scale where the product stands, for true scale; or
    `surface_width_mm`, how wide the surface is across where the product stands (what a seller can
    measure with a tape), from which the scale follows. `image` and `surface` are paths or bytes
    (`listing-studio plate add --kind scene`, the app's "Your own sets")."""
    from pipelines.scene_plates import standing_point
    from pipelines.studio import StudioError

    # 1. Check inputs
    plate_id = _checked_plate_id(image, plate_id, mm_per_px, default="scene")

    # 2. The photo (refused when it carries text or a watermark) and where products stand on it
    loaded = load_image(image if not isinstance(image, os.PathLike) else str(image))
    _check_plate_size(loaded.image, "scene photo")
    marks_checked = check_marks(loaded.image)
    width, height = loaded.image.size
    if surface is not None:
        mask_image = load_image(surface if not isinstance(surface, os.PathLike) else str(surface)).image.convert("L")
        if mask_image.size != loaded.image.size:
            raise BadInput(f"surface mask is {mask_image.width}x{mask_image.height} but the scene photo is "
                           f"{width}x{height}; they must match")
        assumed = ""
    else:
        mask_image = Image.new("L", (width, height), 0)
        mask_image.paste(255, (0, height * 2 // 3, width, height))
        assumed = "; surface assumed: the lower third of the photo"
    try:
        stand = standing_point(np.asarray(mask_image) > 127)
    except StudioError as exc:
        raise BadInput(f"surface mask: {exc}") from None
    if surface_width_mm is not None:
        mm_per_px = surface_scale(np.asarray(mask_image) > 127, stand[1], float(surface_width_mm))

    # 3. Store the photo, its surface and the plate (no talent: a set shows no person)
    anchor = Anchor(kind="surface", center=stand, points=[stand], angle=0.0, span_px=float(width))
    description = (f"scene plate; {'scale ' + format(float(mm_per_px), '.4f') + ' mm/px' if mm_per_px else 'no scale'}"
                   + assumed + ("" if marks_checked else "; not checked for text or watermarks"))
    plate = Plate(id=plate_id, asset_id=ws.assets.put_loaded(loaded), kind="scene", anchor=anchor,
                  mm_per_px=float(mm_per_px) if mm_per_px else 1.0, mask_asset_id=ws.assets.put_image(mask_image, "PNG"),
                  description=description)
    return ws.catalog.add_plate(plate)


def surface_scale(surface: np.ndarray, row: float, width_mm: float) -> float:
    """mm per pixel of a set whose surface is `width_mm` wide across the row where products stand."""
    if not 10 <= width_mm <= 10_000:
        raise BadInput(f"the surface's width must be within 1 cm..10 m, got {width_mm / 10:g} cm")
    cols = np.nonzero(surface[int(round(row))])[0]
    if len(cols) < 2:
        raise BadInput("the surface mask marks nothing on the row where products stand")
    mm_per_px = width_mm / float(cols.max() - cols.min() + 1)
    low, high = MM_PER_PX
    if not low <= mm_per_px <= high:
        raise BadInput(f"a surface {width_mm / 10:g} cm wide painted {cols.max() - cols.min() + 1} px across gives "
                       f"{mm_per_px:.3f} mm per pixel, outside {low:g}..{high:g}: check the width or the painted "
                       "surface")
    return mm_per_px


def scene_scale(plate: Plate) -> float | None:
    """A scene plate's mm per pixel where products stand, None when the seller gave no scale."""
    return None if "no scale" in plate.description else plate.mm_per_px


def check_marks(image) -> bool:
    """Refuse a plate photo that carries overlaid text or a watermark (it would show on every try-on);
    True when checked, False when the text detector is not installed (the plate says so)."""
    from pipelines import textmarks

    try:
        lines = textmarks.find_text(image)
    except textmarks.TextDetectorUnavailable:
        return False
    if lines:
        x0, y0, x1, y1 = lines[0].box
        where = _where((x0 + x1) / 2 / image.width, (y0 + y1) / 2 / image.height)
        what = "a faint watermark" if all(line.faint for line in lines) else "text"
        raise Refused(f"this photo carries {what} ({len(lines)} line{'s' if len(lines) > 1 else ''}, {where}); "
                      "it would show on every try-on: use a photo without any text, logo or watermark")
    return True


def _where(fx: float, fy: float) -> str:
    row = "top" if fy < 1 / 3 else "bottom" if fy > 2 / 3 else "middle"
    col = "left" if fx < 1 / 3 else "right" if fx > 2 / 3 else "centre"
    return "in the middle" if (row, col) == ("middle", "centre") else f"at the {row} {col}"


def list_plates(ws: Workspace, kind: str | None = None) -> list[Plate]:
    """The registered plates (model photos and scene sets), optionally of one kind."""
    return ws.catalog.plates(kind)


def revoke_consent(ws: Workspace, talent_id: str) -> Talent:
    """Revoke a talent's consent: their plates can no longer be used or published."""
    talent = ws.catalog.get_talent(_check_id(talent_id, "talent id"))
    consent = talent.consent.model_copy(update={"revoked": True, "revoked_at": utcnow()})
    return ws.catalog.set_consent(consent)


def plate_refusal(ws: Workspace, plate: Plate, channel: Channel | str | None, today: date | None = None) -> str | None:
    """Why this plate may not be used for `channel` (None when it may)."""
    if not plate.talent_id:
        return f"plate {plate.id} has no talent on record, so no consent for any channel"
    try:
        talent = ws.catalog.get_talent(plate.talent_id)
    except NotFound:
        return f"plate {plate.id}: talent {plate.talent_id} has no consent on record"
    if channel is None:
        reason = talent.consent.refusal(None, today)
        if reason is None and not talent.consent.channels:
            reason = f"consent of talent {talent.id} covers no channel"
        return reason
    return talent.consent.refusal(channel, today)


def usable_plates(ws: Workspace, kind: str, channel: Channel | str | None) -> list[Plate]:
    """The registered plates of `kind` whose consent covers `channel` (what a try-on for it may be made on)."""
    return [plate for plate in ws.catalog.plates(kind) if plate_refusal(ws, plate, channel) is None]


def usable_plate(ws: Workspace, kind: str, channel: Channel | str | None, plate_id: str | None = None) -> Plate:
    """The first registered plate of `kind` (or the given one) whose consent covers `channel`; refuses
    with every plate's reason otherwise."""
    if kind not in KINDS:
        raise BadInput(f"unknown plate kind {kind!r}: use one of {', '.join(KINDS)}")
    if channel is not None and not isinstance(channel, Channel):
        channel = normalize_channel(channel)
    plates = [ws.catalog.get_plate(plate_id)] if plate_id else ws.catalog.plates(kind)
    if not plates:
        raise Refused(f"no {kind} plate is registered: add one with `listing-studio plate add IMAGE --kind {kind} "
                      "--mask MASK --talent ID --consent-channels CH`")
    reasons = []
    for plate in plates:
        reason = plate_refusal(ws, plate, channel)
        if reason is None:
            return plate
        reasons.append(reason)
    target = channel.value if channel else "any channel"
    raise Refused(f"no usable {kind} plate for {target}: " + "; ".join(reasons))


def body_mask(ws: Workspace, plate: Plate) -> np.ndarray | None:
    """The skin/body silhouette of a plate (boolean), from the matting engine; None when the plate's
    background is not a studio one (then nothing of the product is hidden)."""
    from pipelines import matting

    if plate.asset_id in _BODY_MASKS:  # assets never change, so the silhouette is cached per process
        return _BODY_MASKS[plate.asset_id]
    image = ws.assets.open(plate.asset_id)
    try:
        mask = np.asarray(matting.cut_out(image).rgba.getchannel("A")) > 127
    except matting.MattingError:
        mask = None
    if len(_BODY_MASKS) > 32:
        _BODY_MASKS.clear()
    _BODY_MASKS[plate.asset_id] = mask
    return mask


_BODY_MASKS: dict[str, np.ndarray | None] = {}
