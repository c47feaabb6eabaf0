"""Review: decisions recorded through tools.review with the real render and vision check in front of
approval, and the `review` command end to end."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tools.critique import critique_candidate
from tools.demo import demo_photo_bytes
from tools.errors import BadInput, NotFound, Refused
from tools.models import Decision, GalleryPlan, Product, Shot
from tools.prepare import ingest_product
from tools.render import render_shot
from tools.review import decide, review_sku
from ui.cli import main


@pytest.fixture
def reviewed(workspace):
    """DEMO-RING rendered by the studio engine: a candidate that passes the real vision check, the same image
    with the product's colors swapped (fails it), and a copy that was never checked."""
    ws = workspace
    ingest_product(ws, "DEMO-RING", [demo_photo_bytes("DEMO-RING", size=500)], category="ring")
    shot = Shot(role="lifestyle", slot="hero", channel="etsy", width=800, height=800, count=2)
    ws.catalog.save_plan(GalleryPlan(sku="DEMO-RING", shots=[shot]))
    rendered = render_shot(ws, "DEMO-RING", shot)
    checked = [(c, critique_candidate(ws, c)) for c in rendered]
    good = next(c for c, critique in checked if critique.verdict == "pass")

    r, g, b = ws.assets.open(good.asset_id).convert("RGB").split()
    swapped = Image.merge("RGB", (b, g, r))
    bad = good.model_copy(update={"id": "cand_swappedcolr", "asset_id": ws.assets.put_image(swapped)})
    ws.catalog.add_candidate(bad)
    assert critique_candidate(ws, bad).verdict == "fail"
    unchecked = good.model_copy(update={"id": "cand_neverchecked"})
    ws.catalog.add_candidate(unchecked)
    for candidate, _ in checked:
        if candidate.id != good.id:
            ws.catalog.add_decision(Decision(candidate_id=candidate.id, action="reject"))
    return ws, good, bad, unchecked


def test_approve_a_passing_candidate(reviewed):
    ws, good, _, _ = reviewed
    decision = decide(ws, good.id, "approve")
    assert decision.action == "approve"
    assert [c.id for c in ws.catalog.approved("DEMO-RING")] == [good.id]


def test_an_unchecked_candidate_cannot_be_approved(reviewed):
    ws, _, _, unchecked = reviewed
    with pytest.raises(Refused, match="vision check"):
        decide(ws, unchecked.id, "approve", note="trust me")
    assert ws.catalog.approved("DEMO-RING") == []


def test_a_failed_candidate_needs_a_reason_to_be_approved(reviewed):
    ws, _, bad, _ = reviewed
    with pytest.raises(Refused, match="color changed"):
        decide(ws, bad.id, "approve")
    decide(ws, bad.id, "approve", note="the blue variant is a real colorway")
    assert [c.id for c in ws.catalog.approved("DEMO-RING")] == [bad.id]


def test_bad_decisions_are_refused_with_the_value(reviewed):
    ws, good, _, _ = reviewed
    with pytest.raises(BadInput, match="'publish'"):
        decide(ws, good.id, "publish")
    with pytest.raises(NotFound, match="cand_nope"):
        decide(ws, "cand_nope", "reject")


def test_review_sku_applies_and_lists(reviewed):
    ws, good, bad, unchecked = reviewed
    result = review_sku(ws, "DEMO-RING", approve=[good.id], reject=[bad.id])
    by_id = {c["id"]: c for c in result["candidates"]}
    assert by_id[good.id]["decision"] == "approve" and by_id[good.id]["verdict"] == "pass"
    assert by_id[bad.id]["decision"] == "reject" and by_id[bad.id]["reasons"]
    assert by_id[unchecked.id]["verdict"] == "unchecked" and by_id[unchecked.id]["decision"] is None
    assert all(set(c) >= {"id", "shot", "role", "path", "verdict", "score", "reasons", "decision"}
               for c in result["candidates"])


def test_review_sku_refuses_foreign_and_contradictory_ids(reviewed):
    ws, good, _, _ = reviewed
    ws.catalog.upsert_product(Product(sku="OTHER", category="ring"))
    with pytest.raises(BadInput, match="belongs to DEMO-RING"):
        review_sku(ws, "OTHER", approve=[good.id])
    with pytest.raises(BadInput, match="both approved and rejected"):
        review_sku(ws, "DEMO-RING", approve=[good.id], reject=[good.id])
    with pytest.raises(BadInput, match="invalid SKU"):
        review_sku(ws, "../x")


def test_review_command(reviewed, capsys):
    ws, good, bad, _ = reviewed
    home = str(ws.home)
    assert main(["--home", home, "--json", "review", "DEMO-RING", "--approve", good.id]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sku"] == "DEMO-RING" and {c["id"]: c["decision"] for c in out["candidates"]}[good.id] == "approve"
    assert main(["--home", home, "review", "DEMO-RING", "--approve", bad.id]) == 2
    assert "failed the vision check" in capsys.readouterr().err
    assert main(["--home", home, "review", "NOPE-1"]) == 2
