"""The classical matting engine: demo photos with exact alpha, real cutouts composited on studio
backgrounds (ground truth), busy backgrounds refused, transparency kept, the `cutout` file function."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from pipelines.matting import BusyBackground, MattingError, cut_out
from tools.demo import demo_cutout, studio_photo


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    a, b = pred > 0.5, truth > 0.5
    return float(np.logical_and(a, b).sum() / np.logical_or(a, b).sum())


def _alpha(result) -> np.ndarray:
    return np.asarray(result.rgba.getchannel("A"), np.float32) / 255.0


def _truth_on_canvas(cutout: Image.Image, margin: float = 0.18) -> np.ndarray:
    w, h = cutout.size
    pw, ph = int(w * margin), int(h * margin)
    truth = np.zeros((h + 2 * ph, w + 2 * pw), np.float32)
    truth[ph:ph + h, pw:pw + w] = np.asarray(cutout.getchannel("A"), np.float32) / 255.0
    return truth


@pytest.mark.parametrize("sku", ["DEMO-RING", "DEMO-EARRINGS", "DEMO-BRACELET", "DEMO-TEE"])
def test_demo_photo_cutout_matches_the_exact_alpha_and_leaves_the_shadow_out(sku):
    cutout = demo_cutout(sku, 400)
    photo = studio_photo(cutout, shadow=True)
    result = cut_out(photo)
    truth = _truth_on_canvas(cutout)
    assert iou(_alpha(result), truth) >= 0.93
    # the cast shadow (offset down-right) is not product
    shadow_only = np.roll(np.roll(truth, 400 // 25, axis=0), 400 // 40, axis=1) > 0.5
    shadow_only &= truth < 0.05
    assert (_alpha(result)[shadow_only] > 0.5).mean() < 0.1
    assert result.background == "plain" and result.confidence > 0.7


def test_the_demo_ring_jpeg_keeps_few_grey_flecks_of_its_shadow():
    """The app's demo photo as sellers get it (a JPEG): the speckled rim of the shadow beside the gold band,
    which the broad-shadow opening trimmed, stays shadow instead of kept grey flecks. (The shadow right
    beside the band borrows the band's colour in a JPEG, and some of it is still kept.)"""
    import io

    import cv2

    from tools.demo import demo_photo_bytes

    photo = Image.open(io.BytesIO(demo_photo_bytes("DEMO-RING"))).convert("RGB")
    alpha = _alpha(cut_out(photo))
    lab = cv2.cvtColor(np.asarray(photo), cv2.COLOR_RGB2Lab).astype(np.float32)
    grey = np.hypot(lab[..., 1] - 128, lab[..., 2] - 128) < 4  # a gold ring with a sapphire: nothing of it is grey
    kept = alpha > 0.5
    assert (grey & kept).sum() < 0.01 * kept.sum()  # 1.9% were kept before (flecks along the band)


def test_gradient_background_with_grey_product():
    cutout = demo_cutout("DEMO-NECKLACE", 400)
    w, h = 560, 560
    yy = np.linspace(0, 1, h)[:, None, None]
    bg = (np.array([245, 244, 242]) * (1 - yy) + np.array([200, 204, 210]) * yy) * np.ones((1, w, 1))
    canvas = Image.fromarray(bg.astype(np.uint8), "RGB")
    canvas.paste(cutout, (80, 80), cutout)
    result = cut_out(canvas)
    truth = np.zeros((h, w), np.float32)
    truth[80:480, 80:480] = np.asarray(cutout.getchannel("A"), np.float32) / 255.0
    assert result.background == "gradient"
    assert iou(_alpha(result), truth) >= 0.75  # a pale chain on pale grey: its brightest side is lost


def test_real_cutouts_on_studio_backgrounds(realdata):
    from benchmarks.bench_cutout import composite, ground_truth_cutouts, holes_open

    cases = dict(ground_truth_cutouts(realdata))
    for name, kind in [("nishi_ring_RFSV015D1F", "gradient"), ("nishi_ring_RMIS017G1F", "textured"),
                       ("nishi_necklace_NMP006S1F", "light_grey")]:
        photo, truth = composite(cases[name], kind, seed=3)
        alpha = _alpha(cut_out(photo))
        assert iou(alpha, truth) >= 0.94, name
        assert holes_open(alpha, truth), name


def test_hard_real_cutouts_pave_thin_chain_and_watch_lugs(realdata):
    from benchmarks.bench_cutout import composite, ground_truth_cutouts, holes_open

    cases = dict(ground_truth_cutouts(realdata))
    # pavé on a grey pendant with a thin chain, a white-on-white pavé bangle, a watch with open lugs
    for name, kind, least in [("nishi_necklace_NFIS004S1F", "light_grey", 0.76),
                              ("nishi_bracelet_BFSV015D2C", "white", 0.95),
                              ("nishi_bracelet_WFA015G1F", "white", 0.98)]:
        photo, truth = composite(cases[name], kind, seed=0)
        alpha = _alpha(cut_out(photo))
        assert iou(alpha, truth) >= least, name
        assert holes_open(alpha, truth), name


def test_real_packshots_give_a_sensible_cutout(realdata):
    for name in ["jewelry_packshot/myntra_48743_bangle.jpg", "product_packshot/myntra_4344_shoe.jpg"]:
        result = cut_out(Image.open(realdata / name))
        assert 0.01 < result.coverage < 0.7, name
        x0, y0, x1, y1 = result.bbox
        assert x1 - x0 > 50 and y1 - y0 > 30, name


def test_busy_background_is_cut_out_by_the_neural_model_and_labelled(realdata):
    photo = Image.open(realdata / "product_lifestyle" / "grocery_oatly_hand.jpg")
    result = cut_out(photo)
    assert result.background == "scene" and result.method == "neural" and result.neural_map
    assert result.confidence < 0.6 and 0.05 < result.coverage < 0.7
    # without the neural model the refusal says what the user can do in the app
    with pytest.raises(BusyBackground, match="busy.*upload a cutout with transparency, paint keep and remove strokes"):
        cut_out(photo, neural=False)


def test_noise_background_is_refused():
    rng = np.random.default_rng(0)
    noise = Image.fromarray(rng.integers(0, 255, (200, 200, 3), dtype=np.uint8), "RGB")
    with pytest.raises(BusyBackground):
        cut_out(noise)


def test_empty_background_and_tiny_images_are_refused():
    with pytest.raises(MattingError, match="no product"):
        cut_out(Image.new("RGB", (200, 200), (250, 250, 250)))
    with pytest.raises(MattingError, match="at least 32 px"):
        cut_out(Image.new("RGB", (20, 20), (250, 250, 250)))


def test_existing_transparency_is_used_as_is():
    cutout = demo_cutout("DEMO-RING", 200)
    result = cut_out(cutout)
    assert result.background == "transparent"
    assert np.array_equal(np.asarray(result.rgba), np.asarray(cutout))


def test_cutout_file_writes_an_rgba_png(tmp_path, demo_photo):
    from tools.errors import BadInput
    from tools.prepare import cutout_file

    out = tmp_path / "ring.png"
    report = cutout_file(demo_photo, out)
    image = Image.open(out)
    assert image.mode == "RGBA" and report["background"] == "plain"
    assert np.asarray(image.getchannel("A")).min() == 0
    with pytest.raises(BadInput, match=r"\.png"):
        cutout_file(demo_photo, tmp_path / "ring.jpg")
    with pytest.raises(BadInput, match="does not exist"):
        cutout_file(demo_photo, tmp_path / "missing" / "ring.png")


def _photo_with_a_white_part(size=240):
    """A dark ring on white with a white enamel plate attached (no edge between plate and backdrop
    except a faint seam) and a dark speck of dust apart: colour alone cannot tell the plate."""
    rgb = np.full((size, size, 3), 250, np.uint8)
    yy, xx = np.mgrid[:size, :size]
    r = np.hypot(yy - 120, xx - 90)
    ring = (r > 30) & (r < 44)
    plate = (yy > 100) & (yy < 140) & (xx >= 132) & (xx < 200)
    speck = np.hypot(yy - 40, xx - 200) < 7
    rgb[ring] = (60, 60, 70)
    rgb[plate] = (246, 246, 247)
    rgb[speck] = (90, 80, 70)
    return Image.fromarray(rgb), ring, plate, speck


def test_keep_and_remove_strokes_are_hard_constraints():
    photo, ring, plate, speck = _photo_with_a_white_part()
    before = _alpha(cut_out(photo, neural=False))
    assert (before[plate] > 0.5).mean() < 0.5 and (before[speck] > 0.5).mean() > 0.5  # the fix is needed
    keep = np.zeros(ring.shape, bool)
    keep[104:136, 136:196] = True  # one stroke over the plate
    remove = np.zeros(ring.shape, bool)
    remove[33:47, 193:207] = True  # one stroke over the speck
    result = cut_out(photo, keep=Image.fromarray(keep.astype(np.uint8) * 255), remove=remove, neural=False)
    after = _alpha(result)
    assert (after[keep] > 0.99).all() and (after[remove] < 0.01).all()
    # the solve grows the kept part beyond the stroke itself (72 % of the plate) along its colour
    assert (after[plate] > 0.5).mean() > 0.8 and (after[speck] > 0.5).mean() < 0.1
    assert (after[ring] > 0.5).mean() > 0.95  # the rest is still the engine's cutout
    assert result.method == "strokes"
    with pytest.raises(MattingError, match="keep mask is 10x10"):
        cut_out(photo, keep=np.ones((10, 10), bool))


def test_an_uploaded_cutout_with_real_transparency_is_used_as_it_is():
    cutout = demo_cutout("DEMO-EARRINGS", 160)
    result = cut_out(cutout)
    assert result.method == "your cutout" and result.background == "transparent"
    assert np.array_equal(np.asarray(result.rgba), np.asarray(cutout))
    # a remove stroke edits its alpha directly and nothing else
    remove = np.zeros((160, 160), bool)
    remove[:, :80] = True
    edited = np.asarray(cut_out(cutout, remove=remove).rgba)
    assert (edited[:, :80, 3] == 0).all() and np.array_equal(edited[:, 80:], np.asarray(cutout)[:, 80:])


def _halo_de(cutout_rgba: np.ndarray, truth_rgb: np.ndarray, truth_alpha: np.ndarray) -> float:
    """Mean ΔE00 of the product's outer 2 px composited on black, against the true foreground there."""
    from skimage.color import deltaE_ciede2000, rgb2lab

    solid = (truth_alpha > 0.5).astype(np.uint8)
    import cv2

    rim = solid.astype(bool) & ~cv2.erode(solid, np.ones((3, 3), np.uint8), iterations=2).astype(bool)
    a = cutout_rgba[..., 3:4].astype(np.float32) / 255.0
    ours = cutout_rgba[..., :3].astype(np.float32) / 255.0 * a
    true = truth_rgb.astype(np.float32) / 255.0 * truth_alpha[..., None]
    return float(deltaE_ciede2000(rgb2lab(ours[rim][None]), rgb2lab(true[rim][None])).mean())


def test_edges_carry_the_true_foreground_colour_so_no_white_rim_shows_on_black():
    cutout = demo_cutout("DEMO-RING", 300)
    photo = studio_photo(cutout, shadow=False)
    result = cut_out(photo)
    assert result.foreground is not None and result.foreground.shape == (photo.height, photo.width, 3)
    pad = int(300 * 0.18)
    truth_alpha = np.zeros((photo.height, photo.width), np.float32)
    truth_alpha[pad:pad + 300, pad:pad + 300] = np.asarray(cutout.getchannel("A"), np.float32) / 255.0
    truth_rgb = np.zeros((photo.height, photo.width, 3), np.uint8)
    truth_rgb[pad:pad + 300, pad:pad + 300] = np.asarray(cutout.convert("RGB"))
    ours = np.asarray(result.rgba)
    # the same alpha with the photo's own colours (white mixed in at the edge) shows the rim
    naive = np.dstack([np.asarray(photo), ours[..., 3]])
    halo, naive_halo = _halo_de(ours, truth_rgb, truth_alpha), _halo_de(naive, truth_rgb, truth_alpha)
    assert halo < 0.75 * naive_halo, (halo, naive_halo)
    assert halo < 8.0


def test_the_neural_map_never_fills_a_ring_hole():
    from pipelines.segmentation import load_segmenter

    cutout = demo_cutout("DEMO-RING", 400)
    photo = studio_photo(cutout, shadow=True)
    pad = int(400 * 0.18)
    cx, cy = pad + int(400 * 450 / 900), pad + int(400 * 520 / 900)
    # u2netp alone sees the hole as product...
    saliency = load_segmenter().predict(np.asarray(photo)).probability
    assert saliency[cy - 5:cy + 5, cx - 5:cx + 5].mean() > 0.5
    # ...but with its evidence in the solve the hole stays open and the band whole
    result = cut_out(photo, neural=True)
    alpha = _alpha(result)
    assert alpha[cy - 10:cy + 10, cx - 10:cx + 10].max() < 0.1
    assert iou(alpha, _truth_on_canvas(cutout)) >= 0.93


@pytest.mark.slow
def test_polished_metal_on_white_is_kept_whole(realdata):
    from benchmarks.bench_cutout import composite, ground_truth_cutouts, metallic

    cases = dict(ground_truth_cutouts(realdata))
    photo, truth = composite(metallic(cases["nishi_ring_RFSV015D1F"]), "white", seed=5, jpeg=92)
    without = cut_out(photo, neural=False)
    colour_only = iou(_alpha(without), truth)
    result = cut_out(photo)
    # colour alone punches the white band and frames out; the neural evidence keeps them
    assert result.method == "matting+neural" and result.neural_map and not without.neural_map
    assert iou(_alpha(result), truth) >= 0.92 > colour_only + 0.05


class _FixedMap:
    """A segmenter whose map is given (the tests decide what the neural model "sees")."""

    def __init__(self, probability: np.ndarray):
        self.probability = probability.astype(np.float32)

    def predict(self, rgb):
        from pipelines.segmentation import SaliencyMap

        return SaliencyMap(self.probability, "fixed", True, 0.0)


def _ring_photo(inside: np.ndarray) -> tuple[Image.Image, np.ndarray, np.ndarray]:
    """A dark steel ring (outer radius 150, inner 75) on white with `inside` (grey levels, 0..255,
    of the whole frame) shown through its opening; returns (photo, opening mask, outline mask)."""
    size = 420
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(yy - size / 2, xx - size / 2)
    grey = np.full((size, size), 250.0)
    grey[r < 150] = 110.0
    opening = r < 75
    grey[opening] = inside[opening]
    grey += np.random.default_rng(3).normal(0, 1.0, grey.shape)
    rgb = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    return Image.fromarray(rgb, "RGB"), opening, r < 150


def test_a_flat_grey_face_inside_the_product_is_kept_where_the_neural_map_sees_product():
    # a polished face a little darker than the backdrop, enclosed by the band: colour alone calls it a hole
    photo, face, outline = _ring_photo(np.full((420, 420), 234.0))
    alpha = _alpha(cut_out(photo, neural=True, segmenter=_FixedMap(outline.astype(np.float32))))
    assert (alpha[face] > 0.5).mean() > 0.95
    # without that evidence (the map sees background there too) the same face is a hole
    ring_only = outline & ~face
    alpha = _alpha(cut_out(photo, neural=True, segmenter=_FixedMap(ring_only.astype(np.float32))))
    assert (alpha[face] > 0.5).mean() < 0.05


def test_a_shadow_ramp_cast_into_a_hole_stays_open_though_the_neural_map_fills_it():
    # the ring's own shadow shades its opening from 240 down to 180 (no edges), like a cast shadow;
    # the map fills the opening with certainty, as u2netp does
    ramp = np.repeat(np.interp(np.arange(420), [135, 285], [240.0, 180.0])[:, None], 420, axis=1)
    photo, opening, outline = _ring_photo(ramp)
    alpha = _alpha(cut_out(photo, neural=True, segmenter=_FixedMap(outline.astype(np.float32))))
    assert (alpha[opening] > 0.5).mean() < 0.1


def test_a_tinted_lens_shaded_across_its_width_is_kept_where_the_neural_map_sees_product():
    # a grey lens in its frame, lighter towards one side (200 down to 150) but nowhere the backdrop's white:
    # shaded like a ramp, yet no cast shadow, which would run out into the backdrop inside the opening
    ramp = np.repeat(np.interp(np.arange(420), [135, 285], [200.0, 150.0])[:, None], 420, axis=1)
    photo, lens, outline = _ring_photo(ramp)
    alpha = _alpha(cut_out(photo, neural=True, segmenter=_FixedMap(outline.astype(np.float32))))
    assert (alpha[lens] > 0.5).mean() > 0.95
    # where the map sees background there too, the opening stays open
    frame_only = outline & ~lens
    alpha = _alpha(cut_out(photo, neural=True, segmenter=_FixedMap(frame_only.astype(np.float32))))
    assert (alpha[lens] > 0.5).mean() < 0.05


def test_real_sunglasses_keep_both_lenses_whole(realdata):
    """Aviators on white: the right lens is lighter towards its outer side; it was cut in half as a shadow."""
    photo = Image.open(realdata / "product_packshot" / "myntra_21346_sunglasses.jpg").convert("RGB")
    lightness = np.asarray(photo.convert("L"), np.float32)
    dark = lightness < 170  # lenses, frame and temple tips: nothing on this white sweep is a shadow that dark
    alpha = _alpha(cut_out(photo))
    assert (alpha[dark] > 0.5).mean() > 0.97, (alpha[dark] > 0.5).mean()


def test_a_grey_cap_band_in_the_tone_of_the_bottles_shadow_is_kept(realdata):
    """A vitamin bottle's grey cap band, enclosed by the label and the cap, is as dark as the shadow the bottle
    casts; the neural map is sure it is product, so it is not opened as a shadow seen through a gap."""
    photo = Image.open(realdata / "product_packshot" / "abo_vitamin_bottle.jpg").convert("RGB")
    band = _alpha(cut_out(photo))[852:864, 320:700]  # the band between the label and the cap's rim
    assert (band > 0.5).mean() > 0.98, (band > 0.5).mean()


def test_a_white_bulb_whose_highlight_is_the_backdrops_white_shows_no_pinholes(realdata):
    """An LED bulb on white: where its body's highlight is exactly the backdrop's white, the cutout showed a
    scatter of pinholes and two blots (on a dark scene the set showed through). The bulb has no hole."""
    import cv2

    photo = Image.open(realdata / "product_packshot" / "abo_ledbulb_single.jpg").convert("RGB")
    kept = (_alpha(cut_out(photo)) > 0.5).astype(np.uint8)
    outside = np.pad(1 - kept, 1, constant_values=1)
    cv2.floodFill(outside, None, (0, 0), 2)
    silhouette = (outside[1:-1, 1:-1] != 2).astype(np.uint8)  # the bulb's outline, filled
    body = cv2.erode(silhouette, np.ones((31, 31), np.uint8)).astype(bool)  # 15 px inside its edge
    # 2462 px before; one 34 px white LED element framed by grey stays open (exactly what a hole looks like)
    assert body.sum() > 300_000 and (kept[body] == 0).sum() < 100, (kept[body] == 0).sum()


def test_a_silver_band_set_with_coloured_stones_is_kept_by_the_neural_evidence(realdata):
    # most of this ring's area is blue stones, yet its band is polished silver on white: the neural
    # map is asked because a large share of the product is achromatic, not only when most of it is
    photo = Image.open(realdata / "jewelry_packshot" / "myntra_59468_ring.jpg").convert("RGB")
    result = cut_out(photo)
    assert result.method == "matting+neural"
    assert result.coverage > 0.11  # colour alone keeps the stones and loses the band (0.085)


def _band_photo() -> tuple[Image.Image, np.ndarray, np.ndarray, np.ndarray]:
    """A polished ring band seen from above on white: a flat grey face (196) between two dark outlines,
    its opening showing the backdrop, and the ring's soft shadow cast down-right onto the backdrop.
    Returns (photo, face, opening, shadow-only pixels, the ring's disc)."""
    size = 400
    yy, xx = np.mgrid[0:size, 0:size]
    r = np.hypot(yy - 190, xx - 190)
    ring = r < 130
    grey = np.full((size, size), 252.0)
    # the shadow: the ring's silhouette offset and blurred, darkening the backdrop by up to 30 %
    import cv2

    silhouette = ((r < 130) & (r > 92)).astype(np.float32)
    cast = cv2.GaussianBlur(np.roll(np.roll(silhouette, 14, axis=0), 10, axis=1), (0, 0), 6)
    grey *= 1 - 0.3 * cast
    face = (r < 124) & (r > 98)
    grey[ring & ~face & (r > 92)] = 90.0  # the outlines (3-6 px)
    grey[face] = 196.0
    grey += np.random.default_rng(1).normal(0, 1.0, grey.shape)
    rgb = np.repeat(np.clip(grey, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    shadow_only = (cast > 0.3) & (r > 134)
    return Image.fromarray(rgb, "RGB"), face, r < 86, shadow_only, ring


def test_a_grey_band_framed_by_its_outlines_is_kept_while_its_cast_shadow_is_left_out():
    # colour alone cannot tell the band's flat grey face from a shadow: both are darker than the backdrop,
    # smooth and of its chroma. The shadow fades out into the backdrop; the face is framed by edges, and
    # its outlines (edges, other tones) around it do not make it "shaded like a shadow". The map sees
    # the ring's disc as product, opening included, as u2netp does.
    photo, face, opening, shadow_only, ring = _band_photo()
    alpha = _alpha(cut_out(photo, neural=True, segmenter=_FixedMap(ring.astype(np.float32))))
    assert (alpha[face] > 0.5).mean() > 0.95
    assert (alpha[opening] > 0.5).mean() < 0.02
    assert (alpha[shadow_only] > 0.5).mean() < 0.1


def test_a_thin_band_the_neural_map_cannot_resolve_is_kept(realdata):
    # ring 59459: its band's flat grey faces (about 12 px wide) are framed by outlines; the old hole rule
    # opened them as shadows although the neural map sees product there: the band came out as outlines
    import cv2

    photo = Image.open(realdata / "jewelry_packshot" / "myntra_59459_ring.jpg").convert("RGB")
    grey = np.asarray(photo.convert("L")).astype(np.float32)
    flat = np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(grey, cv2.CV_32F, 0, 1)) < 8
    band = np.zeros(grey.shape, bool)
    band[:, 380:] = True  # the right-hand side of the band
    band &= (grey >= 186) & (grey <= 206) & flat
    assert band.sum() > 1000
    alpha = _alpha(cut_out(photo))
    assert (alpha[band] > 0.5).mean() > 0.9
    assert alpha[330:390, 330:390].max() < 0.1  # the ring's opening stays open


def test_a_belt_buckles_flat_steel_keeper_is_not_punched_through(realdata):
    # belt 51257: the buckle's keeper shows a flat light-grey steel face (208-216) framed by darker
    # edges; it was cut out as a slot the backdrop showed through
    import cv2

    photo = Image.open(realdata / "product_packshot" / "myntra_51257_belt.jpg").convert("RGB")
    grey = np.asarray(photo.convert("L")).astype(np.float32)
    flat = np.abs(cv2.Sobel(grey, cv2.CV_32F, 1, 0)) + np.abs(cv2.Sobel(grey, cv2.CV_32F, 0, 1)) < 8
    keeper = np.zeros(grey.shape, bool)
    keeper[405:485, 335:358] = True
    keeper &= (grey >= 200) & (grey <= 220) & flat
    assert keeper.sum() > 300
    assert (_alpha(cut_out(photo))[keeper] > 0.5).mean() > 0.9


def test_a_gold_chain_on_a_dark_scene_shows_no_light_specks_beside_it(realdata):
    # pendant 46026: a thin gold chain on white, saved as JPEG; the compression leaves faint yellowish
    # specks a few pixels beside the chain. They were kept as opaque product, and on a dark lifestyle or
    # campaign set they showed as white dots along the chain. The necklace is one piece, so every
    # visible blob apart from it is such a speck.
    import cv2

    photo = Image.open(realdata / "jewelry_packshot" / "myntra_46026_pendant.jpg").convert("RGB")
    rgba = np.asarray(cut_out(photo).rgba).astype(np.float32) / 255.0
    alpha = rgba[..., 3:]
    dark = np.array([20, 20, 24], np.float32) / 255.0
    composite = rgba[..., :3] * alpha + dark * (1.0 - alpha)
    lightness = cv2.cvtColor(composite, cv2.COLOR_RGB2Lab)[..., 0]
    # the chain's own colour: the photo where it is clearly gold (yellow, darker than the backdrop)
    lab = cv2.cvtColor(np.asarray(photo).astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    gold = (lab[..., 2] > 25) & (lab[..., 0] < 90)
    assert gold.sum() > 2000
    chain_l = float(np.median(lab[..., 0][gold]))
    backdrop_l = float(cv2.cvtColor(dark.reshape(1, 1, 3), cv2.COLOR_RGB2Lab)[0, 0, 0])
    # visible: a quarter of the way from the dark backdrop to the chain's lightness, or more
    visible = lightness > backdrop_l + 0.25 * (chain_l - backdrop_l)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(visible.astype(np.uint8), connectivity=8)
    areas = np.sort(stats[1:, cv2.CC_STAT_AREA])[::-1]
    specks = areas[1:]  # everything apart from the necklace
    assert len(specks) <= 5 and specks.sum() <= 10, f"{len(specks)} specks, {specks.sum()} px"
    # and the chain itself is kept: the clearly gold pixels of the photo stay opaque
    assert (alpha[..., 0][gold] > 0.5).mean() > 0.97


SHOE = "product_packshot/myntra_4344_shoe.jpg"  # a running shoe on white; its contact shadow darkest under the toe


def test_a_shoes_contact_shadow_is_left_out_down_to_its_darkest_core(realdata):
    """Under the toe the shadow is darker than a cast shadow may otherwise be (L* 29 on a white sweep) and
    grows lighter without an edge out to the backdrop: it is shadow, while the black outsole above it stays."""
    from pipelines.cutout_check import verify_cutout

    photo = Image.open(realdata / SHOE).convert("RGB")
    result = cut_out(photo)
    alpha = _alpha(result)
    assert alpha[830:860, 560:720].mean() < 0.05  # the shadow's core and its ramp under the toe
    assert alpha[845:870, 400:520].mean() < 0.05  # ... and under the ball of the foot
    assert alpha[815:827, 410:500].min() > 0.9  # the midsole down to the outsole
    assert alpha[770:800, 560:640].min() > 0.9  # the toe's tread
    # the check against the photo reads the same ramp as shadow: nothing it shows as the shoe was lost
    assert verify_cutout(photo, result.rgba, neural=False).missing == 0.0


def test_a_matte_black_product_beside_its_dark_contact_shadow_stays_whole():
    """A flat black face is as dark and smooth as a shadow's core, but it meets that shadow at an edge."""
    rng = np.random.default_rng(0)
    import cv2

    h, w = 700, 700
    box = np.zeros((h, w), bool)
    box[180:500, 240:460] = True
    spread = np.zeros((h, w), np.float32)
    spread[490:530, 230:490] = 1.0
    core = np.zeros((h, w), np.float32)
    core[495:502, 240:460] = 1.0
    spread, core = cv2.GaussianBlur(spread, (0, 0), 10), cv2.GaussianBlur(core, (0, 0), 3)
    shade = np.clip(0.5 * spread / spread.max() + 0.6 * core / core.max(), 0.0, 0.8)
    photo = 248.0 * (1.0 - shade[..., None]) * np.ones((1, 1, 3))
    photo[box] = 24.0
    photo = np.clip(photo + rng.normal(0, 1.0, photo.shape), 0, 255).astype(np.uint8)
    alpha = _alpha(cut_out(Image.fromarray(photo)))
    assert alpha[box].mean() > 0.99
    assert alpha[505:560, 240:460].mean() < 0.02
    # ... and the check against the photo still sees a black face the cutout lost beside that shadow
    from pipelines.cutout_check import verify_cutout

    lost = alpha.copy()
    lost[400:500, 240:460] = 0.0
    from tools.verification import TRUST_LIMITS

    assert verify_cutout(photo, lost, neural=False).missing >= TRUST_LIMITS.missing_fail  # the cutout fails
    assert verify_cutout(photo, alpha, neural=False).missing == 0.0
