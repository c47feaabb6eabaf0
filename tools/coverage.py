"""Coverage: what each SKU has and still lacks, with a reason for every gap.

Gaps: planned shots without an approved candidate, channels whose required images are absent, and
approved images that may no longer be used because their talent's consent was revoked or expired.
The CLI's `missing` and the agent's support answers ("which SKUs have no try-on?") both call
`missing_report`; `coverage_table` renders it for people. Nothing here changes the catalog.
"""

from __future__ import annotations

from tools.models import Channel, Role, Slot, check_sku, normalize_role
from tools.publish import consent_refusals
from tools.workspace import Workspace

MAIN_IMAGE_RULE = {
    Channel.amazon: "a packshot on pure white (jewelry: no model)",
    Channel.etsy: "a first image that survives the 4:3 thumbnail crop",
    Channel.shopify: "a main product image",
    Channel.ebay: "a main image without borders or text",
    Channel.google: "a main image (image_link): the product alone, no text",
    Channel.zalando: "a portrait packshot",
}


def sku_coverage(ws: Workspace, sku: str) -> dict:
    """`{"sku", "missing": [{"slot", "role", "reason", "kind", ...}], "approved": [...], ...}` for one SKU.

    `kind` is "shot" (planned, no approval), "needs" (not planned: it cannot be made with what is
    installed or uploaded; `needs` says what would enable it), "channel" (a channel lacks its required
    image) or "consent" (an approved image whose talent consent was revoked or expired; it no longer counts).
    `waiting` lists, per planned shot that an approval already covers, the further versions still waiting for
    review (`{"slot", "role", "count"}`): not missing, but not decided either.
    """
    # 1. Read the SKU's state.
    catalog = ws.catalog
    product = catalog.get_product(sku)
    plan = catalog.latest_plan(sku)
    approved = catalog.approved(sku)
    decisions = catalog.decisions(sku)
    failures = catalog.shot_failures(sku)
    shots = {s.id: s for s in plan.shots} if plan else {}

    def shot_of(candidate):
        if candidate.shot_id not in shots:
            try:
                shots[candidate.shot_id] = catalog.get_shot(candidate.shot_id)
            except Exception:
                shots[candidate.shot_id] = None
        return shots[candidate.shot_id]

    # 2. Approved images whose talent consent no longer holds are flagged and stop counting.
    refused = consent_refusals(ws, approved, None)
    usable = [c for c in approved if c.id not in refused]
    missing: list[dict] = []
    for candidate in approved:
        if candidate.id in refused:
            shot = shot_of(candidate)
            missing.append({
                "slot": shot.slot.value if shot else Slot.gallery_2.value, "role": candidate.role.value,
                "reason": f"approved image {candidate.id} can no longer be used: {refused[candidate.id]}",
                "kind": "consent", "candidate": candidate.id, "shot": candidate.shot_id,
                "channel": shot.channel.value if shot and shot.channel else None,
            })

    # 3. Planned shots without a usable approval.
    still_to_review: list[dict] = []
    if plan is None:
        missing.append({"slot": Slot.grid.value, "role": Role.packshot.value, "reason": "no gallery plan yet",
                        "kind": "shot", "shot": None, "channel": None})
    else:
        # A shot is covered by an approval of its own, or of an earlier shot it replaced in the plan (a
        # change request re-plans a shot under a new id): same slot, role and channel.
        approved_shots = {c.shot_id for c in usable}
        filled = {(s.slot, s.role, s.channel) for c in usable if (s := shot_of(c)) is not None}
        for shot in plan.shots:
            if shot.id in approved_shots or (shot.slot, shot.role, shot.channel) in filled:
                more = sum(1 for c in catalog.candidates(sku, shot.id) if c.id not in decisions)
                if more:
                    still_to_review.append({"slot": shot.slot.value, "role": shot.role.value, "count": more})
                continue
            candidates = catalog.candidates(sku, shot.id)
            if not candidates:
                reason = failures.get(shot.id, "planned, not rendered yet")
            elif any(c.id in refused for c in candidates):
                reason = "its approved image was withdrawn (talent consent); approve another or re-render"
            elif all(decisions.get(c.id) and decisions[c.id].action != "approve" for c in candidates):
                reason = "every image made for it was rejected"
            else:
                waiting = sum(1 for c in candidates if c.id not in decisions) or len(candidates)
                reason = f"{waiting} image{'s' if waiting != 1 else ''} waiting for review"
            missing.append({"slot": shot.slot.value, "role": shot.role.value, "reason": reason, "kind": "shot",
                            "shot": shot.id, "channel": shot.channel.value if shot.channel else None})
        # Shots the plan could not make honestly with what is installed or uploaded.
        have = {c.role for c in usable}
        for gap in plan.not_planned:
            if gap.role not in have:
                missing.append({"slot": gap.slot.value, "role": gap.role.value, "reason": _gap_reason(ws, gap),
                                "kind": "needs", "needs": gap.needs, "shot": None,
                                "channel": gap.channel.value if gap.channel else None})

    # 4. Channels the plan targets (or the SKU was published to) whose required main image is absent.
    exports = catalog.exports(sku)
    targeted = {s.channel for s in (plan.shots if plan else []) if s.channel} | set(plan.channels if plan else [])
    targeted |= {Channel(e["channel"]) for e in exports}
    channels = sorted(targeted, key=lambda c: c.value)
    for channel in channels:
        # Like publish: a packshot planned for another channel still serves (fitted to this one).
        if any(c.role == Role.packshot for c in usable):
            continue
        already = any(m["kind"] == "shot" and m["role"] == Role.packshot.value and m["channel"] in (None, channel.value)
                      for m in missing)
        if not already:
            missing.append({"slot": Slot.grid.value, "role": Role.packshot.value, "kind": "channel",
                            "channel": channel.value, "shot": None,
                            "reason": f"{channel.value} needs {MAIN_IMAGE_RULE[channel]}: no packshot approved"})
        else:
            for m in missing:
                if m["kind"] == "shot" and m["role"] == Role.packshot.value and m["channel"] in (None, channel.value):
                    m.setdefault("blocks", []).append(channel.value)

    # 5. What the SKU has.
    return {
        "sku": sku,
        "category": product.category.value,
        "title": product.title,
        "missing": missing,
        "approved": [{"id": c.id, "shot": c.shot_id, "role": c.role.value, "asset_id": c.asset_id,
                      "slot": s.slot.value if (s := shot_of(c)) else None,
                      "channel": s.channel.value if s and s.channel else None,
                      "path": str(ws.assets.path(c.asset_id)) if ws.assets.exists(c.asset_id) else None}
                     for c in usable],
        "blocked": [{"id": cid, "reason": why} for cid, why in refused.items()],
        "waiting": still_to_review,
        "channels": [c.value for c in channels],
        "exported": sorted({e["channel"] for e in exports}),
        "complete": not missing,
    }


def pending_images(ws: Workspace, sku: str, channel: str | Channel) -> list[dict]:
    """The plan's images for `channel` (or for every channel) that its page does not have yet, and why (waiting
    for review, rejected, not made, what they need): `[{"role", "slot", "reason"}]`, for the Approved view."""
    channel = Channel(channel)
    return [{"role": gap["role"], "slot": gap["slot"], "reason": gap["reason"]}
            for gap in sku_coverage(ws, check_sku(sku))["missing"]
            if gap["kind"] in ("shot", "needs", "consent") and gap.get("channel") in (None, channel.value)]


def missing_report(ws: Workspace, sku: str | None = None, role: str | None = None) -> dict:
    """One SKU's coverage, or every SKU's (`{"skus": [...]}`).

    With `role`, the catalog-wide report keeps only SKUs without a usable approved image of that role
    ("which SKUs have no try-on?"); a single-SKU report gains `has_role`.
    """
    wanted = normalize_role(role) if role else None
    if sku is not None:
        report = sku_coverage(ws, check_sku(sku))
        if wanted:
            report["role"] = wanted.value
            report["has_role"] = any(a["role"] == wanted.value for a in report["approved"])
        return report
    reports = [sku_coverage(ws, p.sku) for p in ws.catalog.list_products()]
    if wanted:
        reports = [r for r in reports if not any(a["role"] == wanted.value for a in r["approved"])]
        for r in reports:
            r["reason"] = _role_reason(r, wanted)
        return {"skus": reports, "role": wanted.value, "count": len(reports)}
    return {"skus": reports}


def _role_reason(report: dict, role: Role) -> str:
    gaps = [m for m in report["missing"] if m["role"] == role.value]
    if gaps:
        return "; ".join(m["reason"] for m in gaps)
    return f"no {ROLE_WORDS.get(role.value, role.value)} planned"


def coverage_table(result: dict) -> str:
    """A readable answer: one SKU's gaps as lines, or the catalog as a table."""
    if "skus" not in result:
        return _sku_lines(result)
    reports = result["skus"]
    if not reports:
        role = result.get("role")
        return f"every SKU has an approved {role} image" if role else "the catalog has no products yet"
    role = result.get("role")
    header = ["SKU", "category", "approved", "missing", "roles approved", "first gap" if not role else f"why no {role}"]
    rows = []
    for r in reports:
        roles = sorted({a["role"] for a in r["approved"]})
        gap = r.get("reason") if role else (r["missing"][0]["reason"] if r["missing"] else "complete")
        rows.append([r["sku"], r["category"], str(len(r["approved"])), str(len(r["missing"])),
                     ",".join(roles) or "-", gap])
    widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(header[:-1])]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header[:-1], widths, strict=True)) + "  " + header[-1]]
    lines.append("  ".join("-" * w for w in widths) + "  " + "-" * len(header[-1]))
    lines += ["  ".join(c.ljust(w) for c, w in zip(row[:-1], widths, strict=True)) + "  " + row[-1] for row in rows]
    title = f"{len(reports)} SKU(s) without an approved {role} image" if role else f"{len(reports)} SKU(s)"
    return "\n".join([title, *lines])


def _sku_lines(report: dict) -> str:
    if not report["missing"]:
        return f"{report['sku']}: complete ({len(report['approved'])} approved)"
    lines = [f"{report['sku']}: {len(report['missing'])} missing, {len(report['approved'])} approved"]
    for m in report["missing"]:
        channel = f" [{m['channel']}]" if m.get("channel") else ""
        lines.append(f"  {m['slot']:<10} {m['role']:<10} {m['reason']}{channel}")
    return "\n".join(lines)


# -- the seller's answer: the app's panel and the agent's support replies both use this -------------

ROLE_WORDS = {"packshot": "main image", "try_on": "try-on", "detail": "detail close-up", "lifestyle": "lifestyle scene",
              "campaign": "campaign image", "on_model": "on-model image", "model_swap": "model swap"}
SLOT_WORDS = {"grid": "search grid", "hero": "hero", "gallery_2": "gallery #2", "gallery_3": "gallery #3",
              "campaign": "campaign"}


def expected_roles(category: str) -> list[str]:
    """The roles a complete product page of this category usually has (what "not planned" is measured against)."""
    from tools.models import APPAREL, JEWELRY, Category

    kind = Category(category)
    worn = ["try_on"] if kind in JEWELRY else ["on_model"] if kind in APPAREL else []
    return ["packshot", *worn, "detail", "lifestyle"]


def _gap_reason(ws: Workspace, gap) -> str:
    """Why a shot the plan could not make is still missing, as things stand now: a model photo added since the
    plan was made (with consent for the channel) turns "add one" into "say add a try-on"."""
    from tools.plates import usable_plates

    if not gap.needs.startswith("plate:"):
        return gap.reason
    if usable_plates(ws, gap.needs.split(":", 1)[1], gap.channel):
        return "a model photo for it is ready: say \"add a try-on\" in the chat to make it"
    return gap.reason


def shot_words(role: str, slot: str | None, channel: str | None = None) -> str:
    """A planned image in a seller's words with its place: "detail close-up (gallery #3, Amazon)"; the slot is
    left out when the role already says it ("campaign image", not "campaign image (campaign)")."""
    named = ROLE_WORDS.get(role, role.replace("_", " "))
    where = SLOT_WORDS.get(slot or "", slot or "")
    place = ", ".join(x for x in ("" if where in named else where, channel.capitalize() if channel else "") if x)
    return named + (f" ({place})" if place else "")


def _gap_line(gap: dict) -> str:
    return f"{shot_words(gap['role'], gap['slot'], gap.get('channel'))}: {gap['reason']}"


def coverage_answer(ws: Workspace, sku: str | None = None, role: str | None = None) -> str:
    """One answer in plain words for "what's missing for X", "which SKUs have no try-on" and "does X have one".

    Built from `missing_report` alone, so every phrasing agrees: a SKU whose planned images are all
    approved still names the usual roles it has none of, and candidates waiting for review are
    mentioned as waiting, never counted as done.
    """
    report = missing_report(ws, sku, role)
    if sku is None and role is not None:
        word = ROLE_WORDS.get(report["role"], report["role"])
        if not report["skus"]:
            return f"Every product has an approved {word}."
        lines = [f"- {r['sku']}: {r['reason']}" for r in report["skus"]]
        return f"{report['count']} product(s) have no approved {word}:\n" + "\n".join(lines)
    if sku is None:
        reports = report["skus"]
        if not reports:
            return "The catalog has no products yet."
        return "\n".join(f"- {r['sku']}: " + ("every planned image approved" if r["complete"] else
                                               f"{len(r['missing'])} missing") for r in reports)
    approved_roles = {a["role"] for a in report["approved"]}
    count = len(report["approved"])
    if role is not None:
        word = ROLE_WORDS.get(report["role"], report["role"])
        if report["has_role"]:
            return f"{sku} has an approved {word}."
        return f"{sku} has no approved {word}: {_role_reason(report, Role(report['role']))}."
    absent = [ROLE_WORDS[r] for r in expected_roles(report["category"]) if r not in approved_roles
              and not any(m["role"] == r for m in report["missing"])]
    not_planned = f" Not in its plan: {', '.join(absent)}." if absent else ""
    more = [f"{w['count']} more version{'s' if w['count'] != 1 else ''} of the {ROLE_WORDS.get(w['role'], w['role'])}"
            for w in report.get("waiting") or []]
    waiting = f" Also waiting for your review: {', '.join(more)}." if more else ""
    if not report["missing"]:
        return f"{sku}: every planned image is approved ({count}).{waiting}{not_planned}"
    lines = [f"- {_gap_line(m)}" for m in report["missing"]]
    lacking = len(report["missing"])
    return (f"{sku} still lacks {lacking} image{'s' if lacking != 1 else ''} ({count} approved):\n" + "\n".join(lines)
            + "".join(f"\n\n{extra.strip()}" for extra in (waiting, not_planned) if extra))
