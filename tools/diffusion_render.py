"""Render one shot with the diffusion engine: prompts from the category brief and the scene templates,
product placement, the role's masks, consent rules, and the product lock.

`render_with_diffusers` is what `tools.render.render_shot` calls for engine "diffusers"; it returns
`tools.rendering.Rendered` (the contract both engines share) and stores nothing (render_shot stores
assets and records candidates). The image work itself lives in `pipelines/diffusion.py`.

Roles: lifestyle (outpaint around the locked product), try_on (seam harmonization of the studio
engine's plate composite), on_model (apparel worn by a model; the garment is re-rendered), model_swap
(garment pixels kept, face/skin/hair repainted; a talent's likeness only with a covering consent).
Shot options read here (all optional): product_fraction, product_center [fx, fy], max_upscale,
seam_strength, num_inference_steps, guidance_scale, offload, attention_slicing, model_description,
model_asset_id + garment_mask_asset_id (on_model plate), garment_mask_asset_id or segmentation_model
(model_swap), repaint_mask_asset_id, talent_id, talent_reference_asset_id, plate_id (try_on).
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass
from functools import lru_cache

import numpy as np
from PIL import Image

from pipelines.studio import trim
from tools.errors import BadInput, EngineUnavailable, Refused
from tools.models import APPAREL, JEWELRY, Category, Placement, Product, Role, Shot
from tools.progress import ProgressCallback, report
from tools.rendering import Rendered, studio_try_on, try_on_changes

ROLES = (Role.lifestyle, Role.try_on, Role.on_model, Role.model_swap)
PLACEHOLDERS = ("product", "subject", "materials", "colors", "scene", "mood", "lighting", "props", "framing",
                "model", "avoid")
# Longest side of the product as a fraction of the shot's shorter side, per category group.
PRODUCT_FRACTION = {"jewelry": 0.36, "watch": 0.38, "apparel": 0.62, "other": 0.5}
MAX_UPSCALE = 2.0
# Garment labels of common clothes-parsing segmentation models (ATR/LIP label sets), lower-cased.
GARMENT_LABELS = ("upper-clothes", "upper clothes", "dress", "coat", "pants", "skirt", "jumpsuits", "scarf",
                  "jacket", "shirt", "top", "clothes")

Progress = ProgressCallback | None


# -- prompts ------------------------------------------------------------------------------------------------


@lru_cache(maxsize=64)
def category_brief(category: str) -> dict[str, str | list[str]]:
    """The sections of prompts/categories/<category>.md: lists for bullet sections, text otherwise."""
    import prompts

    text = prompts.load(f"categories/{Category(category).value}.md")
    sections: dict[str, str | list[str]] = {}
    for name, body in prompts.sections(text).items():
        lines = [line.strip() for line in body.splitlines() if line.strip()]
        bullets = [line[2:].strip() for line in lines if line.startswith("- ")]
        sections[name] = bullets if bullets and len(bullets) == len(lines) else " ".join(lines)
    return sections


@lru_cache(maxsize=16)
def scene_template(role: str) -> tuple[str, str]:
    """(prompt, negative_prompt) templates of prompts/scenes/<role>.md; unknown placeholders are refused."""
    import prompts

    text = prompts.load(f"scenes/{Role(role).value}.md")
    parts = prompts.sections(text)
    prompt, negative = parts.get("prompt", ""), parts.get("negative_prompt", "")
    for template in (prompt, negative):
        for _, name, _, _ in string.Formatter().parse(template):
            if name is not None and name not in PLACEHOLDERS:
                raise ValueError(f"scenes/{role}.md uses unknown placeholder {{{name}}}; known: {PLACEHOLDERS}")
    return prompt, negative


def build_prompt(role: Role, product: Product, shot: Shot) -> tuple[str, str]:
    """The (prompt, negative_prompt) of a shot: the role's template filled from the product, shot and category brief."""
    brief = category_brief(product.category.value)
    scenes = brief.get("scenes") or []
    noun = str(brief.get("subject", "the product"))
    described = product.title or " ".join([*product.colors[:2], *product.materials[:2], noun.removeprefix("a ")])
    values = {
        "product": described.strip(),
        "subject": noun,
        "materials": ", ".join(product.materials),
        "colors": ", ".join(product.colors),
        "scene": shot.scene or (scenes[0] if isinstance(scenes, list) and scenes else ""),
        "mood": shot.mood,
        "lighting": str(brief.get("lighting", "")),
        "props": str(brief.get("props", "")),
        "framing": str(brief.get("framing", "")),
        "model": str(shot.options.get("model_description") or "a professional model"),
        "avoid": str(brief.get("avoid", "")),
    }
    prompt, negative = scene_template(role.value)
    return _tidy(prompt.format(**values)), _tidy(negative.format(**values))


def _tidy(text: str) -> str:
    """One line; empty phrases (placeholders without a value) and repeated phrases dropped."""
    parts = [re.sub(r"\s+", " ", part).strip() for part in text.split(",")]
    parts = [part for part in parts if part and part != "mood"]  # "{mood} mood" with no mood
    return ", ".join(dict.fromkeys(parts))


# -- the entry point ---------------------------------------------------------------------------------------


def require_model(settings) -> str:
    """The configured diffusion model's name when it can be used; EngineUnavailable (one line: what is
    wrong and how to point at a model) otherwise. Reads model_index.json only, loads no weights."""
    from pipelines import diffusion

    try:
        return diffusion.inspect_model(settings.diffusion_model).name
    except diffusion.DiffusionUnavailable as exc:
        raise EngineUnavailable(" ".join(str(exc).split())) from None


def diffusion_ready(settings, engine: str | None = None) -> bool:
    """Whether shots that need a diffusion model can be rendered: engine diffusers and a usable model."""
    if (engine or settings.engine) != "diffusers":
        return False
    try:
        require_model(settings)
    except EngineUnavailable:
        return False
    return True


def render_with_diffusers(ws, product: Product, shot: Shot, cutout_rgba: Image.Image, *, seeds: list[int],
                          progress: Progress = None) -> list[Rendered]:
    """Render one candidate per seed for a lifestyle / try_on / on_model / model_swap shot."""
    from pipelines import diffusion

    # 1. Check inputs.
    if shot.role not in ROLES:
        raise BadInput(f"the diffusers engine renders {', '.join(r.value for r in ROLES)}, not role {shot.role.value!r}")
    if not seeds:
        raise BadInput("seeds must list at least one seed (one per candidate)")
    if cutout_rgba.mode != "RGBA":
        raise BadInput(f"cutout_rgba must be an RGBA image, got mode {cutout_rgba.mode!r}")
    if cutout_rgba.getchannel("A").getbbox() is None:
        raise BadInput("the product cutout is fully transparent; run the cutout again on a clearer photo")

    # 2. Refusals come before loading anything heavy.
    _check_consent(ws, shot)

    # 3. Load the model (cached per process).
    _emit(progress, shot, "running", "loading the diffusion model")
    try:
        loaded = diffusion.load_pipeline(
            ws.settings.diffusion_model, device=ws.settings.device,
            offload=str(shot.options.get("offload", "auto")),
            attention_slicing=bool(shot.options.get("attention_slicing", False)),
        )
        renderer = {Role.lifestyle: _lifestyle, Role.try_on: _try_on, Role.on_model: _on_model,
                    Role.model_swap: _model_swap}[shot.role]
        results = renderer(ws, loaded, product, shot, cutout_rgba, list(seeds), progress)
    except diffusion.DiffusionUnavailable as exc:
        raise EngineUnavailable(str(exc)) from None
    except diffusion.DiffusionInputError as exc:
        raise BadInput(str(exc)) from None
    _emit(progress, shot, "done", f"rendered {len(results)} candidates with {loaded.info.name}")
    for rendered in results:
        rendered.talent_id = rendered.talent_id or shot.options.get("talent_id")
    return results


def _emit(progress: Progress, shot: Shot, status: str, message: str, **counts) -> None:
    report(progress, f"diffusion {shot.role.value}", status, message, shot=shot.id, **counts)


@dataclass
class _Run:
    """What every role shares: prompt, sizes and the call parameters recorded with each candidate."""

    prompt: str
    negative_prompt: str
    gen_size: tuple[int, int]
    steps: int | None
    guidance: float | None

    def params(self, loaded, seed: int, **extra) -> dict:
        from pipelines.diffusion import DEFAULTS

        steps, guidance = DEFAULTS[loaded.family]
        return {
            "engine": "diffusers", "model": loaded.info.source, "family": loaded.family,
            "prompt": self.prompt, "negative_prompt": self.negative_prompt if loaded.family != "flux-fill" else "",
            "num_inference_steps": self.steps or steps,
            "guidance_scale": guidance if self.guidance is None else self.guidance,
            "seed": seed, "generation_size": list(self.gen_size), "device": loaded.device,
            "dtype": str(loaded.dtype).removeprefix("torch."), "ip_adapter": loaded.ip_adapter, **extra,
        }


def _prepare(loaded, product: Product, shot: Shot) -> _Run:
    from pipelines.diffusion import generation_size

    prompt, negative = build_prompt(shot.role, product, shot)
    steps = shot.options.get("num_inference_steps")
    guidance = shot.options.get("guidance_scale")
    multiple = 2 * loaded.vae_scale_factor
    return _Run(prompt, negative, generation_size(shot.width, shot.height, loaded.native_size, multiple),
                int(steps) if steps is not None else None, float(guidance) if guidance is not None else None)


def _request(run: _Run, image, mask, seeds, *, strength=1.0, reference=None):
    from pipelines.diffusion import InpaintRequest

    return InpaintRequest(image=image, mask=mask, prompt=run.prompt, negative_prompt=run.negative_prompt,
                          seeds=seeds, num_inference_steps=run.steps, guidance_scale=run.guidance,
                          strength=strength, reference=reference)


def _step_progress(progress: Progress, shot: Shot, what: str):
    if progress is None:
        return None
    return lambda done, total: _emit(progress, shot, "running", f"{what}: {done}/{total} candidates", done=done,
                                     total=total)


# -- placement -------------------------------------------------------------------------------------------


def product_box(shot: Shot, product: Product, size: tuple[int, int]) -> tuple[tuple[int, int, int, int], float]:
    """Where the (trimmed) product goes in the shot: ((x, y, w, h), scale in shot px per source px)."""
    group = ("jewelry" if product.category in JEWELRY else "apparel" if product.category in APPAREL
             else "watch" if product.category == Category.watch else "other")
    fraction = float(shot.options.get("product_fraction", PRODUCT_FRACTION[group]))
    if not 0.05 <= fraction <= 0.95:
        raise BadInput(f"shot option product_fraction must be 0.05..0.95, got {fraction}")
    cx, cy = shot.options.get("product_center", (0.5, 0.56))
    max_upscale = float(shot.options.get("max_upscale", MAX_UPSCALE))
    w, h = size
    scale = min(fraction * min(shot.width, shot.height) / max(w, h), max_upscale)
    scale = min(scale, 0.95 * shot.width / w, 0.95 * shot.height / h)
    bw, bh = max(1, round(w * scale)), max(1, round(h * scale))
    x = int(round(min(max(cx * shot.width - bw / 2, 0), shot.width - bw)))
    y = int(round(min(max(cy * shot.height - bh / 2, 0), shot.height - bh)))
    return (x, y, bw, bh), bw / w


def _placement(box, scale: float, seam_px: float | None = None) -> Placement:
    """The product's own bounds in the candidate (x, y = top-left), candidate px per source px, and the
    band inside its outline blended into the scene (the vision check expects the source's pixels only
    deeper than that)."""
    x, y, w, h = box
    return Placement(x=x, y=y, width=w, height=h, scale=scale, upscale=max(1.0, scale), seam_px=seam_px)


def _to_gen(box, factor: float) -> tuple[int, int, int, int]:
    x, y, w, h = box
    return (int(round(x * factor)), int(round(y * factor)), max(1, int(round(w * factor))),
            max(1, int(round(h * factor))))


def _feather(shot: Shot) -> float:
    return max(1.5, 0.003 * min(shot.width, shot.height))


# -- lifestyle ------------------------------------------------------------------------------------------


def _lifestyle(ws, loaded, product, shot, cutout, seeds, progress):
    from pipelines import diffusion

    # 1. Prompt, sizes, and the product's box in the shot and at generation size.
    run = _prepare(loaded, product, shot)
    item, _ = trim(cutout, min_alpha=0)  # every pixel the cutout carries is locked
    box, scale = product_box(shot, product, item.size)
    gw, gh = run.gen_size
    factor = gw / shot.width
    gen_box = _to_gen(box, factor)

    # 2. The product on a neutral canvas; repaint all but the slightly grown product.
    canvas, alpha = diffusion.place_on((gw, gh), item, gen_box, (128, 128, 128))
    grow = max(2, round(0.008 * max(gw, gh)))
    mask = diffusion.outpaint_mask(alpha, grow)
    scenes = diffusion.inpaint(loaded, _request(run, canvas, mask, seeds),
                               progress=_step_progress(progress, shot, "painting the scene"))

    # 3. Optional low-strength pass over the seam/shadow ring only, after a first lock at generation size.
    seam_strength = shot.options.get("seam_strength")
    if seam_strength:
        ring = diffusion.seam_mask(alpha, outer_px=3 * grow, inner_px=1)
        scenes = [
            diffusion.inpaint(loaded, _request(run, diffusion.lock_product(s, item, gen_box).image, ring, [seed],
                                               strength=float(seam_strength)))[0]
            for s, seed in zip(scenes, seeds, strict=True)
        ]

    # 4. Scale each scene to the shot and lock the product at full resolution.
    results = []
    for scene, seed in zip(scenes, seeds, strict=True):
        full = scene.resize((shot.width, shot.height), Image.LANCZOS)
        locked = diffusion.lock_product(full, item, box, feather_px=_feather(shot))
        params = run.params(loaded, seed, seam_strength=seam_strength, product_locked=True, lock={
            "feather_px": _feather(shot), "exact_pixels": int(locked.exact.sum()), "box": list(box)})
        results.append(Rendered(locked.image, _placement(box, scale, _feather(shot)), params))
    return results


# -- try-on: harmonize the seam of the studio engine's composite --------------------------------------------


def _try_on(ws, loaded, product, shot, cutout, seeds, progress):
    from pipelines import diffusion

    # 1. The studio engine composites the product on the plate (scale-true, at the anchor, consent checked).
    composite = studio_try_on(ws, product, shot, cutout)
    changed = try_on_changes(ws, composite, shot)
    run = _prepare(loaded, product, shot)
    gw, gh = run.gen_size

    # 2. Repaint only a thin ring around what the compositor changed (product + its shadow), low strength.
    grow = max(2, round(0.006 * max(gw, gh)))
    small = np.asarray(Image.fromarray(changed.astype(np.uint8) * 255).resize((gw, gh), Image.BILINEAR),
                       dtype=np.float32) / 255.0
    ring = diffusion.seam_mask(small, outer_px=2 * grow, inner_px=grow)
    strength = float(shot.options.get("seam_strength", 0.45))
    scenes = diffusion.inpaint(loaded, _request(run, composite.image.resize((gw, gh), Image.LANCZOS), ring, seeds,
                                                strength=strength),
                               progress=_step_progress(progress, shot, "blending the seam"))

    # 3. Only the ring changes: blend it over the full-resolution composite; every other pixel, the
    #    product's included, is the studio composite's.
    results = []
    for scene, seed in zip(scenes, seeds, strict=True):
        blended = diffusion.blend_seam(composite.image, scene, ring)
        params = run.params(loaded, seed, strength=strength, plate_id=composite.plate_id, product_locked=True,
                            lock={"exact_pixels": int(blended.exact.sum())})
        seam = composite.placement.model_copy(update={"seam_px": (grow + 1) * shot.width / gw})  # the ring's inner part
        results.append(Rendered(blended.image, seam, params, list(composite.warnings), plate_id=composite.plate_id,
                                talent_id=composite.talent_id))
    return results


# -- apparel on a model -------------------------------------------------------------------------------------


def _on_model(ws, loaded, product, shot, cutout, seeds, progress):
    from pipelines import diffusion

    # 1. Check inputs: apparel only; a model plate and its garment region, or none (a model is painted).
    if product.category not in APPAREL:
        raise BadInput(f"on_model renders apparel ({', '.join(sorted(c.value for c in APPAREL))}), "
                       f"not {product.category.value}")
    run = _prepare(loaded, product, shot)
    gw, gh = run.gen_size
    item, _ = trim(cutout, min_alpha=0)  # every pixel the cutout carries is locked
    reference = _on_white(item)
    model_asset = shot.options.get("model_asset_id")

    if model_asset:
        # 2a. A model plate: repaint the garment region, guided by the garment (IP-Adapter when present).
        mask_id = shot.options.get("garment_mask_asset_id")
        if not mask_id:
            raise BadInput("on_model with model_asset_id needs garment_mask_asset_id: a mask of where the garment goes")
        plate = ws.assets.open(model_asset).convert("RGB")
        region = diffusion.region_mask(ws.assets.open(mask_id).resize(plate.size, Image.NEAREST))
        image = plate.resize((gw, gh), Image.LANCZOS)
        mask = diffusion.region_mask(region.resize((gw, gh), Image.NEAREST), grow_px=max(2, gw // 128))
        scenes = diffusion.inpaint(loaded, _request(run, image, mask, seeds, reference=reference),
                                   progress=_step_progress(progress, shot, "dressing the model"))
        bbox = region.resize((shot.width, shot.height), Image.NEAREST).getbbox() or (0, 0, shot.width, shot.height)
        box = (bbox[0], bbox[1], bbox[2] - bbox[0], bbox[3] - bbox[1])
        scale = box[2] / item.width
        extra = {"model_asset_id": model_asset, "garment_mask_asset_id": mask_id}
    else:
        # 2b. No plate: place the garment where a torso wears it, paint the model around it, then
        #     re-render the garment at medium strength so it drapes (the vision check compares apparel).
        center = {Category.apparel_bottom: (0.5, 0.7), Category.dress: (0.5, 0.55)}.get(product.category, (0.5, 0.42))
        shot = shot.model_copy(update={"options": {"product_center": center, **shot.options}})
        box, scale = product_box(shot, product, item.size)
        gen_box = _to_gen(box, gw / shot.width)
        canvas, alpha = diffusion.place_on((gw, gh), item, gen_box, (128, 128, 128))
        grow = max(2, gw // 128)
        first = diffusion.inpaint(loaded, _request(run, canvas, diffusion.outpaint_mask(alpha, grow), seeds,
                                                   reference=reference),
                                  progress=_step_progress(progress, shot, "painting the model"))
        drape = diffusion.region_mask(alpha * 255, grow_px=2 * grow)
        strength = float(shot.options.get("drape_strength", 0.5))
        scenes = [diffusion.inpaint(loaded, _request(run, img, drape, [seed], strength=strength, reference=reference))[0]
                  for img, seed in zip(first, seeds, strict=True)]
        extra = {"drape_strength": strength}

    # 3. Scale to the shot; the garment is re-rendered, so no lock here.
    return [Rendered(scene.resize((shot.width, shot.height), Image.LANCZOS), _placement(box, scale),
                     run.params(loaded, seed, garment_rerendered=True, product_locked=False, **extra))
            for scene, seed in zip(scenes, seeds, strict=True)]


def _on_white(item: Image.Image) -> Image.Image:
    base = Image.new("RGBA", item.size, (255, 255, 255, 255))
    base.alpha_composite(item)
    return base.convert("RGB")


# -- model swap -----------------------------------------------------------------------------------------------


def _check_consent(ws, shot: Shot) -> None:
    """A named talent's likeness (model_swap) or photo (on_model plate) needs a consent covering the channel."""
    talent_id = shot.options.get("talent_id")
    if not talent_id or shot.role not in (Role.model_swap, Role.on_model):
        return
    talent = ws.catalog.get_talent(str(talent_id))
    reason = talent.consent.refusal(shot.channel, likeness=shot.role == Role.model_swap)
    if reason:
        what = "a digital twin of" if shot.role == Role.model_swap else "photos of"
        raise Refused(f"refused to render {what} {talent.name} ({talent.id}): {reason}")


def _model_swap(ws, loaded, product, shot, cutout, seeds, progress):
    from pipelines import diffusion

    # 1. The source on-model photo and the garment pixels to keep.
    photo = _on_model_photo(ws, product)
    keep = _garment_mask(ws, shot, photo)
    if np.asarray(keep).max() == 0:
        raise BadInput("the garment mask is empty: nothing of the garment would be kept; supply a mask that covers it")
    repaint_id = shot.options.get("repaint_mask_asset_id")
    repaint = (diffusion.region_mask(ws.assets.open(repaint_id).resize(photo.size, Image.NEAREST))
               if repaint_id else Image.fromarray(255 - np.asarray(keep), "L"))

    # 2. Repaint face, skin and hair (the repaint region minus the garment) at generation size.
    run = _prepare(loaded, product, shot)
    gw, gh = run.gen_size
    repaint_gen = np.asarray(repaint.resize((gw, gh), Image.NEAREST)) > 127
    keep_gen = np.asarray(diffusion.region_mask(keep.resize((gw, gh), Image.NEAREST), grow_px=1)) > 127
    mask = Image.fromarray(((repaint_gen & ~keep_gen) * 255).astype(np.uint8), "L")
    reference_id = shot.options.get("talent_reference_asset_id")
    reference = ws.assets.open(reference_id).convert("RGB") if reference_id else None
    scenes = diffusion.inpaint(loaded, _request(run, photo.resize((gw, gh), Image.LANCZOS), mask, seeds,
                                                reference=reference),
                               progress=_step_progress(progress, shot, "repainting the model"))

    # 3. Back at the shot size, lock the garment pixels from the source photo.
    source = photo.resize((shot.width, shot.height), Image.LANCZOS)
    keep_full = keep.resize((shot.width, shot.height), Image.NEAREST)
    bbox = keep_full.getbbox() or (0, 0, shot.width, shot.height)
    box = (bbox[0], bbox[1], bbox[2] - bbox[0], bbox[3] - bbox[1])
    results = []
    for scene, seed in zip(scenes, seeds, strict=True):
        locked = diffusion.lock_region(scene.resize((shot.width, shot.height), Image.LANCZOS), source, keep_full,
                                       feather_px=_feather(shot))
        params = run.params(loaded, seed, talent_id=shot.options.get("talent_id"), product_locked=True,
                            garment_mask=shot.options.get("garment_mask_asset_id") or shot.options.get("segmentation_model"),
                            lock={"exact_pixels": int(locked.exact.sum())})
        results.append(Rendered(locked.image, _placement(box, shot.width / photo.width), params))
    return results


def _on_model_photo(ws, product: Product) -> Image.Image:
    from tools.models import PhotoKind

    photos = ws.catalog.photos(product.sku)
    if not photos:
        raise BadInput(f"model swap needs an on-model photo of {product.sku}; none is stored")
    chosen = next((p for p in photos if p.kind == PhotoKind.on_model), photos[0])
    return ws.assets.open(chosen.asset_id).convert("RGB")


def _garment_mask(ws, shot: Shot, photo: Image.Image) -> Image.Image:
    """White = garment pixels to keep: a user-supplied mask, else a transformers segmentation model."""
    from pipelines import diffusion

    mask_id = shot.options.get("garment_mask_asset_id")
    if mask_id:
        return diffusion.region_mask(ws.assets.open(mask_id).resize(photo.size, Image.NEAREST))
    model = shot.options.get("segmentation_model")
    if model:
        try:
            return diffusion.segment_garment(photo, str(model), GARMENT_LABELS)
        except diffusion.DiffusionUnavailable as exc:
            raise EngineUnavailable(str(exc)) from None
    raise BadInput("model swap needs the garment's pixels to keep: supply garment_mask_asset_id (a mask of the "
                   "garment) or segmentation_model (a clothes-parsing model folder for transformers)")
