"""A product photographed on a glossy floor: its mirrored reflection is left out of the cutout, a cutout or an
image that keeps it fails the check against the photo, and a product whose lower part merely resembles its
upper part keeps its foot.
"""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from benchmarks.bench_cutout import composite, ground_truth_cutouts, iou
from pipelines import matting
from pipelines.cutout_check import evidence_maps, relay, verify_cutout
from pipelines.reflection import mirrored_reflection
from tools.verification import grade, relay_check

PERFUME = "product_packshot/myntra_43967_perfume.jpg"  # a round bottle on a glossy white floor, its reflection below
BOTTLE_FOOT = 575  # photo row where the bottle touches its reflection (read off the photo)


def cutout_keeping_the_reflection(photo: Image.Image, monkeypatch) -> Image.Image:
    """The cutout as the matting made it before it knew reflections: the reflection kept as product."""
    with monkeypatch.context() as patched:
        patched.setattr(matting, "mirrored_reflection", lambda diff, mask: np.zeros(mask.shape, bool))
        return matting.cut_out(photo).rgba


def on_white(photo: Image.Image, cutout: Image.Image) -> np.ndarray:
    """A packshot-like candidate: the cutout where the photo has it, on white."""
    candidate = Image.new("RGB", photo.size, (255, 255, 255))
    candidate.paste(cutout.convert("RGB"), mask=cutout.getchannel("A"))
    return np.asarray(candidate)


def test_a_bottle_on_a_glossy_floor_is_cut_out_without_its_reflection(realdata):
    photo = Image.open(realdata / PERFUME).convert("RGB")
    result = matting.cut_out(photo)
    alpha = np.asarray(result.rgba.getchannel("A"), np.float32) / 255.0
    assert "its mirrored reflection on the floor below it was left out" in result.notes
    # the reflection (a pale pink copy of the bottle's lower half, 20 % of what was kept) is gone
    assert alpha[BOTTLE_FOOT + 12:BOTTLE_FOOT + 90, 110:430].mean() < 0.01
    # the bottle down to its round foot is kept
    assert alpha[BOTTLE_FOOT - 35:BOTTLE_FOOT - 5, 215:315].min() > 0.9
    evidence = verify_cutout(photo, result.rgba, neural=False)
    assert evidence.missing == 0.0 and evidence.reflection == 0.0
    assert grade(evidence.as_dict())[0] == "verified"
    frame = (0.0, 0.0, float(photo.width), float(photo.height))
    shown = relay(photo, result.rgba, on_white(photo, result.rgba), frame, frame)
    assert shown.missing == 0.0 and shown.reflection == 0.0


def test_a_cutout_or_an_image_that_keeps_the_reflection_fails_against_the_photo(realdata, monkeypatch):
    """The check reads the photo, not the cutout: a reflection kept as product is named and fails."""
    photo = Image.open(realdata / PERFUME).convert("RGB")
    kept = cutout_keeping_the_reflection(photo, monkeypatch)
    evidence = verify_cutout(photo, kept, neural=False)
    assert evidence.missing == 0.0 and evidence.reflection >= 0.10
    level, reasons = grade(evidence.as_dict(), noun="perfume")
    assert level == "failed" and "reflection on the floor below it" in reasons[0]

    frame = (0.0, 0.0, float(photo.width), float(photo.height))
    shown = relay(photo, kept, on_white(photo, kept), frame, frame)
    assert shown.missing == 0.0 and shown.reflection >= 0.10
    check = relay_check(shown.as_dict(), noun="perfume")
    assert not check.passed and "reflection on the photo's floor" in check.message


@pytest.mark.parametrize("kind", ["white", "light_grey"])
def test_a_jewel_on_a_glossy_floor_of_any_tone_is_cut_out_without_its_reflection(realdata, kind):
    """A product nobody tuned for (an exact-alpha bracelet), on a glossy floor made here: dimmed to 45 %, fading."""
    name, cutout = next(item for item in ground_truth_cutouts(realdata) if item[0] == "nishi_bracelet_BFSV015D2C")
    photo, truth = composite(cutout, kind, seed=3, jpeg=92, mirror=0.45)
    result = matting.cut_out(photo)
    assert iou(np.asarray(result.rgba.getchannel("A"), np.float32) / 255.0, truth) >= 0.95
    plain, _ = composite(cutout, kind, seed=3, jpeg=92)
    assert "its mirrored reflection on the floor below it was left out" not in matting.cut_out(plain).notes


def test_a_product_whose_lower_half_mirrors_its_upper_half_at_full_strength_keeps_it(realdata):
    """A floor reflects part of the light, never all: a symmetric product (the ring above its own mirror
    image, as bright) is one product."""
    _, cutout = next(item for item in ground_truth_cutouts(realdata) if item[0] == "nishi_ring_RFSV015D1F")
    upper = np.asarray(cutout)
    ys = np.flatnonzero(upper[..., 3].max(1) > 127)
    upper = upper[ys[0]:ys[-1] + 1]
    both = Image.fromarray(np.vstack([upper, upper[::-1]]), "RGBA")
    photo = Image.new("RGB", (both.width + 200, both.height + 200), (250, 250, 249))
    photo.paste(both.convert("RGB"), (100, 100), both.getchannel("A"))
    rgb = np.asarray(photo)
    maps = evidence_maps(rgb, np.zeros(rgb.shape[:2], np.float32))
    assert maps["product"][-110:].any()  # the lower half is there to be mistaken
    assert not maps["reflection"].any()
    assert not mirrored_reflection(maps["diff"], maps["product"]).any()


def test_no_real_packshot_but_the_one_on_a_glossy_floor_shows_a_reflection(realdata):
    """Every real catalog photo on a matt sweep keeps its foot: a ring's band, a teardrop stone, a shoe's sole
    mirror the part above them, but not as a dimmed, fading copy as long as a floor's reflection."""
    photos = sorted((realdata / "jewelry_packshot").glob("*.jpg")) + sorted((realdata / "product_packshot").glob("*.jpg"))
    photos += sorted((realdata / "apparel_flat").glob("*.jpg"))
    assert len(photos) >= 20
    found = []
    for path in photos:
        rgb = np.asarray(Image.open(path).convert("RGB"))
        maps = evidence_maps(rgb, np.zeros(rgb.shape[:2], np.float32))
        if maps["reflection"].any():
            found.append(path.name)
    assert found == ["myntra_43967_perfume.jpg"]
