"""The vision check catches each kind of defect, and passes the clean composite: one test per check.

Candidates are built from the demo cutouts (exact alpha) the way an engine would composite them, then
altered the way a generator goes wrong. Every test names the check that must fail, so a broken check
fails its test.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFilter

from pipelines import vision
from tools.critique import critique_images
from tools.demo import demo_cutout
from tools.models import Category, Channel, Dimensions, Placement, Product

SIZE = 600


def tight(cutout: Image.Image) -> Image.Image:
    return cutout.crop(cutout.getchannel("A").getbbox())


@pytest.fixture(scope="module")
def ring() -> Image.Image:
    return tight(demo_cutout("DEMO-RING", SIZE))


def place(cutout: Image.Image, *, frame=(1024, 1024), share=0.85, bg=(255, 255, 255), size_factor=1.0,
          stretch=(1.0, 1.0), center=None, recorded: Image.Image | None = None) -> tuple[Image.Image, Placement]:
    """Composite like an engine: returns the image and the placement the engine records."""
    recorded = recorded or cutout
    W, H = frame
    s = share * min(W, H) / max(recorded.size)
    w, h = round(cutout.width * s * size_factor * stretch[0]), round(cutout.height * s * size_factor * stretch[1])
    cx, cy = center or (W / 2, H / 2)
    canvas = Image.new("RGB", frame, bg)
    canvas.paste(cutout.resize((w, h), Image.LANCZOS), (round(cx - w / 2), round(cy - h / 2)),
                 cutout.resize((w, h), Image.LANCZOS))
    rw, rh = recorded.width * s, recorded.height * s
    return canvas, Placement(x=cx - rw / 2, y=cy - rh / 2, width=rw, height=rh, scale=s)


def edit_hsv(cutout: Image.Image, hue=0.0, sat=1.0, val=1.0) -> Image.Image:
    a = np.asarray(cutout).copy()
    hsv = cv2.cvtColor(a[..., :3], cv2.COLOR_RGB2HSV_FULL).astype(np.float32)
    hsv[..., 0] = (hsv[..., 0] + hue * 256 / 360) % 256
    hsv[..., 1] = np.clip(hsv[..., 1] * sat, 0, 255)
    hsv[..., 2] = np.clip(hsv[..., 2] * val, 0, 255)
    a[..., :3] = cv2.cvtColor(hsv.astype(np.uint8), cv2.COLOR_HSV2RGB_FULL)
    return Image.fromarray(a, "RGBA")


def stone_mask(cutout: Image.Image) -> np.ndarray:
    """The sapphire of the demo ring: its blue pixels."""
    a = np.asarray(cutout).astype(int)
    return (a[..., 2] > a[..., 0] + 60) & (a[..., 3] > 0)


def run(settings, cutout, image, placement=None, role="packshot", channel=None, **kw):
    return critique_images(settings, cutout, image, role, channel, placement=placement, **kw)


def failed(critique) -> set[str]:
    return {c.name for c in critique.checks if not c.passed}


def test_clean_composite_passes_every_check(settings, ring):
    image, placement = place(ring)
    critique = run(settings, ring, image, placement)
    assert critique.verdict == "pass", critique.reasons
    assert critique.score >= 0.5
    names = {c.name for c in critique.checks}
    assert {"placement", "color", "changed_region", "structure", "missing_detail", "added_detail", "complete",
            "proportions", "silhouette", "sharpness", "upscale", "clipping", "noise"} <= names


def test_product_is_found_without_a_hint(settings, ring):
    image, placement = place(ring, share=0.5, center=(380, 600))
    source = vision.prepare_source(ring)
    location = vision.locate(np.asarray(image), source, None)
    ox, oy = source.offset
    expected_x = placement.x + ox * placement.scale
    assert abs(location.box.x - expected_x) < 6
    assert abs(location.box.w / (source.size[0] * placement.scale) - 1) < 0.04
    assert run(settings, ring, image).verdict == "pass"


def test_twelve_degree_hue_shift_fails_color(settings, ring):
    image, placement = place(edit_hsv(ring, hue=12), recorded=ring)
    critique = run(settings, ring, image, placement)
    assert "color" in failed(critique)
    message = next(c.message for c in critique.checks if c.name == "color")
    assert "color changed" in message and "ΔE" in message and "limit" in message


def test_brightness_change_fails_color(settings, ring):
    image, placement = place(edit_hsv(ring, val=0.8), recorded=ring)
    assert "color" in failed(run(settings, ring, image, placement))


def test_erased_stone_fails_detail(settings, ring):
    a = np.asarray(ring).copy()
    mask = cv2.dilate(stone_mask(ring).astype(np.uint8), np.ones((5, 5), np.uint8))
    a[..., :3] = cv2.inpaint(a[..., :3], mask, 5, cv2.INPAINT_TELEA)
    image, placement = place(Image.fromarray(a, "RGBA"), recorded=ring)
    problems = failed(run(settings, ring, image, placement))
    assert "changed_region" in problems
    assert "missing_detail" in problems or "color_extremes" in problems


def test_recolored_part_fails_color_extremes(settings, ring):
    a = np.asarray(ring).copy()
    a[stone_mask(ring), :3] = (200, 30, 40)  # the sapphire became a ruby
    image, placement = place(Image.fromarray(a, "RGBA"), recorded=ring)
    problems = failed(run(settings, ring, image, placement))
    assert {"color_extremes", "changed_region"} <= problems


def test_pasted_foreign_element_fails_changed_region(settings, ring):
    edited = ring.copy()
    alpha = np.asarray(ring.getchannel("A"))
    y = int(ring.height * 0.62)
    x = int(np.nonzero(alpha[y] > 200)[0][0]) + 8  # on the band, left side
    ImageDraw.Draw(edited).ellipse([x, y - 25, x + 40, y + 25], fill=(30, 160, 60, 255))  # a green bead
    image, placement = place(edited, recorded=ring)
    assert "changed_region" in failed(run(settings, ring, image, placement))


def thin_necklace() -> Image.Image:
    """A chain 4 px wide in a V with a round pendant: a product made mostly of thin parts (drawn at 4x
    and reduced, so its edges are smooth like a photographed chain's)."""
    k = 4
    cutout = Image.new("RGBA", (700 * k, 800 * k), (0, 0, 0, 0))
    draw = ImageDraw.Draw(cutout)
    draw.line([(20 * k, 20 * k), (350 * k, 660 * k), (680 * k, 20 * k)], fill=(196, 150, 52, 255), width=4 * k)
    draw.ellipse([310 * k, 640 * k, 390 * k, 720 * k], fill=(196, 150, 52, 255))
    draw.ellipse([330 * k, 660 * k, 370 * k, 700 * k], fill=(40, 90, 200, 255))
    return cutout.resize((700, 800), Image.BOX)


def test_thin_part_recolored_to_the_background_fails_changed_region(settings):
    chain = thin_necklace()
    image, placement = place(chain)
    assert run(settings, chain, image, placement).verdict == "pass"
    a = np.asarray(chain).copy()
    a[20:300, :350][a[20:300, :350, 3] > 0, :3] = (246, 244, 240)  # the left strand drawn as near-white
    image, placement = place(Image.fromarray(a, "RGBA"), recorded=chain)
    critique = run(settings, chain, image, placement)
    assert "changed_region" in failed(critique)
    assert "was altered" in next(c.message for c in critique.checks if c.name == "changed_region")


def trimmed_shoe_panel() -> Image.Image:
    """A pale panel with a thin dark trim line along it (a shoe's stitched trim), supersampled."""
    k = 4
    panel = Image.new("RGBA", (700 * k, 420 * k), (0, 0, 0, 0))
    draw = ImageDraw.Draw(panel)
    draw.rounded_rectangle([0, 0, 700 * k - 1, 420 * k - 1], 60 * k, fill=(236, 236, 240, 255))
    draw.line([(60 * k, 300 * k), (250 * k, 200 * k), (450 * k, 180 * k), (640 * k, 110 * k)], fill=(92, 96, 104, 255),
              width=7 * k)
    return panel.resize((700, 420), Image.BOX)


def test_thin_trim_smeared_away_fails_changed_region(settings):
    panel = trimmed_shoe_panel()
    image, placement = place(panel, frame=(800, 800))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=90)  # a channel's JPEG re-encode stays clean
    image = Image.open(buffer)
    assert "changed_region" not in failed(run(settings, panel, image, placement))
    # a stretch of the trim inpainted with the panel's color: a few pixels at the analysis size, fully changed
    a = np.asarray(panel).copy()
    trim = np.zeros(a.shape[:2], np.uint8)
    trim[170:215, 380:470] = (a[170:215, 380:470, :3].max(axis=2) < 200).astype(np.uint8)
    rgb = cv2.inpaint(np.ascontiguousarray(a[..., :3]), cv2.dilate(trim, np.ones((5, 5), np.uint8)), 7, cv2.INPAINT_TELEA)
    a[..., :3] = rgb
    image, placement = place(Image.fromarray(a, "RGBA"), frame=(800, 800), recorded=panel)
    critique = run(settings, panel, image, placement)
    assert "changed_region" in failed(critique)
    message = next(c.message for c in critique.checks if c.name == "changed_region")
    assert "differs by ΔE" in message and "limit 0.08%" in message


def test_missing_piece_fails_outline_region(settings):
    chain = thin_necklace()
    a = np.asarray(chain).copy()
    a[150:300, :, 3] = 0  # a piece of both strands gone
    image, placement = place(Image.fromarray(a, "RGBA"), recorded=chain)
    critique = run(settings, chain, image, placement)
    assert "outline_region" in failed(critique)
    assert "missing or was added" in next(c.message for c in critique.checks if c.name == "outline_region")


def test_patterned_backdrop_is_not_judged_as_an_outline(settings, ring):
    rng = np.random.default_rng(3)
    backdrop = np.full((1024, 1024, 3), (222, 120, 80), np.float32)
    for _ in range(12):  # contour lines of a designed surface, across the frame
        pts = np.cumsum(rng.normal(0, 30, (40, 2)), axis=0) + rng.uniform(0, 1024, 2)
        cv2.polylines(backdrop, [pts.astype(np.int32)], False, (240, 170, 130), 3)
    image, placement = place(ring, share=0.5)
    canvas = Image.fromarray(backdrop.astype(np.uint8))
    placed = ring.resize((round(placement.width), round(placement.height)), Image.LANCZOS)
    canvas.paste(placed, (round(placement.x), round(placement.y)), placed)
    critique = run(settings, ring, canvas, placement, role="lifestyle")
    names = {c.name for c in critique.checks}
    assert "silhouette" not in names and "outline_region" not in names
    assert critique.verdict == "pass", critique.reasons


def test_scratches_fail_added_detail(settings, ring):
    edited = ring.copy()
    draw = ImageDraw.Draw(edited)
    alpha = np.asarray(ring.getchannel("A"))
    y = int(ring.height * 0.62)
    x = int(np.nonzero(alpha[y] > 200)[0][0]) + 4
    for k in range(6):
        draw.line([(x + 6 * k, y - 60), (x + 6 * k + 10, y + 60)], fill=(90, 60, 20, 255), width=1)
    image, placement = place(edited, recorded=ring)
    assert "added_detail" in failed(run(settings, ring, image, placement))


def test_smeared_print_fails(settings):
    tee = demo_cutout("DEMO-TEE", SIZE)
    a = np.asarray(tee).copy()
    a[..., :3] = np.asarray(Image.fromarray(a[..., :3]).filter(ImageFilter.BoxBlur(10)))  # stripes smeared
    image, placement = place(Image.fromarray(a, "RGBA"), recorded=tee)
    critique = run(settings, tee, image, placement)
    assert critique.verdict == "fail" and "changed_region" in failed(critique)


def test_removed_print_fails_missing_detail(settings):
    tee = demo_cutout("DEMO-TEE", SIZE)
    a = np.asarray(tee).copy()
    coral = (a[..., 0] > 180) & (a[..., 3] > 0)  # the chest stripes
    a[coral, :3] = np.median(a[(a[..., 3] == 255) & ~coral][:, :3], axis=0).astype(np.uint8)
    image, placement = place(Image.fromarray(a, "RGBA"), recorded=tee)
    critique = run(settings, tee, image, placement)
    assert "missing_detail" in failed(critique)
    assert "edges are gone" in next(c.message for c in critique.checks if c.name == "missing_detail")


def test_redrawn_pattern_fails_structure(settings):
    """The same colors in a different arrangement (a generator redrawing a print): 6 px blocks shuffled."""
    tee = tight(demo_cutout("DEMO-TEE", SIZE))
    a = np.asarray(tee)
    out = a.copy()
    b = 6
    blocks = [(y, x) for y in range(0, a.shape[0] - b, b) for x in range(0, a.shape[1] - b, b)
              if a[y:y + b, x:x + b, 3].min() > 250]
    for (y, x), j in zip(blocks, np.random.default_rng(0).permutation(len(blocks)), strict=True):
        yy, xx = blocks[j]
        out[y:y + b, x:x + b, :3] = a[yy:yy + b, xx:xx + b, :3]
    image, placement = place(Image.fromarray(out, "RGBA"), recorded=tee)
    critique = run(settings, tee, image, placement)
    assert "structure" in failed(critique)
    assert "surface detail differs" in next(c.message for c in critique.checks if c.name == "structure")


def test_ten_percent_stretch_fails_proportions(settings, ring):
    image, placement = place(ring, stretch=(1.1, 1.0), share=0.7)
    problems = failed(run(settings, ring, image, placement))
    assert problems & {"proportions", "structure", "silhouette"}
    image, _ = place(ring, stretch=(1.1, 1.0), share=0.7)
    assert "proportions" in failed(run(settings, ring, image, None))


def test_wrong_size_fails_placement_and_real_scale(settings, ring):
    # the engine recorded the full size, the product shows at 0.7x
    image, placement = place(ring, size_factor=0.7, share=0.6, bg=(232, 190, 170))
    assert "placement" in failed(run(settings, ring, image, placement, role="try_on"))
    # the record is truthful but the plate's calibration says the ring must be larger
    image, placement = place(ring, share=0.42, bg=(232, 190, 170))
    width_px = ring.width * placement.scale / 0.7  # what the real size on this plate would give
    product = Product(sku="R1", category=Category.ring, dimensions=Dimensions(width_mm=width_px * 0.05))
    plate = placement.model_copy(update={"mm_per_px": 0.05})
    critique = run(settings, ring, image, plate, role="try_on", product=product)
    assert "scale" in failed(critique)
    assert "real size" in next(c.message for c in critique.checks if c.name == "scale")


def test_try_on_may_hide_only_what_the_record_says(settings, ring):
    # the lower band passes behind the finger: painted over with skin below 60 % of the ring's height
    skin = (232, 190, 170)
    image, placement = place(ring, share=0.42, bg=skin)
    a = np.asarray(image).copy()
    top, height = round(placement.y), round(placement.height)
    a[top + int(height * 0.6):top + height + 2] = skin
    image = Image.fromarray(a)
    product = Product(sku="R1", category=Category.ring)
    behind = placement.model_copy(update={"mm_per_px": 0.05, "hidden_below": 0.58})
    assert run(settings, ring, image, behind, role="try_on", product=product).verdict == "pass"
    # a record that hid nothing (a ring seen from above lies whole on the finger): the missing band is a change
    whole = behind.model_copy(update={"hidden_below": None})
    assert failed(run(settings, ring, image, whole, role="try_on", product=product)) & {"changed_region", "outline_region"}


def test_a_recorded_seam_blended_into_a_busy_scene_is_not_a_change(settings, ring):
    from pipelines.diffusion import lock_product

    # a generated scene of hard-edged 8 px blotches, the product locked with a 12 px inward feather
    blotches = np.random.default_rng(3).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    scene = Image.fromarray(blotches).resize((1024, 1024), Image.NEAREST)
    w = round(0.8 * 1024 * ring.width / max(ring.size))
    h = round(w * ring.height / ring.width)
    box = ((1024 - w) // 2, (1024 - h) // 2, w, h)
    placement = Placement(x=box[0], y=box[1], width=w, height=h, scale=w / ring.width)
    image = lock_product(scene, ring, box, feather_px=12.0).image
    assert "changed_region" in failed(run(settings, ring, image, placement, role="lifestyle"))
    seam = placement.model_copy(update={"seam_px": 12.0})
    assert run(settings, ring, image, seam, role="lifestyle").verdict == "pass"
    # deeper than the seam the product must still be the source's: a dark patch on the band fails
    a = np.asarray(ring).copy()
    patch = a[300:330, 20:60]
    patch[patch[..., 3] > 0, :3] = (60, 50, 40)
    image = lock_product(scene, Image.fromarray(a, "RGBA"), box, feather_px=12.0).image
    assert "changed_region" in failed(run(settings, ring, image, seam, role="lifestyle"))


def test_product_cut_by_the_frame_fails_complete(settings, ring):
    image, placement = place(ring, share=0.8, center=(1024 - 120, 512))
    assert "complete" in failed(run(settings, ring, image, placement))


def test_different_product_fails(settings, ring):
    earrings = demo_cutout("DEMO-EARRINGS", SIZE)
    image, placement = place(earrings, recorded=ring)
    critique = run(settings, ring, image, placement)
    assert critique.verdict == "fail"
    assert critique.score < 0.5


def test_blurred_candidate_fails_sharpness(settings, ring):
    image, placement = place(ring)
    blurred = image.filter(ImageFilter.GaussianBlur(6))
    assert "sharpness" in failed(run(settings, ring, blurred, placement))


def test_enlarged_small_source_fails_upscale(settings):
    small = tight(demo_cutout("DEMO-RING", 150))
    image, placement = place(small)
    assert "upscale" in failed(run(settings, small, image, placement))


def test_one_enlargement_policy_warns_up_to_3x_and_fails_beyond(settings):
    from tools.rules import enlargement_note

    assert enlargement_note(1.8, None)[0] == "ok" and enlargement_note(2.8, None)[0] == "warn"
    assert enlargement_note(3.2, None)[0] == "refuse" and enlargement_note(1.2, Channel.google)[0] == "refuse"
    small = tight(demo_cutout("DEMO-RING", 150))
    image, placement = place(small)
    check = next(c for c in run(settings, small, image, placement).checks if c.name == "upscale")
    assert check.value > 3 and not check.passed  # beyond 3x fails, recorded by the engine or not
    declared = placement.model_copy(update={"upscale": check.value})
    assert "upscale" in failed(run(settings, small, image, declared))
    mid = tight(demo_cutout("DEMO-RING", round(150 * check.value / 2.5)))
    image, placement = place(mid)
    check = next(c for c in run(settings, mid, image, placement).checks if c.name == "upscale")
    assert 2 < check.value <= 3 and check.passed and check.warning
    assert check.message.startswith("warning: the product was enlarged")


def test_a_mild_enlargement_is_named_as_one_never_as_not_enlarged(settings, ring):
    """The check's pass sentence agrees with the engine's warning on the card: "enlarged 1.27x … within the
    2x allowed", and "not enlarged" only at 1x."""
    from tools.rules import ENLARGE_NOTICE

    def upscale(factor, recorded=None):
        side = round(factor * max(ring.size) / 0.85)  # place() fills 85 % of the frame
        image, placement = place(ring, frame=(side, side))
        placement = placement.model_copy(update={"upscale": recorded or max(1.0, placement.scale)})
        return next(c for c in run(settings, ring, image, placement).checks if c.name == "upscale")

    # 1. Enlarged about 1.27x, as the engine records it (and warns on the card).
    check = upscale(1.27)
    assert 1.2 < check.value < 1.35 and check.passed and not check.warning
    assert "not enlarged" not in check.message and f"enlarged {check.value:.2f}x" in check.message
    assert check.message.endswith("within the 2x allowed")
    # 2. The engine reports an enlargement the measurement does not see: the check does not deny it.
    check = upscale(1.0, recorded=1.2)
    assert check.value == pytest.approx(1.2) and "enlarged 1.20x" in check.message
    # 3. At the source's own size it is "not enlarged".
    check = upscale(1.0)
    assert check.value <= ENLARGE_NOTICE and check.message == "the product is not enlarged beyond the source photo"


def test_noisy_candidate_fails_noise(settings, ring):
    image, placement = place(ring)
    rng = np.random.default_rng(0)
    noisy = np.clip(np.asarray(image).astype(np.float32) + rng.normal(0, 10, (1024, 1024, 1)), 0, 255)
    assert "noise" in failed(run(settings, ring, Image.fromarray(noisy.astype(np.uint8)), placement))


def test_blown_highlights_fail_clipping(settings, ring):
    image, placement = place(edit_hsv(ring, val=2.2), recorded=ring)
    assert "clipping" in failed(run(settings, ring, image, placement))


def test_extra_part_outside_the_outline_fails_silhouette(settings, ring):
    edited = Image.new("RGBA", (ring.width + 120, ring.height), (0, 0, 0, 0))
    edited.paste(ring, (0, 0))
    ImageDraw.Draw(edited).rectangle([ring.width - 40, 280, ring.width + 110, 420], fill=(212, 168, 64, 255))
    image, _ = place(edited, share=0.8)
    problems = failed(run(settings, ring, image, None))
    assert {"silhouette", "outline_region"} <= problems


def test_studio_reflection_below_the_product_is_not_an_outline_change(settings, ring):
    image, placement = place(ring, share=0.6, bg=(36, 40, 56))  # deep surface: the reflection shows
    arr = np.asarray(image).astype(np.float32)
    x, y, w, h = (round(v) for v in (placement.x, placement.y, placement.width, placement.height))
    rows = min(h, 1024 - (y + h))
    mirrored = arr[y:y + h, x:x + w][::-1][:rows]  # the product flipped below its base, fading out
    fade = np.linspace(0.3, 0.0, rows, dtype=np.float32)[:, None, None]
    arr[y + h:y + h + rows, x:x + w] = arr[y + h:y + h + rows, x:x + w] * (1 - fade) + mirrored * fade
    critique = run(settings, ring, Image.fromarray(arr.astype(np.uint8)), placement, role="lifestyle")
    assert "silhouette" not in failed(critique), critique.reasons
    # the mirror zone is only below the product: a part added beside it still fails
    edited = Image.new("RGBA", (ring.width + 120, ring.height), (0, 0, 0, 0))
    edited.paste(ring, (0, 0))
    ImageDraw.Draw(edited).rectangle([ring.width - 40, 280, ring.width + 110, 360], fill=(212, 168, 64, 255))
    image, _ = place(edited, share=0.6, bg=(36, 40, 56))
    assert "silhouette" in failed(run(settings, ring, image, None, role="lifestyle"))


def test_amazon_main_image_rules(settings, ring):
    image, placement = place(ring, bg=(235, 235, 235))
    problems = failed(run(settings, ring, image, placement, channel="amazon"))
    assert "white_background" in problems
    image, placement = place(ring, share=0.5)
    critique = run(settings, ring, image, placement, channel="amazon")
    assert failed(critique) == {"product_share"}
    assert "85%" in critique.reasons[0]
    # below Amazon's 1000 px: publishing enlarges it, within the one small-photo policy (a warning), or not
    image, placement = place(ring, frame=(800, 800), share=0.88)
    pixels = next(c for c in run(settings, ring, image, placement, channel="amazon").checks if c.name == "pixels")
    assert pixels.passed and pixels.warning and "publishing enlarges it to 1000 px" in pixels.message
    enlarged = placement.model_copy(update={"upscale": 2.6})  # 2.6x already, then 1.25x more: beyond 3x
    assert "pixels" in failed(run(settings, ring, image, enlarged, channel="amazon"))
    image, placement = place(ring, share=0.88)
    assert run(settings, ring, image, placement, channel="amazon", fmt="WEBP").verdict == "fail"
    assert run(settings, ring, image, placement, channel="amazon", fmt="JPEG").verdict == "pass"


def test_shot_aspect_is_checked(settings, ring):
    image, placement = place(ring, frame=(1024, 1024))
    critique = run(settings, ring, image, placement, expected_size=(1080, 1920))
    assert "aspect" in failed(critique)


def test_garment_rerender_keeps_palette_and_print(settings):
    tee = demo_cutout("DEMO-TEE", SIZE)
    # a re-render: the garment slightly warped and shaded, on a model-ish backdrop
    warped = tee.resize((int(SIZE * 0.95), SIZE), Image.BICUBIC)
    a = np.asarray(warped).astype(np.float32)
    a[..., :3] *= np.linspace(0.92, 1.04, a.shape[0])[:, None, None]
    worn = Image.fromarray(np.clip(a, 0, 255).astype(np.uint8), "RGBA")
    scene = Image.new("RGB", (768, 1024), (214, 200, 188))
    scene.paste(worn, (160, 300), worn)
    critique = run(settings, tee, scene, role="on_model")
    assert critique.verdict == "pass", critique.reasons
    shifted = edit_hsv(worn, hue=25)
    scene2 = Image.new("RGB", (768, 1024), (214, 200, 188))
    scene2.paste(shifted, (160, 300), shifted)
    assert "palette" in failed(run(settings, tee, scene2, role="on_model"))
    plain = np.asarray(worn).copy()
    navy = np.median(plain[plain[..., 3] > 200][:, :3], axis=0)
    stripe = (np.abs(plain[..., :3].astype(int) - (240, 110, 90)).sum(axis=2) < 120) & (plain[..., 3] > 0)
    plain[stripe, :3] = navy  # the coral stripe (the print) is gone
    erased = Image.fromarray(plain, "RGBA")
    scene3 = Image.new("RGB", (768, 1024), (214, 200, 188))
    scene3.paste(erased, (160, 300), erased)
    assert failed(run(settings, tee, scene3, role="on_model")) & {"print", "pattern", "palette"}


def test_real_cutout_hue_shift(settings, realdata):
    from tools.assets import load_image

    cutout = load_image(realdata / "cutouts" / "nishi_ring_RMIS017G1F.rgba.png").image
    image, placement = place(cutout, share=0.8)
    assert run(settings, cutout, image, placement).verdict == "pass"
    shifted, placement = place(edit_hsv(cutout, hue=12), share=0.8, recorded=cutout)
    assert "color" in failed(run(settings, cutout, shifted, placement))


def test_real_textured_product_is_found_without_a_record_on_a_gradient(settings, realdata):
    """A printed backpack between two of the whole-frame search's sizes fits as badly as a smaller
    template laid over a plain part of it; settling the size of several places finds the right one."""
    from pipelines.matting import cut_out

    cut = cut_out(Image.open(realdata / "product_packshot" / "myntra_53367_backpack.jpg")).rgba
    cut = tight(cut)
    t = np.linspace(0, 1, 1024, dtype=np.float32)[:, None, None]
    gradient = np.float32([236, 120, 130]) * (1 - t) + np.float32([160, 90, 200]) * t
    scene = Image.fromarray(np.broadcast_to(gradient, (1024, 1024, 3)).astype(np.uint8))
    s = 0.6 * 1024 / max(cut.size)
    item = cut.resize((round(cut.width * s), round(cut.height * s)), Image.LANCZOS)
    x, y = (1024 - item.width) // 2, (1024 - item.height) // 2
    scene.paste(item, (x, y), item)
    found = vision.locate(np.asarray(scene), vision.prepare_source(cut)).box
    assert found.iou(vision.Box(x, y, item.width, item.height)) > 0.9
    assert run(settings, cut, scene, role="lifestyle").verdict == "pass"


def test_real_bangle_stack_is_aligned_without_a_record(settings, realdata):
    """Thin stacked bangles are a periodic pattern: an alignment one stripe off correlates almost as well,
    so a shift is kept only when the product composited there explains the image better."""
    from pipelines.matting import cut_out

    cut = tight(cut_out(Image.open(realdata / "jewelry_packshot" / "myntra_48743_bangle.jpg")).rgba)
    image, _ = place(cut, share=min(0.85, 1.8 * max(cut.size) / 1024))  # enlarged at most 1.8x
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    critique = run(settings, cut, Image.open(buffer))
    assert critique.verdict == "pass", [c.message for c in critique.checks if not c.passed]


def test_source_without_alpha_is_refused(settings, ring):
    from tools.errors import BadInput

    image, _ = place(ring)
    with pytest.raises(BadInput, match="RGBA"):
        critique_images(settings, image, image)


def test_try_on_ring_band_behind_the_finger_is_not_a_defect(settings, ring):
    """On try-on the studio engine hides the ring's lower band behind the finger; that is expected."""
    image, placement = place(ring, share=0.5, bg=(232, 190, 170))
    a = np.asarray(image).copy()
    top = round(placement.y + placement.height * 0.62)
    a[top:round(placement.y + placement.height) + 1] = (232, 190, 170)  # the finger covers the lower band
    hidden = Image.fromarray(a)
    assert run(settings, ring, hidden, placement, role="try_on").verdict == "pass"
    # the same occlusion on a packshot is a missing part
    assert run(settings, ring, hidden, placement, role="packshot").verdict == "fail"
    # and a changed stone on try-on is still caught
    b = np.asarray(ring).copy()
    b[stone_mask(ring), :3] = (200, 30, 40)
    recolored, placement = place(Image.fromarray(b, "RGBA"), share=0.5, bg=(232, 190, 170), recorded=ring)
    assert run(settings, ring, recolored, placement, role="try_on").verdict == "fail"


def test_a_thin_chain_on_a_lit_set_is_found_where_the_engine_put_it(workspace, realdata):
    """A real thin gold chain (a 540x720 catalog JPEG) on the minimal set, whose light falls off across the
    frame and under which the chain casts a shadow: the check finds the chain where the engine put it, so
    every check of both candidates passes (it searched too coarsely and compared a place 88 px beside it)."""
    from tools.critique import critique_candidate
    from tools.models import Brief, Role, Shot, Slot
    from tools.prepare import ingest_product
    from tools.render import render_shot

    photo = realdata / "jewelry_packshot" / "myntra_46026_pendant.jpg"
    ingest_product(workspace, "CHAIN-1", [photo], category=Category.necklace, brief=Brief())
    shot = Shot(role=Role.lifestyle, slot=Slot.hero, width=1600, height=1600, mood="minimal", count=2)
    for candidate in render_shot(workspace, "CHAIN-1", shot):
        critique = critique_candidate(workspace, candidate)
        assert critique.verdict == "pass", critique.reasons
