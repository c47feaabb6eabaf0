"""A product stands out from its set: a silver or white product on the near-white minimal set gets a soft pool
of light (or shade) behind it until its outline differs from the set by the look's `edge_contrast`,
measured at the outline on the render, while the set keeps the mood's lightness."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from pipelines import studio
from tools.looks import look_for


def _silver_ring(size: int = 360, tone: int = 218) -> Image.Image:
    """A polished silver band seen at three-quarters: a light grey loop (L* about 87 at its rim) with a
    darker reflection inside it, on a transparent ground."""
    ring = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(ring)
    draw.ellipse((30, 60, size - 30, size - 60), outline=(tone, tone, tone + 3, 255), width=34)
    draw.ellipse((52, 82, size - 52, size - 82), outline=(150, 150, 154, 255), width=8)
    return ring


def _outline_and_backdrop(cutout: Image.Image, look: dict, index: int = 0) -> tuple[float, float]:
    from pipelines import scene_metrics

    result = studio.backdrop(cutout, 700, 700, look=look, index=index, seed=3)
    p = result.placed
    item, _ = studio.trim(cutout)
    mask = np.zeros((700, 700), bool)
    mask[p.y:p.y + p.height, p.x:p.x + p.width] = np.asarray(
        item.getchannel("A").resize((p.width, p.height), Image.BILINEAR)) > 127
    box = (p.x, p.y, p.width, p.height)
    return scene_metrics.outline_contrast(result.image, mask), scene_metrics.backdrop_lab(result.image, box)[0]


@pytest.mark.parametrize("tone", [218, 240])  # a silver band; a white product (lighter than the set)
def test_a_neutral_product_stands_out_on_the_near_white_minimal_set_at_the_moods_lightness(tone):
    minimal = look_for("minimal")
    ring = _silver_ring(tone=tone)
    for index in (0, 1):
        plain, plain_l = _outline_and_backdrop(ring, minimal | {"edge_contrast": 0}, index)
        lit, lit_l = _outline_and_backdrop(ring, minimal, index)
        assert plain < 8  # silver on a set of its own lightness: faint
        assert lit >= 11, (plain, lit)
        assert abs(lit_l - minimal["lightness"]) <= 3 and abs(lit_l - plain_l) <= 2  # still the minimal set


def test_a_product_that_already_stands_out_gets_no_pool_of_light():
    from pipelines import scenes

    dark = _silver_ring(tone=60)  # a gunmetal band on a near-white set
    minimal = look_for("minimal")
    a = np.asarray(studio.backdrop(dark, 500, 500, look=minimal, seed=1).image)
    b = np.asarray(studio.backdrop(dark, 500, 500, look=minimal | {"edge_contrast": 0}, seed=1).image)
    assert np.array_equal(a, b)
    lum = np.full((50, 60), 90.0, np.float32)
    assert np.array_equal(scenes._edge_light(lum, 0.0, np.array([40.0, 0, 0]), 12.0, (30, 25), (20, 20)), lum)
