"""Contact shadows of grounded scenes, measured against the same set rendered empty (scene_metrics.
contact_darkening): on a textured surface, under a foot that is narrow and off the box's centre, on a glossy
set with a reflection, and for a flat lay; a product pasted on the set without its shadows reads as none."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipelines import scene_metrics as sm
from pipelines import studio

SIZE = 1000


def _glasses() -> Image.Image:
    """A pair of glasses seen three-quarter: the near lens lower (its bottom is the only foot), the far lens
    higher, a bridge between them: the foot is narrow and well left of the box's centre."""
    cutout = Image.new("RGBA", (600, 400), (0, 0, 0, 0))
    draw = ImageDraw.Draw(cutout)
    draw.ellipse((30, 150, 250, 390), fill=(70, 72, 75, 255))
    draw.ellipse((340, 60, 570, 290), fill=(70, 72, 75, 255))
    draw.rectangle((200, 120, 390, 140), fill=(205, 175, 95, 255))
    return cutout


def _block() -> Image.Image:
    """A pale box with a flat bottom: its whole width rests on the surface, and it mirrors brightly."""
    cutout = Image.new("RGBA", (400, 500), (0, 0, 0, 0))
    ImageDraw.Draw(cutout).rectangle((20, 20, 380, 480), fill=(215, 195, 140, 255))
    return cutout


def _loop() -> Image.Image:
    cutout = Image.new("RGBA", (500, 500), (0, 0, 0, 0))
    ImageDraw.Draw(cutout).ellipse((40, 40, 460, 460), outline=(218, 200, 150, 255), width=30)
    return cutout


def _mask(result: studio.StudioImage, cutout: Image.Image) -> np.ndarray:
    """Where the product is visible in the frame, resampled the way the renderer placed it."""
    p = result.placed
    alpha = np.asarray(studio.resample(studio.trim(cutout)[0], (round(p.width), round(p.height))).getchannel("A")) > 8
    mask = np.zeros((result.image.height, result.image.width), bool)
    mask[int(p.y):int(p.y) + alpha.shape[0], int(p.x):int(p.x) + alpha.shape[1]] = alpha
    return mask


def _pasted(result: studio.StudioImage, cutout: Image.Image) -> Image.Image:
    """The product pasted on the empty set with no shadow at all: a sticker floating over the surface."""
    p = result.placed
    item = studio.resample(studio.trim(cutout)[0], (round(p.width), round(p.height)))
    return studio.composite(result.set_image, item, (int(p.x), int(p.y)))


def _scene(cutout, look: dict, surface: str | None, pose: str = "standing", seed: int = 4):
    from tools.looks import look_for

    return studio.backdrop(cutout, SIZE, SIZE, look=look_for(look, (), {}), surface_kind=surface, seed=seed,
                           pose=pose, keep_set=True)


def test_the_empty_set_is_the_render_pixel_for_pixel_away_from_the_product():
    result = _scene(_glasses(), "christmas", "wood")
    image, empty = (np.asarray(im) for im in (result.image, result.set_image))
    assert empty.shape == image.shape
    p = result.placed
    far = np.ones(image.shape[:2], bool)
    far[max(0, int(p.y) - 150):, max(0, int(p.x) - 150):int(p.x + p.width) + 150] = False  # product, shadows
    assert np.array_equal(image[far], empty[far])
    assert not np.array_equal(image, empty)


def test_the_band_under_the_foot_follows_the_cutouts_own_outline():
    result = _scene(_glasses(), "minimal", "sweep")
    mask = _mask(result, _glasses())
    band = sm.contact_band(mask)
    ys, xs = np.nonzero(band)
    lowest = np.nonzero(mask.any(axis=1))[0].max()
    p = result.placed
    # right under the near lens's bottom, which lies in the left third of the product's box
    assert lowest - 0.03 * p.height <= ys.min() and ys.max() <= lowest + 0.03 * p.height
    assert xs.max() < p.x + p.width / 3
    assert not (band & mask).any()


@pytest.mark.parametrize("mood", ["minimal", "christmas", "luxury, moody", "bright summer"])
@pytest.mark.parametrize("surface", ["wood", "stone", "linen"])
def test_a_standing_product_on_a_textured_set_has_a_contact_shadow_and_a_pasted_one_has_none(mood, surface):
    cutout = _glasses()
    result = _scene(cutout, mood, surface)
    mask = _mask(result, cutout)
    assert sm.contact_shadow_present(result.image, result.set_image, mask)
    # the measure can fail: the same product on the same set without its shadows
    pasted = _pasted(result, cutout)
    assert sm.contact_darkening(pasted, result.set_image, mask) < 0.02
    assert not sm.contact_shadow_present(pasted, result.set_image, mask)
    assert not sm.contact_shadow_present(result.set_image, result.set_image, mask)


def test_a_reflection_starts_in_the_products_contact_shadow():
    """On a glossy set what is mirrored right at the foot is the product's underside, which is in shadow: the
    contact still reads as a dark line before a bright product's reflection begins."""
    cutout = _block()
    result = _scene(cutout, "luxury, moody", "stone")
    assert result.params["reflection"]
    assert sm.contact_shadow_present(result.image, result.set_image, _mask(result, cutout))


@pytest.mark.parametrize("mood", ["minimal", "christmas", "luxury, moody"])
def test_a_flat_lay_has_a_contact_shadow_around_its_outline_and_a_pasted_one_has_none(mood):
    cutout = _loop()
    result = _scene(cutout, mood, "linen", pose="flat")
    mask = _mask(result, cutout)
    assert sm.contact_shadow_present(result.image, result.set_image, mask, "flat")
    assert not sm.contact_shadow_present(_pasted(result, cutout), result.set_image, mask, "flat")


@pytest.mark.parametrize("aspect", ["16:9", "1.91:1"])
def test_a_tall_product_on_a_podium_in_a_wide_frame_stays_whole_inside_it(aspect):
    """A tall product raised on a podium in a wide, short frame: it is made smaller so that it and the podium
    fit with the frame's margin (its top was cut off by the frame)."""
    from tools.looks import look_for

    tall = Image.new("RGBA", (300, 420), (0, 0, 0, 0))
    ImageDraw.Draw(tall).rectangle((10, 10, 290, 410), fill=(240, 240, 236, 255))
    for index in range(4):  # every other variant stands on a podium
        result = studio.campaign(tall, aspect, look=look_for("", (), {}), index=index, long_side=1200)
        p = result.placed
        assert p.y >= 0.02 * result.image.height and p.y + p.height <= result.image.height, (index, p)
        if result.params.get("riser"):
            assert p.y + p.height * 1.3 <= result.image.height + 1, (index, p)
