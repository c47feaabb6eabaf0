"""Rendering a shot: Shot + Product -> Candidates, stored as assets and recorded in the catalog.

One contract for every engine: the studio engine (tools/studio_render.py) handles every role; with
engine "diffusers" the roles that need a scene or a person (lifestyle, on_model, model_swap, try_on) go
to tools/diffusion_render.py. Both return `tools.rendering.Rendered`; this module stores them.
No critique here (tools/critique.py) and no re-render loop (tools/production.py).
"""

from __future__ import annotations

from tools.errors import BadInput, EngineUnavailable
from tools.models import Candidate, Role, Shot
from tools.progress import ProgressCallback, report
from tools.rendering import Rendered
from tools.workspace import Workspace

DIFFUSION_ROLES = frozenset({Role.lifestyle, Role.on_model, Role.model_swap, Role.try_on})
MODEL_ROLES = frozenset({Role.on_model, Role.model_swap})  # a person is drawn: only the diffusers engine
Progress = ProgressCallback | None


def render_shot(ws: Workspace, sku: str, shot: Shot, *, engine: str | None = None, seed: int = 0,
                count: int | None = None, attempt: int = 0, progress: Progress = None) -> list[Candidate]:
    """Render `count` (default shot.count) candidates of a shot, store them and record them."""
    from tools.prepare import source_cutout

    # 1. Check inputs
    engine = engine or ws.settings.engine
    if engine not in ("studio", "diffusers"):
        raise BadInput(f"unknown engine {engine!r}: use studio or diffusers")
    if shot.role in MODEL_ROLES and engine != "diffusers":
        raise EngineUnavailable(f"the {shot.role.value.replace('_', '-')} shot needs a diffusion model: see README "
                                "(the built-in engine does not draw people, so no stand-in is made)")
    count = shot.count if count is None else count
    if not 1 <= count <= 12:
        raise BadInput(f"count must be 1..12, got {count}")
    product = ws.catalog.get_product(sku)
    source_id, cutout = source_cutout(ws, sku)
    seeds = [seed + 1000 * attempt + i for i in range(count)]
    report(progress, f"rendering {shot.role.value}", "running",
           f"rendering {count} {shot.role.value} candidate(s) with the {engine} engine", sku=sku, shot=shot.id,
           done=0, total=count)

    # 2. Render with the engine that makes this role
    used = "diffusers" if engine == "diffusers" and shot.role in DIFFUSION_ROLES else "studio"
    if used == "diffusers":
        from tools.diffusion_render import render_with_diffusers

        outputs: list[Rendered] = render_with_diffusers(ws, product, shot, cutout, seeds=seeds, progress=progress)
        model = ws.settings.diffusion_model
    else:
        from tools.studio_render import render_with_studio

        outputs = render_with_studio(ws, product, shot, cutout, seeds=seeds, first_index=attempt * count)
        model = None
    # the plate of a try-on and the talent of a model swap, for consent tracking
    plate_id = shot.options.get("plate_id") or next((r.plate_id for r in outputs if r.plate_id), None)
    talent_id = next((r.talent_id for r in outputs if r.talent_id), None)

    # 3. Store and record
    candidates = []
    for rendered, s in zip(outputs, seeds, strict=True):
        image, params = rendered.image, rendered.params
        # white-background shots stay lossless (pure 255 white); scenes are high-quality JPEG (fast, small)
        if shot.role in (Role.packshot, Role.detail):
            asset_id = ws.assets.put_image(image.convert("RGB"), "PNG", compress_level=1)
        else:
            asset_id = ws.assets.put_image(image.convert("RGB"), "JPEG", quality=95, subsampling=0)
        candidate = Candidate(
            sku=sku, shot_id=shot.id, role=shot.role, asset_id=asset_id, source_asset_id=source_id, engine=used,
            model=model, seed=s, prompt=str(params.get("prompt", "")),
            negative_prompt=str(params.get("negative_prompt", "")),
            placement=rendered.placement, attempt=attempt, warnings=list(rendered.warnings),
            params={k: v for k, v in params.items() if k not in ("plate_id", "talent_id")},
            talent_id=talent_id if shot.role is not Role.try_on else None,
            plate_id=(rendered.plate_id or plate_id) if shot.role is Role.try_on else None,  # each on its own
        )
        candidates.append(ws.catalog.add_candidate(candidate))
    report(progress, f"rendering {shot.role.value}", "done", f"rendered {len(candidates)} {shot.role.value} "
           "candidate(s)", sku=sku, shot=shot.id, done=len(candidates), total=count)
    return candidates
