"""The studio tools against a real catalog and asset store: ingest, plates and consent, render_shot,
produce_shot with the real vision check, build_gallery's JSON, and the `cutout` / `plate` commands."""

from __future__ import annotations

import json
from datetime import date, timedelta

import numpy as np
import pytest
from PIL import Image, ImageDraw

from tools.demo import demo_photo_bytes
from tools.errors import BadInput, NotFound, Refused
from tools.models import Brief, Channel, Dimensions, Role


def _hand_plate(tmp_path):
    """A plain 'hand' plate: a skin-coloured finger on white, and an ellipse mask across the finger."""
    plate = Image.new("RGB", (600, 800), (252, 252, 252))
    draw = ImageDraw.Draw(plate)
    draw.rounded_rectangle([270, 100, 330, 800], radius=30, fill=(226, 182, 160))
    mask = Image.new("L", (600, 800), 0)
    ImageDraw.Draw(mask).ellipse([268, 440, 332, 460], fill=255)
    plate_path, mask_path = tmp_path / "hand.jpg", tmp_path / "hand.mask.png"
    plate.save(plate_path, quality=95)
    mask.save(mask_path)
    return plate_path, mask_path


def _ring(workspace, sku="RING-1"):
    from tools.prepare import ingest_product

    brief = Brief(dimensions=Dimensions(width_mm=21.0), materials=["gold"], title="Gold ring")
    return ingest_product(workspace, sku, [demo_photo_bytes("DEMO-RING", 600)], category="ring", brief=brief)


def test_ingest_stores_original_and_cutout_and_records_the_product(workspace):
    from tools.prepare import source_cutout

    product, photos = _ring(workspace)
    assert product.category.value == "ring" and product.dimensions.width_mm == 21.0
    assert len(photos) == 1 and photos[0].cutout_asset_id
    assert workspace.assets.exists(photos[0].asset_id)
    cutout_id, cutout = source_cutout(workspace, "RING-1")
    assert cutout_id == photos[0].cutout_asset_id and cutout.mode == "RGBA"
    # a second photo adds, it does not replace; the category is remembered
    from tools.prepare import ingest_product

    product2, _ = ingest_product(workspace, "RING-1", [demo_photo_bytes("DEMO-EARRINGS", 400)])
    assert product2.category.value == "ring" and len(workspace.catalog.photos("RING-1")) == 2


def test_ingest_refuses_bad_input_before_storing_anything(workspace, realdata):
    from tools.prepare import ingest_product

    with pytest.raises(BadInput, match="category"):
        ingest_product(workspace, "X-1", [demo_photo_bytes("DEMO-RING", 300)])
    with pytest.raises(BadInput, match="invalid SKU"):
        ingest_product(workspace, "../x", [demo_photo_bytes("DEMO-RING", 300)], category="ring")
    # noise: no studio backdrop and nothing the neural model can tell apart from its surroundings
    import io

    import numpy as np
    from PIL import Image

    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(buffer, "PNG")
    busy = buffer.getvalue()
    with pytest.raises(Refused, match="busy"):
        ingest_product(workspace, "X-2", [demo_photo_bytes("DEMO-RING", 300), busy], category="other")
    assert not workspace.catalog.has_product("X-2")
    with pytest.raises(NotFound):
        from tools.prepare import source_cutout

        source_cutout(workspace, "X-2")


def test_plate_consent_rules(workspace, tmp_path):
    from tools.plates import register_plate, revoke_consent, usable_plate

    plate_path, mask_path = _hand_plate(tmp_path)
    # registered without consent channels: no consent for any channel
    bare = register_plate(workspace, plate_path, kind="hand", mask=mask_path, plate_id="bare")
    assert bare.talent_id == "talent-bare"
    with pytest.raises(Refused, match="covers no channel|not amazon"):
        usable_plate(workspace, "hand", Channel.amazon)
    plate = register_plate(workspace, plate_path, kind="hand", mask=mask_path, plate_id="ana-hand", talent_id="ana",
                           talent_name="Ana", consent_channels=["amazon"], consent_expires=date.today() + timedelta(30))
    assert plate.anchor.span_px == pytest.approx(65, abs=4) and abs(plate.anchor.angle) < 3
    assert plate.mm_per_px == pytest.approx(17.0 / plate.anchor.span_px)
    assert usable_plate(workspace, "hand", "amazon").id == "ana-hand"
    with pytest.raises(Refused, match="not etsy"):
        usable_plate(workspace, "hand", "etsy")
    register_plate(workspace, plate_path, kind="hand", mask=mask_path, plate_id="old", talent_id="bo",
                   consent_channels=["etsy"], consent_expires="2020-01-01")
    with pytest.raises(Refused, match="expired"):
        usable_plate(workspace, "hand", "etsy")
    revoke_consent(workspace, "ana")
    with pytest.raises(Refused, match="revoked"):
        usable_plate(workspace, "hand", "amazon")
    with pytest.raises(Refused, match="no neck plate"):
        usable_plate(workspace, "neck", "amazon")
    with pytest.raises(BadInput, match="--mask"):
        register_plate(workspace, plate_path, kind="hand")
    with pytest.raises(BadInput, match="YYYY-MM-DD"):
        register_plate(workspace, plate_path, kind="hand", mask=mask_path, consent_expires="next year")


def test_render_packshot_candidates_are_stored_recorded_and_honest(workspace):
    from tools.render import render_shot
    from tools.rules import plan_gallery

    product, _ = _ring(workspace)
    plan = workspace.catalog.save_plan(plan_gallery(product, Brief(), [Channel.amazon], plates=[], consents={}))
    main = plan.shots[0]
    candidates = render_shot(workspace, "RING-1", main)
    assert len(candidates) == 2 and workspace.catalog.candidates("RING-1", main.id) == candidates
    image = workspace.assets.open(candidates[0].asset_id)
    arr = np.asarray(image)
    assert max(image.size) >= 1000 and (arr[:10] == 255).all() and (arr[:, -10:] == 255).all()
    assert candidates[0].placement.upscale > 1 and any("enlarged" in w for w in candidates[0].warnings)
    assert candidates[0].placement.width != candidates[1].placement.width  # two framings


def test_an_amazon_close_up_is_enlarged_at_most_2x_even_below_the_channels_minimum(workspace):
    """A close-up shows detail: from a 600 px photo its crop is enlarged at most 2x, smaller than Amazon's
    1000 px, and says so (publish fits it to the channel under the one small-photo policy)."""
    from tools.models import Role, Shot, Slot
    from tools.render import render_shot

    _ring(workspace)
    shot = Shot(role=Role.detail, slot=Slot.gallery_3, channel=Channel.amazon, width=1600, height=1600, count=1)
    candidate = render_shot(workspace, "RING-1", shot)[0]
    image = workspace.assets.open(candidate.asset_id)
    assert candidate.placement.upscale <= 2.0 + 1e-6 and max(image.size) < 1000
    assert any("no more within 2x" in w for w in candidate.warnings), candidate.warnings


def test_render_try_on_needs_a_consented_plate_and_records_it(workspace, tmp_path):
    from tools.plates import register_plate
    from tools.render import render_shot
    from tools.rules import plan_gallery

    product, _ = _ring(workspace)
    plan = plan_gallery(product, Brief(), [Channel.amazon])
    shot = next(s for s in plan.shots if s.role is Role.try_on)
    workspace.catalog.save_plan(plan)
    with pytest.raises(Refused, match="no hand plate"):
        render_shot(workspace, "RING-1", shot)
    plate_path, mask_path = _hand_plate(tmp_path)
    register_plate(workspace, plate_path, kind="hand", mask=mask_path, plate_id="p1", talent_id="ana",
                   consent_channels=["amazon"], mm_per_px=0.26)
    candidates = render_shot(workspace, "RING-1", shot, count=1)
    c = candidates[0]
    assert c.plate_id == "p1" and c.placement.mm_per_px is not None
    # true scale in the output: source px * scale * mm/px == 21 mm
    from pipelines.studio import trim
    from tools.prepare import source_cutout

    item, _ = trim(source_cutout(workspace, "RING-1")[1])
    assert item.width * c.placement.scale * c.placement.mm_per_px == pytest.approx(21.0, rel=0.02)


def test_produce_shot_critiques_and_rerenders_within_the_bound(workspace):
    from tools.production import produce_shot
    from tools.rules import plan_gallery

    product, _ = _ring(workspace)
    plan = workspace.catalog.save_plan(plan_gallery(product, Brief(), [Channel.amazon], plates=[], consents={}))
    detail = next(s for s in plan.shots if s.role is Role.detail)
    pairs = produce_shot(workspace, "RING-1", detail, max_rerenders=1)
    assert len(pairs) == detail.count
    for candidate, critique in pairs:
        assert critique.candidate_id == candidate.id
        assert workspace.catalog.latest_critique(candidate.id) is not None
    rendered = workspace.catalog.candidates("RING-1", detail.id)
    assert detail.count <= len(rendered) <= 2 * detail.count


def test_produce_shots_runs_a_plans_shots_at_once_and_answers_in_plan_order(workspace, monkeypatch):
    import threading

    import tools.production
    from pipelines.threads import BUDGET_VAR
    from tools.errors import ListingError
    from tools.production import produce_shots
    from tools.rules import plan_gallery

    product, _ = _ring(workspace)
    plan = workspace.catalog.save_plan(plan_gallery(product, Brief(), [Channel.amazon], plates=[], consents={}))
    shots = [s.model_copy(update={"count": 1}) for s in plan.shots]
    threads = set()
    produce_shot = tools.production.produce_shot

    def watched(ws, sku, shot, **kwargs):
        threads.add(threading.current_thread().name)
        return produce_shot(ws, sku, shot, **kwargs)

    monkeypatch.setattr(tools.production, "produce_shot", watched)
    monkeypatch.setattr(tools.production.os, "cpu_count", lambda: 2)
    monkeypatch.delenv(BUDGET_VAR, raising=False)
    produced = produce_shots(workspace, "RING-1", shots, max_rerenders=0)
    assert [[c.shot_id for c, _ in pairs] for pairs in produced] == [[s.id] for s in shots]
    assert len(threads) == 2 and all(name.startswith("shot") for name in threads)
    # A process given one thread (a batch worker) makes them one after another, here
    threads.clear()
    monkeypatch.setenv(BUDGET_VAR, "1")
    produce_shots(workspace, "RING-1", shots[:2], max_rerenders=0)
    assert threads == {threading.current_thread().name}
    # A shot that cannot be made fails the call with its reason
    monkeypatch.delenv(BUDGET_VAR)
    broken = shots[0].model_copy(update={"role": Role.try_on})  # no model photo: it cannot be made
    with pytest.raises(ListingError):
        produce_shots(workspace, "RING-1", [broken, *shots[1:2]], max_rerenders=0)


def test_build_gallery_returns_the_contract_json(workspace, demo_photo):
    from tools.production import build_gallery

    workspace.settings = workspace.settings.with_(max_rerenders=0)
    result = build_gallery(workspace, images=[demo_photo], sku="RING-G", category="ring",
                           brief=Brief(dimensions=Dimensions(width_mm=21.0), mood="warm"), channels=["amazon"])
    assert result["sku"] == "RING-G" and len(result["plan"]) == 4  # no plate registered: no try-on
    assert {c["role"] for c in result["candidates"]} == {"packshot", "detail", "lifestyle", "campaign"}
    for c in result["candidates"]:
        assert set(c) >= {"id", "shot", "role", "path", "verdict", "score"}
        assert c["verdict"] in ("pass", "fail") and 0 <= c["score"] <= 1
    json.dumps(result)


def test_cli_cutout_and_plate(tmp_path, demo_photo, capsys):
    from ui.cli import main

    home = str(tmp_path / "home")
    out = tmp_path / "cut.png"
    assert main(["--home", home, "--json", "cutout", str(demo_photo), "-o", str(out)]) == 0
    assert json.loads(capsys.readouterr().out)["background"] == "plain" and out.exists()
    plate_path, mask_path = _hand_plate(tmp_path)
    assert main(["--home", home, "plate", "add", str(plate_path), "--kind", "hand", "--mask", str(mask_path),
                 "--talent", "ana", "--consent-channels", "amazon,etsy"]) == 0
    assert main(["--home", home, "--json", "plate", "list"]) == 0
    listed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert listed["plates"][0]["talent_id"] == "ana"
    assert main(["--home", home, "plate", "add", str(plate_path), "--kind", "hand"]) == 2
    assert "--mask" in capsys.readouterr().err


def test_a_model_or_scene_photo_no_channel_could_use_is_refused_and_nothing_is_stored(workspace, tmp_path):
    from tools.errors import BadInput
    from tools.plates import plate_min_side, register_plate

    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (10, 10), (220, 180, 160)).save(tiny)
    Image.new("L", (10, 10), 255).save(tmp_path / "tiny.mask.png")
    # eBay takes 500 px, and an image may be enlarged at most 3x: 167 px is the least any channel could use
    assert plate_min_side() == 167
    with pytest.raises(BadInput, match=r"the hand photo is 10x10 px: no channel could take an image made on it "
                                       r"\(at least 167 px"):
        register_plate(workspace, tiny, kind="hand", mask=tmp_path / "tiny.mask.png", plate_id="tiny")
    with pytest.raises(BadInput, match="the scene photo is 10x10 px"):
        register_plate(workspace, tiny, kind="scene", plate_id="tiny-set")
    assert workspace.catalog.plates() == []
