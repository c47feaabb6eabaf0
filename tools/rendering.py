"""The one render contract both engines share, and the pieces they share.

Every engine (tools/studio_render.py, tools/diffusion_render.py) returns a list of `Rendered`, one per
seed: the image, where the product went (`Placement`), the parameters to record and the warnings to
show. `tools.render.render_shot` stores them. The studio try-on on a registered plate lives here
because both engines use it (the diffusers engine harmonizes its seam). Nothing is stored here.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from PIL import Image

from tools.errors import BadInput
from tools.models import Placement, Product, Shot
from tools.rules import CHANNEL_SPECS, NO_UPSCALE_CHANNELS, PLATE_KIND, enlarge_limits


@dataclass
class Rendered:
    """One candidate as an engine made it (not yet stored)."""

    image: Image.Image
    placement: Placement | None
    params: dict = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    plate_id: str | None = None  # the try-on plate used (consent tracking)
    talent_id: str | None = None  # the talent whose likeness or photo was used (consent tracking)


def to_placement(placed) -> Placement:
    """The studio engine's Placed -> the domain Placement."""
    return Placement(x=float(placed.x), y=float(placed.y), width=float(placed.width), height=float(placed.height),
                     angle=float(placed.angle), scale=float(placed.scale), upscale=float(placed.upscale),
                     crop=list(placed.crop) if placed.crop else None, mm_per_px=placed.mm_per_px,
                     hidden_below=placed.hidden_below, hidden_turn=placed.hidden_turn)


def from_studio(result, **ids) -> Rendered:
    """A pipelines.studio StudioImage -> Rendered."""
    return Rendered(result.image, to_placement(result.placed), dict(result.params), list(result.warnings), **ids)


def plate_anchor(plate):
    """A stored Plate's anchor as the studio engine's PlateAnchor."""
    from pipelines import studio

    return studio.PlateAnchor(center=tuple(plate.anchor.center), points=[tuple(p) for p in plate.anchor.points],
                              angle=plate.anchor.angle, span_px=plate.anchor.span_px)


def try_on_width_mm(product: Product) -> tuple[float, list[str]]:
    """The product's real width across the body part for true scale, and warnings about assumptions.
    A ring: its outer width across the finger from the ring size (tools.sizing.ring_fit); "band width"
    is the band along the finger, never the ring's width."""
    from tools.sizing import ring_fit

    dims = product.dimensions
    fit = ring_fit(dims, product.category)
    if fit is not None:
        return fit.across_mm, list(fit.assumptions)
    warnings = []
    width_mm = dims.width_mm
    if width_mm is None and dims.inner_diameter_mm:
        width_mm = dims.inner_diameter_mm + 4.0
        warnings.append(f"width assumed {width_mm:.1f} mm from the inner diameter plus a 2 mm band")
    if width_mm is None:
        width_mm = dims.longest_mm()
    if width_mm is None:
        raise BadInput(f"try-on of {product.sku} needs the product's real width in mm for true scale: say it in "
                       "the brief (e.g. '21 mm wide' or 'US size 7')")
    return width_mm, warnings


def plate_enlargement(shot: Shot) -> dict:
    """The small-photo policy for a photographed plate (a model's photo in a try-on, the seller's set in a scene):
    enlarged freely up to the channel's free limit (2x), beyond that only to reach its minimum size (at least
    1000 px, as for the product), never for a channel that forbids upscaled images beyond its own minimum."""
    spec = CHANNEL_SPECS.get(shot.channel) if shot.channel else None
    free, _ = enlarge_limits(shot.channel)
    min_long = spec.min_long_side if shot.channel in NO_UPSCALE_CHANNELS and spec else \
        max(1000, spec.min_long_side if spec else 1000)
    return {"max_enlarge": free, "min_long": min(min_long, max(shot.width, shot.height))}


def studio_try_on(ws, product: Product, shot: Shot, cutout: Image.Image, index: int = 0) -> Rendered:
    """The product composited on a registered plate whose talent consents to the shot's channel, at true
    scale, at the plate's anchor, occluded along the body's outline."""
    from pipelines import studio
    from tools.plates import TYPICAL_SPAN_MM, body_mask, usable_plate

    # 1. A plate whose talent consents to the shot's channel
    kind = shot.options.get("plate_kind") or PLATE_KIND.get(product.category)
    if kind is None:
        raise BadInput(f"try-on is for jewelry and watches, not {product.category.value}")
    # each version on its own model photo where the plan has several
    plates = shot.options.get("plate_ids") or [shot.options.get("plate_id")]
    plate = usable_plate(ws, kind, shot.channel, plate_id=plates[index % len(plates)])
    # 2. The real size
    width_mm, warnings = try_on_width_mm(product)
    # 3. Composite on the plate
    image = ws.assets.open(plate.asset_id).convert("RGB")
    try:
        result = studio.composite_try_on(image, cutout, plate_anchor(plate), product_width_mm=width_mm,
                                         mm_per_px=plate.mm_per_px, body_mask=body_mask(ws, plate),
                                         kind=plate.anchor.kind, shadow=0.3 if index % 2 == 0 else 0.2,
                                         size=(shot.width, shot.height), **plate_enlargement(shot))
    except studio.StudioError as exc:
        raise BadInput(f"the try-on cannot be made: {exc}") from None
    rendered = from_studio(result, plate_id=plate.id, talent_id=plate.talent_id)
    rendered.warnings = warnings + rendered.warnings + _band_check(product, rendered.params)
    if "assumed" in plate.description:
        rendered.warnings.append(f"the size on the {plate.kind} assumes a typical {TYPICAL_SPAN_MM[plate.kind]:g} mm "
                                 "across the spot marked on the model's photo (the photo has no measured scale)")
    return rendered


BAND_TOLERANCE = 0.10  # the band on the finger within 10 % of the stated band width


def _band_check(product: Product, params: dict) -> list[str]:
    """A warning when the band measured on the finger differs from the brief's band width by over 10 %."""
    from tools.sizing import ring_fit

    fit = ring_fit(product.dimensions, product.category)
    stated, measured = (fit.band_width_mm if fit else None), params.get("band_width_mm_on_plate")
    if not stated or not measured:
        return []
    if abs(measured - stated) <= BAND_TOLERANCE * stated:
        return []
    return [f"the band measures {measured:.1f} mm on the finger at this ring size, the brief says {stated:g} mm: "
            "check the ring size and the band width"]


def try_on_changes(ws, rendered: Rendered, shot: Shot) -> np.ndarray:
    """The pixels a studio try-on changed on its framed plate (product and contact shadow), boolean."""
    from pipelines import studio

    plate = ws.catalog.get_plate(rendered.plate_id)
    framed, *_ = studio.frame_plate(ws.assets.open(plate.asset_id).convert("RGB"), plate_anchor(plate),
                                    plate.mm_per_px, (shot.width, shot.height))
    changed = studio.changed_pixels(rendered.image, framed)
    if not changed.any():
        raise BadInput("the try-on cannot be made: the product did not land on the model's photo; paint the spot "
                       "where it sits again")
    return changed
