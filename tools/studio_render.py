"""The studio engine's side of rendering a shot: which pipelines.studio renderer makes each role, with
the options the plan and the channel give it. Returns `tools.rendering.Rendered`; stores nothing
(tools/render.py does).
"""

from __future__ import annotations

from PIL import Image

from tools.errors import BadInput
from tools.models import JEWELRY, Category, Product, Role, Shot
from tools.rendering import Rendered, from_studio, plate_enlargement, studio_try_on
from tools.rules import CHANNEL_SPECS, NO_UPSCALE_CHANNELS, enlarge_limits, main_fill

FLAT = frozenset({Category.necklace, Category.earrings, Category.bracelet, Category.apparel_top,
                  Category.apparel_bottom, Category.dress})


def render_with_studio(ws, product: Product, shot: Shot, cutout: Image.Image, *, seeds: list[int],
                       first_index: int = 0) -> list[Rendered]:
    """One studio candidate per seed; `first_index` numbers them across re-render attempts (variants)."""
    return [render_one(ws, product, shot, cutout, seed, first_index + i) for i, seed in enumerate(seeds)]


def render_one(ws, product: Product, shot: Shot, cutout: Image.Image, seed: int, index: int) -> Rendered:
    """One studio-engine candidate of a shot."""
    from pipelines import studio

    options = shot.options
    pose = options.get("pose") or ("flat" if product.category in FLAT else "standing")
    try:
        if shot.role is Role.packshot:
            spec = CHANNEL_SPECS.get(shot.channel) if shot.channel else None
            fill = float(options.get("fill") or (main_fill(product.category, spec) if spec else 0.85))
            # the second candidate is framed a little tighter (jewelry stays within 80-90 %)
            cap = 0.9 if product.category in JEWELRY else 0.94
            fill = min(cap, fill + 0.03 * (index % 2))
            shadow = bool(options.get("shadow", False)) and not (spec and not spec.main_shadow_allowed)
            min_long = int(options.get("min_long_side") or max(1000, spec.min_long_side if spec else 1000))
            if shot.channel in NO_UPSCALE_CHANNELS:  # the channel forbids upscaled images: its own minimum only
                min_long = spec.min_long_side
            return from_studio(studio.packshot(cutout, shot.width, shot.height, fill=fill, shadow=shadow,
                                               min_long=min(min_long, max(shot.width, shot.height))))
        if shot.role is Role.detail:
            spec = CHANNEL_SPECS.get(shot.channel) if shot.channel else None
            # a close-up shows detail: never enlarged beyond the free limit (2x), even to reach the channel's
            # minimum; fitting it to a channel is publish's, under the one small-photo policy
            free, _ = enlarge_limits(shot.channel)
            return from_studio(studio.detail(cutout, shot.width, shot.height, photo=source_photo(ws, product.sku, cutout),
                                             variant=index, max_upscale=free,
                                             min_long=max(1000, spec.min_long_side if spec else 1000)))
        if shot.role is Role.try_on:
            return studio_try_on(ws, product, shot, cutout, index)
        set_note = None
        if shot.role in (Role.lifestyle, Role.campaign):  # the seller's own photographed sets come first
            scenes = ws.catalog.plates("scene")
            if scenes and not options.get("procedural"):
                plate = scenes[index % len(scenes)]
                on_set = on_scene_plate(ws, product, shot, cutout, plate, variant=index // len(scenes))
                if on_set is not None:
                    return on_set
                set_note = ("your set photo leaves no room for another frame at this size, so this version "
                            "is on a built set: a larger photo of your set, or another one, gives more versions "
                            "on yours")
        rendered = built_scene(product, shot, cutout, seed, index, pose)
        if set_note:
            rendered.warnings.append(set_note)
        return rendered
    except studio.StudioError as exc:
        raise BadInput(f"{shot.role.value} shot {shot.id}: {exc}") from None


def built_scene(product: Product, shot: Shot, cutout: Image.Image, seed: int, index: int, pose: str) -> Rendered:
    """A lifestyle or campaign candidate on a set the studio engine builds from the shot's mood and format."""
    from pipelines import studio
    from tools.looks import look_for

    if shot.role not in (Role.lifestyle, Role.campaign):  # on_model, model_swap: the studio engine draws no person
        raise BadInput(f"the studio engine does not render {shot.role.value} shots: they need a diffusion model")
    options = shot.options
    look = look_for(shot.mood, options.get("brand_colors", ()), options)
    if shot.role is Role.campaign:
        aspect = options.get("aspect")
        if aspect in studio.CAMPAIGN_ASPECTS:
            return from_studio(studio.campaign(cutout, aspect, look=look, seed=seed, index=index,
                                               long_side=max(shot.width, shot.height), pose=pose))
        return from_studio(studio.backdrop(cutout, shot.width, shot.height, look=look, seed=seed, index=index,
                                           safe_margin=0.1, pose=pose))
    # a grounded scene; the plan's surface for the first candidate when no mood or change request chose the set
    planned = options.get("surface") if look["mood"] == "default" and "look" not in options else None
    return from_studio(studio.backdrop(cutout, shot.width, shot.height, look=look,
                                       surface_kind=planned if index == 0 else None, seed=seed, index=index,
                                       pose=pose))


def on_scene_plate(ws, product: Product, shot: Shot, cutout: Image.Image, plate,
                   variant: int = 0) -> Rendered | None:
    """The product standing on a registered scene plate's surface, at true scale when both the plate's
    scale and the product's size are known (pipelines.scene_plates); `variant`: another spot, framing and
    shadow for each further candidate on the same plate. None for a further variant that would be a near
    duplicate of the first (the set photo leaves no room for another frame at this size), or past the last
    of the set's frames."""
    import numpy as np

    from pipelines.scene_metrics import NEAR_DUPLICATE, image_distance
    from pipelines.scene_plates import VARIANTS

    if variant >= len(VARIANTS):  # every frame of the set is taken: another would repeat one
        return None
    image = ws.assets.open(plate.asset_id).convert("RGB")
    surface = np.asarray(ws.assets.open(plate.mask_asset_id).convert("L")) > 127
    result = _on_set(image, surface, cutout, product, shot, plate, variant)
    if variant:
        first = _on_set(image, surface, cutout, product, shot, plate, 0)
        if image_distance(result.image, first.image) < NEAR_DUPLICATE:
            return None
    rendered = from_studio(result)
    rendered.params["scene_plate_id"] = plate.id
    return rendered


def _on_set(image: Image.Image, surface, cutout: Image.Image, product: Product, shot: Shot, plate, variant: int):
    """pipelines.scene_plates.on_scene_plate for a shot: true scale from the product's size (height for a
    standing product, width otherwise) and the plate's scale, under the small-photo policy."""
    from pipelines import scene_plates
    from tools.plates import scene_scale

    dims = product.dimensions
    standing = product.category not in FLAT and product.category not in JEWELRY
    return scene_plates.on_scene_plate(image, surface, cutout, size=(shot.width, shot.height),
                                       mm_per_px=scene_scale(plate),
                                       height_mm=dims.height_mm if standing else None,
                                       width_mm=None if standing and dims.height_mm else dims.width_mm,
                                       variant=variant, **plate_enlargement(shot))


def source_photo(ws, sku: str, cutout: Image.Image) -> Image.Image | None:
    """The photo the SKU's cutout was made from (close-ups crop it at its own resolution), or None."""
    for photo in ws.catalog.photos(sku):
        if photo.cutout_asset_id:
            image = ws.assets.open(photo.asset_id)
            return image.convert("RGB") if image.size == cutout.size else None
    return None
