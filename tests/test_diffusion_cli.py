"""`listing-studio gallery ... --engine diffusers --model PATH` end to end, in a subprocess (offline).

The plan's lifestyle shot goes to the diffusion engine (a tiny model at its default step count);
every other shot to the studio engine. A missing model folder is refused (exit 2) with the fix.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from tiny_diffusers import tiny_model

BRIEF = "gold ring with a sapphire, 21 mm wide, for Etsy, warm holiday mood"


def _run(tmp_path, demo_photo, model) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "ui.cli", "--home", str(tmp_path / "home"), "gallery", str(demo_photo),
            "--sku", "RING-1", "--brief", BRIEF, "--engine", "diffusers", "--model", str(model), "--json"]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    return subprocess.run(argv, capture_output=True, text=True, timeout=300, env=env)


def _gallery(tmp_path, demo_photo, model) -> dict:
    result = _run(tmp_path, demo_photo, model)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


@pytest.mark.slow
def test_gallery_renders_the_lifestyle_shot_with_the_given_model(tmp_path, demo_photo):
    from tools.settings import Settings
    from tools.workspace import Workspace

    result = _gallery(tmp_path, demo_photo, tiny_model("sd-inpaint"))
    lifestyle = [c for c in result["candidates"] if c["role"] == "lifestyle"]
    assert lifestyle and all(c["verdict"] == "pass" for c in lifestyle), result["candidates"]
    assert not result.get("failures")
    ws = Workspace.open(Settings.from_env({}, home=tmp_path / "home"))
    candidate = ws.catalog.get_candidate(lifestyle[0]["id"])
    assert candidate.engine == "diffusers" and candidate.model == str(tiny_model("sd-inpaint"))
    assert candidate.params["family"] == "sd-inpaint" and candidate.params["product_locked"] is True
    # the record says how deep the lock's feather reaches, so the vision check expects the source's pixels
    # only deeper than that (the generated scene shows through the seam)
    assert candidate.placement.seam_px == candidate.params["lock"]["feather_px"]
    packshots = [ws.catalog.get_candidate(c["id"]) for c in result["candidates"] if c["role"] == "packshot"]
    assert packshots and all(c.engine == "studio" for c in packshots)


def test_gallery_with_a_missing_model_exits_2_and_says_how_to_point_at_one(tmp_path, demo_photo):
    result = _run(tmp_path, demo_photo, tmp_path / "no-weights")
    assert result.returncode == 2 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert "no model folder at" in line and "--model PATH" in line and "LISTING_STUDIO_MODEL" in line
