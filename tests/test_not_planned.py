"""No pass for what was not made: without a diffusion model, on-model and model-swap shots are not
rendered as stand-ins; the plan says what they need, `missing` lists them (and a try-on without a
usable plate, with the photo that would enable it), and `--engine diffusers` without a usable model
exits 2 with one line before anything is stored."""

from __future__ import annotations

import json

import pytest
from publishing_helpers import add_product

from tools.demo import demo_photo_bytes
from tools.errors import EngineUnavailable
from tools.models import Brief, Role, Shot, Slot
from tools.production import build_gallery
from tools.render import render_shot
from ui.cli import main


def _photo(tmp_path, sku: str):
    path = tmp_path / f"{sku}.jpg"
    path.write_bytes(demo_photo_bytes(sku))
    return path


def test_an_apparel_gallery_without_weights_renders_no_on_model_and_lists_it_as_missing(workspace, tmp_path, capsys):
    result = build_gallery(workspace, images=[_photo(tmp_path, "DEMO-TEE")], sku="TEE-1", category="apparel_top",
                           brief=Brief(channels=["zalando"]))
    roles = {c["role"] for c in result["candidates"]}
    assert Role.on_model.value not in roles and Role.packshot.value in roles
    assert [g["role"] for g in result["not_planned"]] == ["on_model"]
    assert any("needs a diffusion model: see README" in n for n in result["notes"])
    # nothing in the catalog is an on-model stand-in
    assert not [c for c in workspace.catalog.candidates("TEE-1") if c.role is Role.on_model]

    assert main(["--home", str(workspace.settings.home), "missing", "TEE-1", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    [gap] = [m for m in report["missing"] if m["role"] == "on_model"]
    assert gap["kind"] == "needs" and gap["needs"] == "diffusion_model"
    assert "needs a diffusion model: see README" in gap["reason"]


def test_a_ring_gallery_without_a_plate_lists_the_try_on_with_the_photo_it_needs(workspace, tmp_path):
    from tools.coverage import missing_report

    build_gallery(workspace, images=[_photo(tmp_path, "DEMO-RING")], sku="RING-1", category="ring",
                  brief=Brief(channels=["etsy"]))
    [gap] = [m for m in missing_report(workspace, "RING-1")["missing"] if m["role"] == "try_on"]
    assert gap["kind"] == "needs" and gap["needs"] == "plate:hand" and gap["slot"] == "gallery_2"
    assert "a photo of a hand" in gap["reason"] and "listing-studio" not in gap["reason"]


@pytest.mark.parametrize("role", [Role.on_model, Role.model_swap])
def test_the_studio_engine_refuses_to_render_a_person(workspace, role):
    add_product(workspace, "DEMO-TEE")
    shot = Shot(role=role, slot=Slot.gallery_2, width=800, height=1000, count=1)
    with pytest.raises(EngineUnavailable, match="needs a diffusion model: see README"):
        render_shot(workspace, "DEMO-TEE", shot, engine="studio")
    assert workspace.catalog.candidates("DEMO-TEE") == []


@pytest.mark.parametrize("model", [None, "no-weights-here"])
def test_engine_diffusers_without_a_usable_model_exits_2_with_one_line(tmp_path, capsys, monkeypatch, model):
    monkeypatch.delenv("LISTING_STUDIO_MODEL", raising=False)
    home = tmp_path / "home"
    argv = ["--home", str(home), "gallery", str(_photo(tmp_path, "DEMO-RING")), "--sku", "RING-1",
            "--engine", "diffusers"] + (["--model", str(tmp_path / model)] if model else [])
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert ("no model configured" if model is None else "no model folder at") in err and "--model PATH" in err
    # refused before anything was stored
    from tools.settings import Settings
    from tools.workspace import Workspace

    ws = Workspace.open(Settings.from_env({}, home=home))
    assert not ws.catalog.has_product("RING-1")
    ws.close()
