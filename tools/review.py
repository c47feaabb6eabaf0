"""Review: list a SKU's candidates with their critique and record approve / reject / change decisions.

The CLI's `review`, the agent's review node and the UI all record decisions through `decide`. Only a
candidate that went through the vision check can be approved; approving one that failed it needs a
note that says why (a person overriding the check), never a silent pass. A candidate whose check
carries a warning that needs a person (an unverified cutout) is never approved automatically; a
person's approval records the warnings they were shown.
"""

from __future__ import annotations

from tools.errors import BadInput, Refused
from tools.models import Candidate, Critique, Decision, check_sku
from tools.rules import ENLARGE_NOTICE
from tools.verification import person_needed
from tools.workspace import Workspace

ACTIONS = ("approve", "reject", "change")


def candidate_summary(ws: Workspace, candidate: Candidate, critique: Critique | None = None,
                      decision: Decision | None = None) -> dict:
    """The JSON a person reviews: id, shot, role, path, verdict, score, reasons (and the decision so far)."""
    critique = critique or ws.catalog.latest_critique(candidate.id)
    decision = decision if decision is not None else ws.catalog.latest_decision(candidate.id)
    return {
        "id": candidate.id,
        "shot": candidate.shot_id,
        "role": candidate.role.value,
        "path": str(ws.assets.path(candidate.asset_id)),
        "verdict": critique.verdict if critique else "unchecked",
        "score": round(critique.score, 4) if critique else 0.0,
        "reasons": critique.reasons + critique.warnings if critique else ["not checked yet"],
        "warnings": critique.warnings if critique else [],
        "needs_person": bool(person_needed(critique)),
        "decision": decision.action if decision else None,
        "engine": candidate.engine,
        "attempt": candidate.attempt,
    }


def decide(ws: Workspace, candidate_id: str, action: str, note: str = "", by: str = "user") -> Decision:
    """Record one decision about a candidate. Refuses to approve an unchecked candidate, or a failed one without a note."""
    # 1. Check inputs
    if action not in ACTIONS:
        raise BadInput(f"unknown action {action!r}: use approve, reject or change")
    if not isinstance(note, str) or len(note) > 2000:
        raise BadInput("note must be text of at most 2000 characters")
    candidate = ws.catalog.get_candidate(candidate_id)

    # 2. The vision check is not optional
    if action == "approve":
        critique = ws.catalog.latest_critique(candidate.id)
        if critique is None:
            raise Refused(f"candidate {candidate_id} has not been through the vision check; it cannot be approved yet")
        if critique.verdict != "pass" and not note.strip():
            reasons = "; ".join(critique.reasons) or "failed"
            raise Refused(f"candidate {candidate_id} failed the vision check ({reasons}); reject it, ask for a "
                          "change, or approve with a note that says why")
        shown = person_needed(critique)
        if shown and by == "auto":
            raise Refused(f"candidate {candidate_id} needs a person to look at it before it is approved: "
                          + "; ".join(shown))
    else:
        shown = []

    # 3. Record (with the warnings the person approved it after seeing)
    return ws.catalog.add_decision(Decision(candidate_id=candidate.id, action=action, note=note, by=by,
                                            acknowledged=shown))


def review_sku(ws: Workspace, sku: str, approve=(), reject=(), note: str = "", all_rounds: bool = False) -> dict:
    """Apply approvals and rejections for one SKU, then list its candidates with critique and decision.

    Only the current round is listed: candidates of the latest plan's shots, plus approved ones of
    earlier rounds (they are still published). What an earlier or interrupted run left undecided or
    rejected is superseded and counted in `earlier_hidden` (`all_rounds=True` lists it too)."""
    # 1. Check inputs: every id must be a candidate of this SKU
    check_sku(sku)
    ws.catalog.get_product(sku)
    approve, reject = list(approve), list(reject)
    both = set(approve) & set(reject)
    if both:
        raise BadInput(f"candidate(s) {', '.join(sorted(both))} are both approved and rejected; pick one")
    for candidate_id in approve + reject:
        candidate = ws.catalog.get_candidate(candidate_id)
        if candidate.sku != sku:
            raise BadInput(f"candidate {candidate_id} belongs to {candidate.sku}, not {sku}")

    # 2. Record decisions
    for candidate_id in approve:
        decide(ws, candidate_id, "approve", note=note)
    for candidate_id in reject:
        decide(ws, candidate_id, "reject", note=note)

    # 3. List the current round
    decisions = ws.catalog.decisions(sku)
    plan = ws.catalog.latest_plan(sku)
    current = {shot.id for shot in plan.shots} if plan else None
    listed, hidden = [], 0
    for candidate in ws.catalog.candidates(sku):
        decision = decisions.get(candidate.id)
        this_round = current is None or candidate.shot_id in current
        if not (this_round or all_rounds or (decision and decision.action == "approve")):
            hidden += 1
            continue
        listed.append(candidate_summary(ws, candidate, decision=decision) | {
            "round": "current" if this_round else "earlier"})
    return {"sku": sku, "plan_version": plan.version if plan else None, "candidates": listed,
            "earlier_hidden": hidden}


def candidate_detail(ws: Workspace, candidate_id: str) -> dict:
    """What a person needs to judge one candidate beside its source: the large view's data.

    {"id", "sku", "role", "shot", "slot", "channel", "path", "source_path", "cutout_path", "verdict", "score",
    "checks": [{"name", "passed", "warning", "message"}], "warnings": [...], "change": the change request this
    shot was made for (or ""), "before": {"id", "path"} of the candidate that request replaced (or None)}.
    """
    catalog = ws.catalog
    candidate = catalog.get_candidate(candidate_id)
    critique = catalog.latest_critique(candidate.id)
    try:
        shot = catalog.get_shot(candidate.shot_id)
    except BadInput:
        shot = None

    # 1. The source photo the candidate was made from (its cutout's photo), else the SKU's first photo.
    photos = catalog.photos(candidate.sku)
    photo = next((p for p in photos if p.cutout_asset_id == candidate.source_asset_id), photos[0] if photos else None)

    # 2. Warnings a seller should see on the card: the engine's, the check's, and an enlargement.
    warnings = list(candidate.warnings)
    checks = critique.checks if critique else []
    warnings += [c.message for c in checks if c.passed and c.warning and c.message not in warnings]
    upscale = candidate.placement.upscale if candidate.placement else 1.0
    if upscale > ENLARGE_NOTICE and not any("enlarg" in w for w in warnings):
        warnings.append(f"the product is enlarged {upscale:.1f}x beyond your photo, so it may look soft; "
                        "a larger photo gives a sharper image")

    # 3. A change request: the shot's scene carries it; "before" is the latest candidate of the same page
    #    slot whose decision asked for a change.
    change = shot.scene.rsplit("change: ", 1)[1] if shot and "change: " in shot.scene else ""
    before = None
    if change and shot is not None:
        decisions = catalog.decisions(candidate.sku)
        for other in sorted(catalog.candidates(candidate.sku), key=lambda c: c.created_at, reverse=True):
            decision = decisions.get(other.id)
            if other.id == candidate.id or other.created_at > candidate.created_at or not decision \
                    or decision.action != "change" or other.role != candidate.role:
                continue
            try:
                other_shot = catalog.get_shot(other.shot_id)
            except BadInput:
                continue
            if (other_shot.slot, other_shot.channel) == (shot.slot, shot.channel):
                before = {"id": other.id, "path": str(ws.assets.path(other.asset_id)), "note": decision.note}
                break

    return {
        "id": candidate.id, "sku": candidate.sku, "role": candidate.role.value, "shot": candidate.shot_id,
        "slot": shot.slot.value if shot else None, "channel": shot.channel.value if shot and shot.channel else None,
        "path": str(ws.assets.path(candidate.asset_id)),
        "source_path": str(ws.assets.path(photo.asset_id)) if photo else None,
        "cutout_path": str(ws.assets.path(candidate.source_asset_id)) if ws.assets.exists(candidate.source_asset_id)
        else None,
        "verdict": critique.verdict if critique else "unchecked", "score": critique.score if critique else 0.0,
        "checks": [{"name": c.name, "passed": c.passed, "warning": c.warning, "message": c.message} for c in checks],
        "warnings": warnings, "change": change, "before": before,
    }


def products(ws: Workspace) -> list[dict]:
    """Every product of the catalog, [{"sku", "title", "category"}] (the app's product picker)."""
    return [{"sku": p.sku, "title": p.title, "category": p.category.value} for p in ws.catalog.list_products()]


def latest_plan(ws: Workspace, sku: str | None) -> dict | None:
    """The SKU's latest gallery plan as JSON, or None (unknown SKU or nothing planned yet)."""
    if not sku or not ws.catalog.has_product(sku):
        return None
    plan = ws.catalog.latest_plan(sku)
    return plan.model_dump(mode="json") if plan else None


def product_cutout(ws: Workspace, sku: str | None) -> dict | None:
    """The SKU's main photo and the cutout its images are made from, or None.

    {"sku", "photo_asset_id", "photo_path", "cutout_path", "method", "earlier": number of earlier cutouts kept}.
    """
    if not sku or not ws.catalog.has_product(sku):
        return None
    for photo in ws.catalog.photos(sku):
        if photo.cutout_asset_id:
            return {"sku": sku, "photo_asset_id": photo.asset_id, "photo_path": str(ws.assets.path(photo.asset_id)),
                    "cutout_path": str(ws.assets.path(photo.cutout_asset_id)), "method": photo.cutout_method,
                    "earlier": len(photo.previous_cutout_ids)}
    return None
