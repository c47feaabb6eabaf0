"""Review: decisions recorded through tools.review with the real vision check in front of approval,
and the `review` command end to end."""

from __future__ import annotations

import json

import pytest
from PIL import Image

from tools.critique import critique_candidate
from tools.demo import demo_cutout
from tools.errors import BadInput, NotFound, Refused
from tools.models import Candidate, Placement, Product
from tools.review import decide, review_sku
from ui.cli import main


def _candidate(ws, sku, cutout_id, image, placement=None, *, check=True) -> Candidate:
    candidate = Candidate(sku=sku, shot_id="shot_manual", role="packshot", asset_id=ws.assets.put_image(image),
                          source_asset_id=cutout_id, placement=placement)
    ws.catalog.add_candidate(candidate)
    if check:
        critique_candidate(ws, candidate)
    return candidate


@pytest.fixture
def reviewed(workspace):
    """DEMO-RING with a candidate that passes the real vision check, one that fails it, one never checked."""
    ws = workspace
    ws.catalog.upsert_product(Product(sku="DEMO-RING", category="ring", title="demo ring"))
    cutout = demo_cutout("DEMO-RING")
    cutout_id = ws.assets.put_image(cutout)
    canvas = Image.new("RGB", (1600, 1600), "white")
    canvas.paste(cutout, (350, 350), cutout)
    good = _candidate(ws, "DEMO-RING", cutout_id, canvas,
                      Placement(x=350, y=350, width=cutout.width, height=cutout.height, scale=1.0))
    r, g, b, a = cutout.split()
    recolored = Image.merge("RGBA", (b, g, r, a))
    canvas2 = Image.new("RGB", (1600, 1600), "white")
    canvas2.paste(recolored, (350, 350), recolored)
    bad = _candidate(ws, "DEMO-RING", cutout_id, canvas2,
                     Placement(x=350, y=350, width=cutout.width, height=cutout.height, scale=1.0))
    unchecked = _candidate(ws, "DEMO-RING", cutout_id, canvas, check=False)
    assert ws.catalog.latest_critique(good.id).verdict == "pass", ws.catalog.latest_critique(good.id).reasons
    assert ws.catalog.latest_critique(bad.id).verdict == "fail"
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
