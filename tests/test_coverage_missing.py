"""Coverage: planned shots without an approval, channels lacking their main image, revoked consent,
and the catalog-wide "which SKUs have no try-on?" answer, through the real catalog and the CLI."""

from __future__ import annotations

import json

from publishing_helpers import add_gallery, add_product, add_talent

from tools.coverage import coverage_table, missing_report
from tools.models import Channel, Decision, Role
from tools.plates import revoke_consent
from ui.cli import main


def test_a_sku_without_a_plan_lacks_everything(workspace):
    add_product(workspace, "DEMO-RING")
    report = missing_report(workspace, "DEMO-RING")
    assert report["sku"] == "DEMO-RING" and report["approved"] == []
    assert report["missing"] == [{"slot": "grid", "role": "packshot", "reason": "no gallery plan yet",
                                  "kind": "shot", "shot": None, "channel": None}]


def test_planned_shots_without_an_approval_are_listed_with_their_reason(workspace):
    candidates = add_gallery(workspace, size=(320, 320), roles=(Role.packshot, Role.detail, Role.lifestyle), approve=False)
    packshot, detail, lifestyle = candidates
    workspace.catalog.add_decision(Decision(candidate_id=packshot.id, action="approve"))
    workspace.catalog.add_decision(Decision(candidate_id=detail.id, action="reject", note="too dark"))
    report = missing_report(workspace, "DEMO-RING")
    assert [a["id"] for a in report["approved"]] == [packshot.id]
    assert report["approved"][0]["slot"] == "grid" and report["approved"][0]["channel"] == "amazon"
    reasons = {m["role"]: m["reason"] for m in report["missing"]}
    assert reasons == {"detail": "every image made for it was rejected", "lifestyle": "1 image waiting for review"}
    assert all(m["kind"] == "shot" and m["channel"] == "amazon" for m in report["missing"])
    assert not report["complete"]


def test_a_channel_without_its_main_image_is_flagged(workspace):
    add_gallery(workspace, size=(320, 320), roles=(Role.detail, Role.lifestyle), channel=Channel.amazon)
    report = missing_report(workspace, "DEMO-RING")
    [gap] = report["missing"]
    assert gap["kind"] == "channel" and gap["channel"] == "amazon" and gap["role"] == "packshot"
    assert "amazon needs a packshot on pure white" in gap["reason"]


def test_a_channel_published_before_is_checked_too(workspace):
    [packshot] = add_gallery(workspace, size=(320, 320), roles=(Role.packshot,), channel=Channel.amazon)
    workspace.catalog.add_export("DEMO-RING", "etsy", "/tmp/etsy", {"files": []})
    assert missing_report(workspace, "DEMO-RING")["complete"]
    workspace.catalog.add_decision(Decision(candidate_id=packshot.id, action="reject", note="scratched"))
    gaps = missing_report(workspace, "DEMO-RING")["missing"]
    assert [(g["kind"], g["channel"]) for g in gaps] == [("shot", "amazon"), ("channel", "etsy")]
    assert "etsy needs a first image that survives the 4:3 thumbnail crop" in gaps[1]["reason"]


def test_revoked_consent_flags_the_approved_try_on(workspace):
    add_talent(workspace, "T-ANNA")
    candidates = add_gallery(workspace, size=(320, 320), roles=(Role.packshot, Role.try_on), talent_id="T-ANNA")
    try_on = candidates[1]
    before = missing_report(workspace, "DEMO-RING")
    assert before["complete"] and {a["role"] for a in before["approved"]} == {"packshot", "try_on"}

    revoke_consent(workspace, "T-ANNA")
    after = missing_report(workspace, "DEMO-RING")
    assert [a["role"] for a in after["approved"]] == ["packshot"]
    assert after["blocked"] == [{"id": try_on.id, "reason": "consent of talent T-ANNA was revoked"}]
    consent = [m for m in after["missing"] if m["kind"] == "consent"]
    assert consent and consent[0]["candidate"] == try_on.id and consent[0]["role"] == "try_on"
    assert "consent of talent T-ANNA was revoked" in consent[0]["reason"]
    shot_gap = [m for m in after["missing"] if m["kind"] == "shot"]
    assert shot_gap and shot_gap[0]["role"] == "try_on" and "withdrawn" in shot_gap[0]["reason"]


def test_which_skus_have_no_try_on(workspace):
    add_talent(workspace, "T-ANNA")
    add_gallery(workspace, "DEMO-RING", size=(320, 320), roles=(Role.packshot, Role.try_on), talent_id="T-ANNA")
    add_gallery(workspace, "DEMO-EARRINGS", size=(320, 320), roles=(Role.packshot, Role.try_on), approve=False)
    add_gallery(workspace, "DEMO-BRACELET", size=(320, 320), roles=(Role.packshot,))
    result = missing_report(workspace, role="tryon")
    assert result["role"] == "try_on"
    lacking = {r["sku"]: r["reason"] for r in result["skus"]}
    assert lacking == {"DEMO-BRACELET": "no try-on planned",
                       "DEMO-EARRINGS": "1 image waiting for review"}
    table = coverage_table(result)
    assert table.splitlines()[0] == "2 SKU(s) without an approved try_on image"
    assert "DEMO-RING" not in table and "DEMO-BRACELET" in table

    revoke_consent(workspace, "T-ANNA")
    assert {r["sku"] for r in missing_report(workspace, role="try_on")["skus"]} == {
        "DEMO-RING", "DEMO-EARRINGS", "DEMO-BRACELET"}


def test_missing_on_the_command_line(workspace, capsys):
    add_gallery(workspace, "DEMO-RING", size=(320, 320), roles=(Role.packshot, Role.lifestyle), approve=False)
    home = str(workspace.home)
    assert main(["--home", home, "missing", "DEMO-RING", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["sku"] == "DEMO-RING" and {m["role"] for m in report["missing"]} == {"packshot", "lifestyle"}
    assert set(report["missing"][0]) >= {"slot", "role", "reason"} and report["approved"] == []

    assert main(["--home", home, "missing"]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0] == "1 SKU(s)" and table[1].split() == ["SKU", "category", "approved", "missing", "roles",
                                                           "approved", "first", "gap"]
    assert table[3].split()[:4] == ["DEMO-RING", "ring", "0", "2"]

    assert main(["--home", home, "--json", "missing", "--role", "try_on"]) == 0
    assert [r["sku"] for r in json.loads(capsys.readouterr().out)["skus"]] == ["DEMO-RING"]
    assert main(["--home", home, "missing", "--role", "hat"]) == 2
    assert "unknown role 'hat'" in capsys.readouterr().err


def test_a_shot_replanned_after_a_change_request_stays_covered_by_its_approval(workspace):
    from tools.models import Shot

    packshot, detail = add_gallery(workspace, size=(320, 320), roles=(Role.packshot, Role.detail), approve=False)
    workspace.catalog.add_decision(Decision(candidate_id=packshot.id, action="approve"))
    workspace.catalog.add_decision(Decision(candidate_id=detail.id, action="change", note="warmer"))
    # The change request re-plans both shots under new ids (as the agent does for a changed shot).
    plan = workspace.catalog.latest_plan("DEMO-RING")
    replanned = [Shot(**{**s.model_dump(), "id": f"{s.id}-v2"}) for s in plan.shots]
    workspace.catalog.save_plan(plan.model_copy(update={"shots": replanned}))
    report = missing_report(workspace, "DEMO-RING")
    assert [m["role"] for m in report["missing"]] == ["detail"]  # the packshot slot keeps its approval
    assert report["missing"][0]["reason"] == "planned, not rendered yet"


def test_every_channel_of_the_gallery_is_checked_not_only_those_with_shots(workspace):
    from tools.rules import plan_gallery

    product = add_product(workspace, "DEMO-RING")
    plan = plan_gallery(product, None, ["amazon", "etsy"])
    assert plan.channels == [Channel.amazon, Channel.etsy]
    workspace.catalog.save_plan(plan)
    report = missing_report(workspace, "DEMO-RING")
    assert report["channels"] == ["amazon", "etsy"]
    packshot = next(m for m in report["missing"] if m["role"] == "packshot")
    assert "etsy" in packshot.get("blocks", []) or any(m["channel"] == "etsy" for m in report["missing"])


def test_versions_still_waiting_for_a_shot_already_approved_are_mentioned_as_waiting(workspace):
    """The main image is approved, and its shot was made again (a corrected cutout): the new versions are not
    missing, but the answer says they wait for review rather than leaving them out."""
    from tools.coverage import coverage_answer
    from tools.models import Critique, Shot

    packshot, detail = add_gallery(workspace, size=(320, 320), roles=(Role.packshot, Role.detail), approve=False)
    workspace.catalog.add_decision(Decision(candidate_id=packshot.id, action="approve"))
    plan = workspace.catalog.latest_plan("DEMO-RING")
    replanned = [Shot(**{**s.model_dump(), "id": f"{s.id}-v2"}) for s in plan.shots]
    plan = workspace.catalog.save_plan(plan.model_copy(update={"shots": replanned}))
    for i in range(2):  # two new versions of the main image, not decided
        again = packshot.model_copy(update={"id": f"cand_again{i}", "shot_id": plan.shots[0].id, "seed": 8 + i})
        workspace.catalog.add_candidate(again, Critique(candidate_id=again.id, verdict="pass", score=0.9, checks=[]))
    fresh = detail.model_copy(update={"id": "cand_detail2", "shot_id": plan.shots[1].id})  # the close-up waits too
    workspace.catalog.add_candidate(fresh, Critique(candidate_id=fresh.id, verdict="pass", score=0.9, checks=[]))
    report = missing_report(workspace, "DEMO-RING")
    assert [(m["role"], m["reason"]) for m in report["missing"]] == [("detail", "1 image waiting for review")]
    assert report["waiting"] == [{"slot": "grid", "role": "packshot", "count": 2}]
    answer = coverage_answer(workspace, "DEMO-RING")
    assert "Also waiting for your review: 2 more versions of the main image." in answer


def test_a_gap_names_its_place_once():
    from tools.coverage import _gap_line

    assert _gap_line({"slot": "campaign", "role": "campaign", "channel": None, "reason": "planned"}) == \
        "campaign image: planned"
    assert _gap_line({"slot": "hero", "role": "lifestyle", "channel": "etsy", "reason": "planned"}) == \
        "lifestyle scene (hero, Etsy): planned"
