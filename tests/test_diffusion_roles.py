"""Diffusion roles through `tools.diffusion_render.render_with_diffusers`: lifestyle with the product
locked, apparel on a model, model swap with kept garment pixels, consent refusals, prompts from
`prompts/`, and the missing-weights message. Tiny pipelines, CPU, 2 steps.
"""

from __future__ import annotations

from datetime import date, timedelta

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw
from tiny_diffusers import tiny_model

from pipelines.diffusion import resample_cutout
from pipelines.studio import trim
from tools.demo import DEMO_PRODUCTS, demo_cutout
from tools.diffusion_render import build_prompt, category_brief, render_with_diffusers, scene_template
from tools.errors import BadInput, EngineUnavailable, Refused
from tools.models import Category, Channel, Consent, Photo, PhotoKind, Product, Role, Shot, Slot, Talent
from tools.workspace import Workspace

STEPS = {"num_inference_steps": 2}


def _product(sku: str) -> Product:
    demo = DEMO_PRODUCTS[sku]
    return Product(sku=sku, category=demo.category, title=demo.title, materials=demo.materials, colors=demo.colors)


def _workspace(settings, family: str) -> Workspace:
    return Workspace.open(settings.with_(engine="diffusers", diffusion_model=str(tiny_model(family)), device="cpu"))


def _assert_locked(image: Image.Image, cutout: Image.Image, placement, erode_px: int = 4) -> int:
    """Inside the eroded product mask the candidate's pixels equal the source cutout resampled to the box."""
    item, _ = trim(cutout, min_alpha=0)
    x, y, w, h = int(placement.x), int(placement.y), int(placement.width), int(placement.height)
    source = np.asarray(resample_cutout(item, (w, h)))
    solid = (source[..., 3] == 255).astype(np.uint8)
    inner = cv2.erode(solid, np.ones((2 * erode_px + 1,) * 2, np.uint8)) > 0
    candidate = np.asarray(image.convert("RGB"))[y:y + h, x:x + w]
    assert inner.sum() > 1000
    assert np.array_equal(candidate[inner], source[..., :3][inner])
    return int(inner.sum())


def _unpack(rendered):
    return rendered.image, rendered.placement, rendered.params


def test_lifestyle_locks_the_product_and_reproduces_seeds(settings):
    ws = _workspace(settings, "sd-inpaint")
    product, cutout = _product("DEMO-RING"), demo_cutout("DEMO-RING")
    shot = Shot(role=Role.lifestyle, slot=Slot.gallery_3, channel=Channel.etsy, width=1200, height=900,
                mood="warm holiday", options=STEPS)
    events = []
    results = render_with_diffusers(ws, product, shot, cutout, seeds=[11, 12], progress=events.append)

    assert len(results) == 2
    for image, placement, params in ((r.image, r.placement, r.params) for r in results):
        assert image.size == (1200, 900) and image.mode == "RGB"
        assert params["model"] == str(tiny_model("sd-inpaint")) and params["num_inference_steps"] == 2
        assert params["generation_size"] == [592, 448]  # 512² area, 4:3, multiples of 16
        assert "Gold ring with a blue sapphire" in params["prompt"] and "warm holiday mood" in params["prompt"]
        assert "extra rings" in params["negative_prompt"] and params["product_locked"] is True
        assert placement.scale <= 2.0 and 0 < placement.width < 1200
        _assert_locked(image, cutout, placement)
    assert [r.params["seed"] for r in results] == [11, 12]
    # The scene is painted (not the neutral canvas) and differs between seeds; a seed renders the same again.
    first, second = (np.asarray(r.image) for r in results)
    assert not np.array_equal(first, second)
    assert np.asarray(first)[:50, :50].std() > 1
    again = render_with_diffusers(ws, product, shot, cutout, seeds=[12])[0].image
    assert np.array_equal(np.asarray(again), second)
    assert events[0]["status"] == "running" and events[-1]["status"] == "done"


def test_lifestyle_with_an_sdxl_inpainting_model(settings):
    ws = _workspace(settings, "sdxl-inpaint")
    cutout = demo_cutout("DEMO-TEE")
    shot = Shot(role=Role.lifestyle, slot=Slot.gallery_3, width=1600, height=900, options=STEPS)
    image, placement, params = _unpack(render_with_diffusers(ws, _product("DEMO-TEE"), shot, cutout, seeds=[3])[0])
    assert image.size == (1600, 900) and params["family"] == "sdxl-inpaint"
    assert params["generation_size"] == [688, 384]
    _assert_locked(image, cutout, placement)


def test_lifestyle_seam_pass_keeps_the_lock(settings):
    ws = _workspace(settings, "sd-inpaint")
    cutout = demo_cutout("DEMO-BRACELET")
    shot = Shot(role=Role.lifestyle, slot=Slot.gallery_3, width=800, height=800,
                options={**STEPS, "seam_strength": 0.5, "product_fraction": 0.5})
    image, placement, params = _unpack(render_with_diffusers(ws, _product("DEMO-BRACELET"), shot, cutout, seeds=[3])[0])
    assert params["seam_strength"] == 0.5
    assert placement.width == pytest.approx(400, abs=2) or placement.height == pytest.approx(400, abs=2)
    _assert_locked(image, cutout, placement)


def test_on_model_rerenders_the_garment_around_a_torso_with_reference_conditioning(settings):
    ws = _workspace(settings, "sd-inpaint+ip-adapter")
    shot = Shot(role=Role.on_model, slot=Slot.gallery_2, channel=Channel.zalando, width=600, height=800,
                options={**STEPS, "model_description": "a woman in her thirties"})
    image, placement, params = _unpack(render_with_diffusers(ws, _product("DEMO-TEE"), shot, demo_cutout("DEMO-TEE"),
                                                     seeds=[5])[0])
    assert image.size == (600, 800)
    assert params["garment_rerendered"] is True and params["drape_strength"] == 0.5
    assert params["ip_adapter"] is True  # the flat lay steers the repainted garment
    assert params["product_locked"] is False  # provenance: the model re-rendered the garment
    assert "a woman in her thirties wearing Navy cotton tee" in params["prompt"]
    assert placement.y + placement.height / 2 < 400  # a top sits on the upper body
    with pytest.raises(BadInput, match="on_model renders apparel"):
        render_with_diffusers(ws, _product("DEMO-RING"), shot, demo_cutout("DEMO-RING"), seeds=[5])


def test_on_model_dresses_a_model_plate_in_the_garment_region(settings):
    ws = _workspace(settings, "sd-inpaint")
    _, person, region = _on_model_sku(ws)
    shot = Shot(role=Role.on_model, slot=Slot.gallery_2, width=300, height=400,
                options={**STEPS, "model_asset_id": ws.assets.put_image(person),
                         "garment_mask_asset_id": ws.assets.put_image(region)})
    image, placement, params = _unpack(render_with_diffusers(ws, _product("DEMO-TEE"), shot, demo_cutout("DEMO-TEE"),
                                                     seeds=[8])[0])
    assert image.size == (300, 400) and params["model_asset_id"] == shot.options["model_asset_id"]
    x0, y0, x1, y1 = region.getbbox()
    assert placement.x == pytest.approx(x0 / 2, abs=2) and placement.width == pytest.approx((x1 - x0) / 2, abs=3)
    shot.options.pop("garment_mask_asset_id")
    with pytest.raises(BadInput, match="needs garment_mask_asset_id"):
        render_with_diffusers(ws, _product("DEMO-TEE"), shot, demo_cutout("DEMO-TEE"), seeds=[8])


def _on_model_sku(ws) -> tuple[Product, Image.Image, Image.Image]:
    """A person-like on-model photo of the demo tee and the tee's exact mask, stored in the catalog."""
    photo = Image.new("RGB", (600, 800), (205, 200, 190))
    draw = ImageDraw.Draw(photo)
    draw.ellipse((240, 40, 360, 190), fill=(224, 172, 140))  # head
    draw.rectangle((270, 180, 330, 230), fill=(224, 172, 140))  # neck
    tee = trim(demo_cutout("DEMO-TEE"), min_alpha=0)[0].resize((420, 460))
    photo.paste(tee, (90, 210), tee)
    mask = Image.new("L", photo.size, 0)
    mask.paste(tee.getchannel("A").point(lambda a: 255 if a > 127 else 0), (90, 210))
    product = ws.catalog.upsert_product(_product("DEMO-TEE"))
    ws.catalog.add_photo(Photo(asset_id=ws.assets.put_image(photo), sku=product.sku, kind=PhotoKind.on_model,
                               width=600, height=800))
    return product, photo, mask


def test_model_swap_keeps_the_garment_pixels(settings):
    ws = _workspace(settings, "sd-inpaint")
    product, photo, mask = _on_model_sku(ws)
    ws.catalog.upsert_talent(Talent(id="tal_bo", name="Bo", consent=Consent(
        talent_id="tal_bo", channels=[Channel.shopify], likeness=True, expires=date.today() + timedelta(days=30))))
    shot = Shot(role=Role.model_swap, slot=Slot.gallery_2, channel=Channel.shopify, width=600, height=800,
                options={**STEPS, "garment_mask_asset_id": ws.assets.put_image(mask), "talent_id": "tal_bo",
                         "model_description": "a man with short curly hair"})
    image, placement, params = _unpack(render_with_diffusers(ws, product, shot, demo_cutout("DEMO-TEE"), seeds=[9])[0])
    assert image.size == (600, 800)
    kept = cv2.erode((np.asarray(mask) > 127).astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert np.array_equal(np.asarray(image)[kept], np.asarray(photo)[kept])
    face = np.asarray(image)[60:170, 260:340].astype(int)
    assert np.abs(face - np.asarray(photo)[60:170, 260:340].astype(int)).mean() > 5  # repainted
    assert abs(placement.x - 90) <= 2 and abs(placement.y - 210) <= 2 and params["lock"]["exact_pixels"] > 50_000
    assert params["talent_id"] == "tal_bo"  # a digital twin whose consent covers shopify


def test_model_swap_keeps_what_a_segmentation_model_labels_as_garment(settings, tmp_path):
    from tiny_diffusers import build_tiny_segmenter

    from pipelines.diffusion import segment_garment
    from tools.diffusion_render import GARMENT_LABELS

    ws = _workspace(settings, "sd-inpaint")
    product, photo, _ = _on_model_sku(ws)
    segmenter = build_tiny_segmenter(tmp_path / "segmenter")
    shot = Shot(role=Role.model_swap, slot=Slot.gallery_2, width=600, height=800,
                options={**STEPS, "segmentation_model": str(segmenter)})
    image, _, params = _unpack(render_with_diffusers(ws, product, shot, demo_cutout("DEMO-TEE"), seeds=[6])[0])
    garment = np.asarray(segment_garment(photo, str(segmenter), GARMENT_LABELS)) > 127
    kept = cv2.erode(garment.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert 1000 < kept.sum() < garment.size * 0.9  # the random segmenter labels part of the photo as garment
    assert np.array_equal(np.asarray(image)[kept], np.asarray(photo)[kept])
    assert not np.array_equal(np.asarray(image), np.asarray(photo))
    assert params["garment_mask"] == str(segmenter)


def test_model_swap_without_a_garment_mask_says_what_to_supply(settings):
    ws = _workspace(settings, "sd-inpaint")
    product, _, _ = _on_model_sku(ws)
    shot = Shot(role=Role.model_swap, slot=Slot.gallery_2, width=600, height=800, options=STEPS)
    with pytest.raises(BadInput, match="supply garment_mask_asset_id .* or segmentation_model"):
        render_with_diffusers(ws, product, shot, demo_cutout("DEMO-TEE"), seeds=[1])
    shot.options["segmentation_model"] = str(settings.home / "no-such-segmenter")
    with pytest.raises(EngineUnavailable, match="no segmentation model folder"):
        render_with_diffusers(ws, product, shot, demo_cutout("DEMO-TEE"), seeds=[1])


@pytest.mark.parametrize("consent, channel, reason", [
    (dict(channels=[Channel.amazon], likeness=True), Channel.etsy, "covers amazon, not etsy"),
    (dict(channels=[Channel.etsy], likeness=True, expires=date.today() - timedelta(days=1)), Channel.etsy, "expired on"),
    (dict(channels=[Channel.etsy], likeness=True, revoked=True), Channel.etsy, "was revoked"),
    (dict(channels=[Channel.etsy], likeness=False), Channel.etsy, "does not allow a digital twin"),
])
def test_digital_twin_needs_a_consent_that_covers_the_use(settings, consent, channel, reason):
    ws = _workspace(settings, "sd-inpaint")
    product, _, mask = _on_model_sku(ws)
    ws.catalog.upsert_talent(Talent(id="tal_ana", name="Ana", consent=Consent(talent_id="tal_ana", **consent)))
    shot = Shot(role=Role.model_swap, slot=Slot.gallery_2, channel=channel, width=600, height=800,
                options={**STEPS, "talent_id": "tal_ana", "garment_mask_asset_id": ws.assets.put_image(mask)})
    with pytest.raises(Refused) as info:
        render_with_diffusers(ws, product, shot, demo_cutout("DEMO-TEE"), seeds=[1])
    assert "refused to render a digital twin of Ana (tal_ana)" in str(info.value) and reason in str(info.value)


def test_missing_weights_are_an_engine_error_with_the_fix(settings, tmp_path):
    ws = Workspace.open(settings.with_(engine="diffusers"))
    shot = Shot(role=Role.lifestyle, slot=Slot.gallery_3, width=512, height=512)
    with pytest.raises(EngineUnavailable) as info:
        render_with_diffusers(ws, _product("DEMO-RING"), shot, demo_cutout("DEMO-RING"), seeds=[0])
    assert "pass --model PATH" in str(info.value) and "LISTING_STUDIO_MODEL" in str(info.value)
    ws = Workspace.open(settings.with_(engine="diffusers", diffusion_model=str(tmp_path / "weights")))
    with pytest.raises(EngineUnavailable, match="no model folder at"):
        render_with_diffusers(ws, _product("DEMO-RING"), shot, demo_cutout("DEMO-RING"), seeds=[0])


def test_roles_and_inputs_are_checked(settings):
    ws = _workspace(settings, "sd-inpaint")
    packshot = Shot(role=Role.packshot, slot=Slot.grid, width=512, height=512)
    with pytest.raises(BadInput, match="not role 'packshot'"):
        render_with_diffusers(ws, _product("DEMO-RING"), packshot, demo_cutout("DEMO-RING"), seeds=[0])
    lifestyle = Shot(role=Role.lifestyle, slot=Slot.gallery_3, width=512, height=512)
    with pytest.raises(BadInput, match="must be an RGBA image, got mode 'RGB'"):
        render_with_diffusers(ws, _product("DEMO-RING"), lifestyle, demo_cutout("DEMO-RING").convert("RGB"), seeds=[0])
    with pytest.raises(BadInput, match="fully transparent"):
        render_with_diffusers(ws, _product("DEMO-RING"), lifestyle, Image.new("RGBA", (64, 64)), seeds=[0])
    lifestyle.options["product_fraction"] = 2
    with pytest.raises(BadInput, match="product_fraction must be 0.05..0.95, got 2"):
        render_with_diffusers(ws, _product("DEMO-RING"), lifestyle, demo_cutout("DEMO-RING"), seeds=[0])


def test_every_category_has_a_brief_and_every_role_a_template():
    for category in Category:
        brief = category_brief(category.value)
        assert brief["subject"] and brief["lighting"] and brief["avoid"] and brief["gallery"], category
        assert isinstance(brief["scenes"], list) and len(brief["scenes"]) >= 3, category
    for role in (Role.lifestyle, Role.try_on, Role.on_model, Role.model_swap):
        prompt, negative = scene_template(role.value)
        assert "{product}" in prompt and negative
    shot = Shot(role=Role.lifestyle, slot=Slot.gallery_3, width=512, height=512)
    prompt, negative = build_prompt(Role.lifestyle, Product(sku="X1", category=Category.bag), shot)
    assert "on a cafe table beside a coffee cup" in prompt and ", ," not in prompt and " mood" not in prompt
    assert "changed hardware" in negative


def test_try_on_repaints_only_the_seam_of_the_studio_composite(settings, real_hand_plate, demo_photo):
    from tools.plates import register_plate
    from tools.prepare import ingest_product
    from tools.render import render_shot
    from tools.rendering import studio_try_on, try_on_changes

    ws = _workspace(settings, "sd-inpaint")
    plate, mask = real_hand_plate
    register_plate(ws, plate, kind="hand", mask=mask, plate_id="hand-left", talent_id="tal_hand", talent_name="Hand model", consent_channels=["etsy"])
    product = _product("DEMO-RING").model_copy(update={"dimensions": DEMO_PRODUCTS["DEMO-RING"].dimensions})
    shot = Shot(role=Role.try_on, slot=Slot.gallery_2, channel=Channel.etsy, width=800, height=800,
                options={**STEPS, "seam_strength": 0.5, "plate_id": "hand-left"})
    results = render_with_diffusers(ws, product, shot, demo_cutout("DEMO-RING"), seeds=[4])
    studio = studio_try_on(ws, product, shot, demo_cutout("DEMO-RING"))
    composite, placement, changed = studio.image, studio.placement, try_on_changes(ws, studio, shot)
    product_core = cv2.erode(changed.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    assert product_core.sum() > 500
    for image, placed, params in (_unpack(r) for r in results):
        assert image.size == (800, 800) and params["plate_id"] == "hand-left"
        # the studio's record, plus how deep into the product the repainted ring reaches (for the vision check)
        assert placed.model_copy(update={"seam_px": None}) == placement and 0 < placed.seam_px < 7.5
        candidate, studio_image = np.asarray(image), np.asarray(composite)
        assert np.array_equal(candidate[product_core], studio_image[product_core])  # the product stays the studio's
        far = ~(cv2.dilate(changed.astype(np.uint8), np.ones((61, 61), np.uint8)) > 0)
        assert np.array_equal(candidate[far], studio_image[far])  # the plate away from the seam is untouched
        assert not np.array_equal(candidate, studio_image)  # the seam was repainted
    # Through render_shot, the candidate records the plate (its consent can be revoked later).
    ingest_product(ws, "DEMO-RING", [demo_photo], category="ring")
    ws.catalog.upsert_product(product)
    candidate = render_shot(ws, "DEMO-RING", shot, engine="diffusers", count=1)[0]
    assert candidate.plate_id == "hand-left" and candidate.engine == "diffusers"
    # The plate's consent covers etsy only.
    with pytest.raises(Refused, match="amazon"):
        render_with_diffusers(ws, product, shot.model_copy(update={"channel": Channel.amazon}),
                              demo_cutout("DEMO-RING"), seeds=[4])


def test_lifestyle_candidate_passes_the_vision_check(settings, demo_photo):
    from tools.critique import critique_candidate
    from tools.models import GalleryPlan
    from tools.prepare import ingest_product
    from tools.render import render_shot

    ws = _workspace(settings, "sd-inpaint")
    ingest_product(ws, "DEMO-RING", [demo_photo], category="ring")
    shot = Shot(role=Role.lifestyle, slot=Slot.gallery_3, channel=Channel.etsy, width=1200, height=1200, count=1,
                mood="warm holiday", options=STEPS)
    ws.catalog.save_plan(GalleryPlan(sku="DEMO-RING", shots=[shot]))
    candidate = render_shot(ws, "DEMO-RING", shot, engine="diffusers", seed=21)[0]
    assert candidate.engine == "diffusers" and candidate.model == str(tiny_model("sd-inpaint"))
    assert candidate.seed == 21 and "warm holiday" in candidate.prompt
    assert ws.assets.open(candidate.asset_id).size == (1200, 1200)
    critique = critique_candidate(ws, candidate)
    assert critique.verdict == "pass", critique.reasons
    assert ws.catalog.latest_critique(candidate.id).verdict == "pass"
