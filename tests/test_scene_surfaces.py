"""Scene surfaces that read as photographed materials: marble veins are long lines that run in a direction
(not the closed level lines of a noise field, which read as a map's contours), wood shows growth rings as
long crisp lines along its planks (not smeared streaks). Measured on the texture maps themselves."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage import measure

from pipelines import scenes

SEEDS = range(4)


def dark_lines(lum: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """Thin dark lines of a lightness map (black top-hat: how much darker a pixel is than its closed
    neighbourhood)."""
    return cv2.morphologyEx(lum.astype(np.float32), cv2.MORPH_BLACKHAT, kernel)


def vein_stats(lum: np.ndarray) -> tuple[float, int]:
    """(coherence, small enclosed regions) of the darkest 3 % of line pixels: coherence is the structure
    tensor's anisotropy over them (0: lines run every way, like contours; 1: all one way); an enclosed
    region under 1 % of the map is a small closed loop (an island on a map)."""
    lines = dark_lines(lum, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (9, 9)))
    mask = lines > max(2.0, float(np.percentile(lines, 97)))
    gx, gy = cv2.Sobel(lines, cv2.CV_32F, 1, 0), cv2.Sobel(lines, cv2.CV_32F, 0, 1)
    jxx, jyy, jxy = float((gx * gx)[mask].sum()), float((gy * gy)[mask].sum()), float((gx * gy)[mask].sum())
    coherence = np.hypot(jxx - jyy, 2 * jxy) / max(jxx + jyy, 1e-6)
    areas = np.bincount(measure.label(~mask, connectivity=1).ravel())
    return float(coherence), int(((areas > 0) & (areas < 0.01 * mask.size)).sum())


def contour_bands(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """What a seller called a map: thin dark lines along the level lines of fractal noise."""
    field = scenes.fbm(h, w, rng, (180, 70, 22, 6), (1.0, 0.45, 0.2, 0.1))
    return 2.0 * scenes.fbm(h, w, rng, (140, 50), (1.0, 0.5)) - 9.0 * np.exp(-(field / 0.045) ** 2)


def test_the_vein_measure_tells_contour_bands_from_veins():
    for seed in SEEDS:
        coherence, loops = vein_stats(contour_bands(360, 480, np.random.default_rng(seed)))
        assert coherence < 0.15 and loops >= 8


@pytest.mark.parametrize("seed", SEEDS)
def test_marble_veins_run_in_a_direction_without_closing_into_islands(seed):
    lum = scenes.texture("stone", 360, 480, np.random.default_rng(seed), lightness=80)
    coherence, loops = vein_stats(lum)
    assert coherence > 0.22, coherence
    assert loops <= 7, loops
    veins = scenes.marble_veins(360, 480, np.random.default_rng(seed))
    assert 0.005 < float((veins > 0.5).mean()) < 0.06  # thin lines, not bands


def test_black_marble_has_light_veins_and_white_marble_dark_ones():
    light = scenes.texture("stone", 240, 320, np.random.default_rng(3), lightness=85)
    dark = scenes.texture("stone", 240, 320, np.random.default_rng(3), lightness=20)
    assert np.percentile(light, 0.5) < -6 and np.percentile(light, 99.5) < 6
    assert np.percentile(dark, 99.5) > 6 and np.percentile(dark, 0.5) > -6


def grain_stats(lum: np.ndarray) -> tuple[float, float]:
    """(length, crispness) of a wood map's dark grain lines across the planks: the 90th percentile of the
    lines' extent along the planks as a share of the width (board seams left out), and the mean lightness
    step across the grain relative to the map's spread."""
    lines = dark_lines(lum, np.ones((7, 1), np.uint8))
    mask = lines > 1.5
    mask[mask.mean(axis=1) > 0.6] = False  # the seams between boards
    props = [p for p in measure.regionprops(measure.label(mask, connectivity=2)) if p.area >= 5]
    extent = np.array([p.bbox[3] - p.bbox[1] for p in props])
    gy = cv2.Sobel(lum.astype(np.float32), cv2.CV_32F, 0, 1)
    return float(np.percentile(extent, 90)) / lum.shape[1], float(np.abs(gy).mean() / (lum.std() + 1e-6))


def smeared_streaks(h: int, w: int, rng: np.random.Generator) -> np.ndarray:
    """What a seller called smeared: noise stretched along the planks, a tone per board, dark seams."""
    grain = scenes.fbm(h, w, rng, (60, 14, 4), (1.0, 0.6, 0.4), stretch=(14.0, 0.6))
    boards = max(3, h // 90)
    tone = rng.normal(0, 2.2, boards + 1).astype(np.float32)[(np.arange(h) * boards // h)][:, None]
    out = 3.0 * grain + tone
    for edge in (np.arange(1, boards) * h) // boards:
        out[edge - 1:edge + 1] -= 10.0
    return out


@pytest.mark.parametrize("seed", SEEDS)
def test_wood_shows_growth_rings_as_long_crisp_lines_not_smeared_streaks(seed):
    length, crisp = grain_stats(scenes.texture("wood", 360, 720, np.random.default_rng(seed)))
    assert length >= 0.21 and crisp >= 2.0, (length, crisp)
    length, crisp = grain_stats(smeared_streaks(360, 720, np.random.default_rng(seed)))
    assert length < 0.19 and crisp < 1.8, (length, crisp)


@pytest.mark.parametrize("surface", ["stone", "wood"])
def test_surfaces_are_the_same_for_the_same_seed(surface):
    a = scenes.texture(surface, 200, 300, np.random.default_rng(7), lightness=60)
    b = scenes.texture(surface, 200, 300, np.random.default_rng(7), lightness=60)
    c = scenes.texture(surface, 200, 300, np.random.default_rng(8), lightness=60)
    assert np.array_equal(a, b) and not np.allclose(a, c)

