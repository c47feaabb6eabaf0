"""Coverage: what each SKU has and still lacks (planned shots without an approval, per the catalog).

The CLI's `missing` and the agent's support answers both call `missing_report`.
"""

from __future__ import annotations

from tools.models import check_sku, normalize_role
from tools.workspace import Workspace


def sku_coverage(ws: Workspace, sku: str) -> dict:
    """`{"sku", "missing": [{"slot", "role", "reason"}], "approved": [...]}` for one SKU."""
    catalog = ws.catalog
    catalog.get_product(sku)
    plan = catalog.latest_plan(sku)
    approved = catalog.approved(sku)
    missing: list[dict] = []
    if plan is None:
        missing.append({"slot": "grid", "role": "packshot", "reason": "no gallery plan yet"})
    else:
        approved_shots = {c.shot_id for c in approved}
        decisions = catalog.decisions(sku)
        for shot in plan.shots:
            if shot.id in approved_shots:
                continue
            candidates = catalog.candidates(sku, shot.id)
            if not candidates:
                reason = "planned, not rendered yet"
            elif all(decisions.get(c.id) and decisions[c.id].action != "approve" for c in candidates):
                reason = "every candidate was rejected"
            else:
                reason = f"{len(candidates)} candidate(s) waiting for review"
            missing.append({"slot": shot.slot.value, "role": shot.role.value, "reason": reason,
                            "shot": shot.id, "channel": shot.channel.value if shot.channel else None})
    return {
        "sku": sku,
        "missing": missing,
        "approved": [{"id": c.id, "shot": c.shot_id, "role": c.role.value, "asset_id": c.asset_id} for c in approved],
    }


def missing_report(ws: Workspace, sku: str | None = None, role: str | None = None) -> dict:
    """One SKU's coverage, or every SKU's (`{"skus": [...]}`), optionally only those lacking `role`."""
    if sku is not None:
        return sku_coverage(ws, check_sku(sku))
    wanted = normalize_role(role).value if role else None
    reports = [sku_coverage(ws, p.sku) for p in ws.catalog.list_products()]
    if wanted:
        reports = [r for r in reports if not any(a["role"] == wanted for a in r["approved"])]
    return {"skus": reports}
