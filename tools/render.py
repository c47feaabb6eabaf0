"""Rendering a shot: Shot + Product -> Candidates, stored as assets and recorded in the catalog.

The studio engine (pipelines/studio.py) handles every role; with engine "diffusers" the roles that
need a scene or a person (lifestyle, on_model, model_swap, try_on) go to tools.diffusion_render.
No critique here (tools/critique.py) and no re-render loop (tools/production.py).
"""

from __future__ import annotations

from collections.abc import Callable

from PIL import Image

from tools.errors import BadInput
from tools.models import APPAREL, JEWELRY, Candidate, Category, Placement, Product, Role, Shot
from tools.rules import CHANNEL_SPECS, PLATE_KIND, main_fill
from tools.workspace import Workspace

DIFFUSION_ROLES = frozenset({Role.lifestyle, Role.on_model, Role.model_swap, Role.try_on})
SURFACE_CYCLE = ("sweep", "marble", "linen", "paper", "wood")
Progress = Callable[[dict], None] | None


def to_placement(placed) -> Placement:
    """The studio engine's Placed -> the domain Placement."""
    return Placement(x=float(placed.x), y=float(placed.y), width=float(placed.width), height=float(placed.height),
                     angle=float(placed.angle), scale=float(placed.scale), upscale=float(placed.upscale),
                     crop=list(placed.crop) if placed.crop else None, mm_per_px=placed.mm_per_px,
                     hidden_below=placed.hidden_below)


def render_shot(ws: Workspace, sku: str, shot: Shot, *, engine: str | None = None, seed: int = 0,
                count: int | None = None, attempt: int = 0, progress: Progress = None) -> list[Candidate]:
    """Render `count` (default shot.count) candidates of a shot, store them and record them."""
    from tools.prepare import source_cutout

    # 1. Check inputs
    engine = engine or ws.settings.engine
    if engine not in ("studio", "diffusers"):
        raise BadInput(f"unknown engine {engine!r}: use studio or diffusers")
    count = shot.count if count is None else count
    if not 1 <= count <= 12:
        raise BadInput(f"count must be 1..12, got {count}")
    product = ws.catalog.get_product(sku)
    source_id, cutout = source_cutout(ws, sku)
    seeds = [seed + 1000 * attempt + i for i in range(count)]
    _say(progress, f"rendering {count} {shot.role.value} candidate(s) with the {engine} engine")

    # 2. Render
    talent_id = plate_id = None
    used = "diffusers" if engine == "diffusers" and shot.role in DIFFUSION_ROLES else "studio"  # who renders it
    if used == "diffusers":
        from tools.diffusion_render import render_with_diffusers

        rendered = render_with_diffusers(ws, product, shot, cutout, seeds=seeds, progress=progress)
        outputs = [(image, placement, params, list(params.pop("warnings", []) if isinstance(params, dict) else []))
                   for image, placement, params in rendered]
        model = ws.settings.diffusion_model
        # the plate the try-on compositor chose and the talent of a model swap, for consent tracking
        plate_id = shot.options.get("plate_id") or next(
            (p["plate_id"] for _, _, p in rendered if isinstance(p, dict) and p.get("plate_id")), None)
        talent_id = shot.options.get("talent_id")
    else:
        model = None
        outputs = []
        for index, s in enumerate(seeds):
            result, extra = _studio(ws, product, shot, cutout, s, index + attempt * count)
            outputs.append((result.image, to_placement(result.placed), result.params | extra, list(result.warnings)))
            plate_id = extra.get("plate_id") or plate_id
            talent_id = extra.get("talent_id") or talent_id

    # 3. Store and record
    candidates = []
    for (image, placement, params, warnings), s in zip(outputs, seeds, strict=True):
        # white-background shots stay lossless (pure 255 white); scenes are high-quality JPEG (fast, small)
        if shot.role in (Role.packshot, Role.detail):
            asset_id = ws.assets.put_image(image.convert("RGB"), "PNG", compress_level=1)
        else:
            asset_id = ws.assets.put_image(image.convert("RGB"), "JPEG", quality=95, subsampling=0)
        candidate = Candidate(
            sku=sku, shot_id=shot.id, role=shot.role, asset_id=asset_id, source_asset_id=source_id, engine=used,
            model=model, seed=s, prompt=str(params.get("prompt", "")) if isinstance(params, dict) else "",
            negative_prompt=str(params.get("negative_prompt", "")) if isinstance(params, dict) else "",
            placement=placement, attempt=attempt, warnings=warnings,
            params={k: v for k, v in (params or {}).items() if k not in ("plate_id", "talent_id")},
            talent_id=talent_id if shot.role is not Role.try_on else None,
            plate_id=plate_id if shot.role is Role.try_on else None,
        )
        candidates.append(ws.catalog.add_candidate(candidate))
    _say(progress, f"rendered {len(candidates)} {shot.role.value} candidate(s)")
    return candidates


def _say(progress: Progress, message: str) -> None:
    if progress is not None:
        progress({"type": "progress", "message": message})


FLAT = frozenset({Category.necklace, Category.earrings, Category.bracelet, Category.apparel_top,
                  Category.apparel_bottom, Category.dress})


def _studio(ws: Workspace, product: Product, shot: Shot, cutout: Image.Image, seed: int, index: int):
    """One studio-engine candidate: (StudioImage, extra params)."""
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
            return studio.packshot(cutout, shot.width, shot.height, fill=fill, shadow=shadow,
                                   min_long=min(min_long, max(shot.width, shot.height))), {}
        if shot.role is Role.detail:
            spec = CHANNEL_SPECS.get(shot.channel) if shot.channel else None
            return studio.detail(cutout, shot.width, shot.height, variant=index,
                                 min_long=max(1000, spec.min_long_side if spec else 1000)), {}
        if shot.role is Role.try_on:
            return _try_on(ws, product, shot, cutout, index)
        if shot.role is Role.campaign:
            aspect = options.get("aspect")
            if aspect in studio.CAMPAIGN_ASPECTS:
                return studio.campaign(cutout, aspect, mood=shot.mood, brand_colors=options.get("brand_colors", ()),
                                       seed=seed, long_side=max(shot.width, shot.height), pose=pose), {}
            surface = SURFACE_CYCLE[seed % len(SURFACE_CYCLE)]
            return studio.backdrop(cutout, shot.width, shot.height, mood=shot.mood, surface_kind=surface, seed=seed,
                                   brand_colors=options.get("brand_colors", ()), safe_margin=0.1, pose=pose), {}
        # lifestyle, on_model, model_swap: a designed backdrop (the studio engine draws no person)
        surface = options.get("surface") if index == 0 and options.get("surface") else SURFACE_CYCLE[seed % 5]
        result = studio.backdrop(cutout, shot.width, shot.height, mood=shot.mood, surface_kind=surface, seed=seed,
                                 brand_colors=options.get("brand_colors", ()),
                                 reflection=bool(options.get("reflection", surface in ("marble", "sweep"))), pose=pose)
        if shot.role in (Role.on_model, Role.model_swap) or product.category in APPAREL and shot.role is not Role.lifestyle:
            result.warnings.append("studio engine: the garment is shown on a designed backdrop, not worn by a person; "
                                   "use --engine diffusers with a model for on-model images")
        return result, {}
    except studio.StudioError as exc:
        raise BadInput(f"{shot.role.value} shot {shot.id}: {exc}") from None


def _try_on(ws: Workspace, product: Product, shot: Shot, cutout: Image.Image, index: int):
    from pipelines import studio
    from tools.plates import body_mask, usable_plate

    # 1. A plate whose talent consents to the shot's channel
    kind = shot.options.get("plate_kind") or PLATE_KIND.get(product.category)
    if kind is None:
        raise BadInput(f"try-on is for jewelry and watches, not {product.category.value}")
    plate = usable_plate(ws, kind, shot.channel, plate_id=shot.options.get("plate_id"))
    # 2. The real size: the product's width (a ring's outer width), else inner diameter + band
    dims = product.dimensions
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
    # 3. Composite on the plate
    image = ws.assets.open(plate.asset_id).convert("RGB")
    anchor = studio.PlateAnchor(center=tuple(plate.anchor.center), points=[tuple(p) for p in plate.anchor.points],
                                angle=plate.anchor.angle, span_px=plate.anchor.span_px)
    try:
        result = studio.composite_try_on(image, cutout, anchor, product_width_mm=width_mm, mm_per_px=plate.mm_per_px,
                                         body_mask=body_mask(ws, plate), kind=plate.anchor.kind,
                                         shadow=0.3 if index % 2 == 0 else 0.2, size=(shot.width, shot.height))
    except studio.StudioError as exc:
        raise BadInput(f"try-on on plate {plate.id}: {exc}") from None
    result.warnings = warnings + result.warnings
    if "assumed" in plate.description:
        result.warnings.append(f"plate {plate.id} scale assumes a typical body size ({plate.description})")
    return result, {"plate_id": plate.id, "talent_id": plate.talent_id}

