"""Production and review nodes: one branch per shot (render, vision check, bounded re-render through
tools.production.produce_shot), the join that builds the review payload, the review interrupt (its own
small node: LangGraph re-runs it from the start on resume), and applying the decisions.

Every candidate shown or approved has been through the vision check; nothing in a brief can change that.
"""

from __future__ import annotations

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent.context import StudioContext
from agent.events import emit, progress, reply_event
from agent.offline.intents import classify_intent, parse_review_words, review_plan_edit
from agent.offline.reader import find_mood
from agent.state import ShotTask, StudioState
from tools.errors import BadInput, ListingError
from tools.models import Decision, GalleryPlan, Shot
from tools.plan import apply_edit, replan_from_changes, usable_plate_ids
from tools.progress import ProgressEvent

# The app's re-cut asks for the shots waiting for review to be made again, unchanged, from the corrected cutout.
REMAKE = "made again from the corrected cutout"


def shot_title(shot: Shot) -> str:
    """A shot's progress title in a seller's words: "Making the main image (Amazon, 2000×2000)"."""
    from tools.coverage import ROLE_WORDS

    where = ", ".join(x for x in ((shot.channel.value.capitalize() if shot.channel else ""),
                                  f"{shot.width}×{shot.height}") if x)
    return f"Making the {ROLE_WORDS.get(shot.role.value, shot.role.value.replace('_', ' '))} ({where})"


def produce(task: ShotTask, runtime: Runtime[StudioContext]) -> dict:
    """One shot: render its candidates, critique each, re-render failing ones up to Settings.max_rerenders."""
    from tools.production import produce_shot
    from tools.review import candidate_summary

    ws = runtime.context.ws
    shot = Shot.model_validate(task["shot"])
    title = shot_title(shot)
    progress(title, "running", f"making {shot.count} version{'s' if shot.count != 1 else ''}", sku=task["sku"],
             shot=shot.id)

    def on_progress(event: ProgressEvent) -> None:  # the tools' events, under this shot's title
        counts = {k: event[k] for k in ("done", "total") if k in event}
        progress(title, "running", event.get("message", ""), sku=task["sku"], shot=shot.id, **counts)

    try:
        pairs = produce_shot(ws, task["sku"], shot, max_rerenders=runtime.context.max_rerenders, progress=on_progress)
    except ListingError as exc:
        progress(title, "failed", f"{title}: {exc}")
        return {"results": {shot.id: [{"shot": shot.id, "role": shot.role.value, "error": str(exc)}]}}
    summaries = [candidate_summary(ws, candidate, critique) for candidate, critique in pairs]
    # a change request: measure the re-render against the candidate it replaces (a shot made again unchanged from
    # a corrected cutout had its change answered when it was first made)
    if shot.options.get("change") and not task.get("remake"):
        from tools.looks import verify_shot_change

        measured, said = verify_shot_change(ws, shot, [candidate for candidate, _ in pairs])
        for i, summary in enumerate(summaries):
            summary["change"] = measured[i] if i < len(measured) else []
            summary["change_reply"] = said
    passed = sum(1 for s in summaries if s["verdict"] == "pass")
    made = len(summaries)
    progress(title, "done", f"{passed} of {made} version{'s' if made != 1 else ''} match{'es' if made == 1 else ''} your photo",
             sku=task["sku"], shot=shot.id)
    return {"results": {shot.id: summaries}}


def collect(state: StudioState, runtime: Runtime[StudioContext]) -> dict:
    """Join the branches: the review payload of this round, in plan order."""
    order = [s["id"] for s in (state.get("plan") or {}).get("shots", [])]
    wanted = set(state.get("to_produce") or [])
    results = state.get("results") or {}
    candidates, failures, changes = [], [], []
    for shot_id in order:
        if shot_id not in wanted:
            continue
        for item in results.get(shot_id, []):
            if "error" in item:
                failures.append(item)
            else:
                candidates.append({k: item[k] for k in ("id", "shot", "role", "path", "verdict", "score", "reasons")}
                                  | ({"change": item["change"]} if "change" in item else {})
                                  | {"needs_person": bool(item.get("needs_person"))})
                if item.get("change_reply") and item["change_reply"] not in changes:
                    changes.append(item["change_reply"])
    # candidates still waiting from before a plan edit stay in the review (their shots are still planned)
    carried = [c for c in state.get("carried") or [] if c["shot"] in order and c["id"] not in {x["id"] for x in candidates}]
    candidates = carried + candidates
    payload = {"sku": state["sku"], "candidates": candidates, "failures": failures}
    if changes:  # what each change request did, measured (or plainly that it did not happen)
        payload["changes"] = changes
        reply_event(" ".join(changes))
    if candidates and not state.get("auto_approve"):
        passed = sum(1 for c in candidates if c["verdict"] == "pass")
        reply_event(f"{len(candidates)} image{'s' if len(candidates) != 1 else ''} for {state['sku']} are ready for "
                    f"review: {passed} match your photo. Approve, reject, or tell me what to change.")
    return {"review": payload, "carried": []}


def auto_approve(state: StudioState, runtime: Runtime[StudioContext]) -> dict:
    """Non-interactive runs (--auto-approve): approve the candidates that passed the vision check without a
    warning that needs a person (an unverified cutout), nothing else."""
    from tools.review import decide

    ws = runtime.context.ws
    approved = []
    waiting = []
    for item in state["review"]["candidates"]:
        if item["verdict"] == "pass" and item.get("needs_person"):
            waiting.append(item["id"])
        elif item["verdict"] == "pass":
            decide(ws, item["id"], "approve", note="auto-approved: passed the vision check", by="auto")
            approved.append(item["id"])
    progress("Checking the images", "done", f"auto-approved {len(approved)} candidate(s) that passed the vision check"
             + (f"; {len(waiting)} carry a warning and wait for a person to look at them" if waiting else ""))
    return {"decisions": {"approved": approved, "rejected": [], "changed": []}}


def review(state: StudioState, runtime: Runtime[StudioContext]) -> dict:
    """Wait for a person's decisions. Resume value: {"decisions": [{"candidate_id", "action", "note"}]} or {"text"}."""
    value = interrupt({"kind": "review", "payload": state["review"]})
    return {"decisions": value if isinstance(value, dict) else {"text": str(value)}, "rereview": False}


def apply_decisions(state: StudioState, runtime: Runtime[StudioContext]) -> dict:
    """Record approvals and rejections; turn change requests into re-planned shots for another round."""
    from tools.review import decide

    ws = runtime.context.ws
    payload = state.get("review") or {"candidates": []}
    by_id = {c["id"]: c for c in payload["candidates"]}
    raw = state.get("decisions") or {}

    # 1. Normalize the decisions (a list from the UI, or words typed in the chat) into Decision models
    decisions: list[Decision] = []
    if "decisions" in raw:
        for d in raw["decisions"]:
            if not isinstance(d, dict) or d.get("action") not in ("approve", "reject", "change"):
                raise BadInput(f"decision {d!r} needs candidate_id and action approve, reject or change")
            decisions.append(Decision(candidate_id=str(d.get("candidate_id")), action=d["action"],
                                      note=str(d.get("note") or "")[:2000]))
    elif "text" in raw:
        edited = _plan_edit_during_review(state, runtime, raw["text"])
        if edited is not None:
            return edited
        by_role: dict[str, list[str]] = {}
        for c in payload["candidates"]:
            by_role.setdefault(c["role"], []).append(c["id"])
        words = parse_review_words(raw["text"], list(by_id), by_role)
        if words.approve_passing:
            decisions += [Decision(candidate_id=c["id"], action="approve", note=raw["text"])
                          for c in payload["candidates"] if c["verdict"] == "pass"]
        elif words.reject_all:
            decisions += [Decision(candidate_id=cid, action="reject", note=raw["text"]) for cid in by_id]
        decisions += [Decision(candidate_id=cid, action="approve") for cid in words.approve]
        decisions += [Decision(candidate_id=cid, action="reject") for cid in words.reject]
        decisions += [Decision(candidate_id=cid, action="change", note=note[:2000]) for cid, note in words.change.items()]

    if "text" in raw and not decisions:
        # not a decision: answer a question or status, remind what is waiting, and keep the review open
        from agent import support

        intent = classify_intent(raw["text"], has_plan=True)
        asked = {**state, "text": raw["text"]}
        if intent == "question":
            text = support.answer(asked, runtime)["answer"]
        elif intent == "status":
            text = support.status(asked, runtime)["answer"]
        else:
            text = ("I'm waiting for your review: approve, reject, or tell me what to change "
                    "(e.g. \"approve all\", \"make the lifestyle warmer\").")
        reply_event(text)
        return {"decisions": None, "rereview": True}

    # 2. A change request whose words name no change (and no mood) is not re-rendered: say so, keep reviewing
    from tools.looks import change_vocabulary, read_change

    unclear = [d for d in decisions if d.action == "change" and d.note != REMAKE
               and not read_change(d.note).understood and find_mood(d.note) == ("", "")]
    if unclear:
        decisions = [d for d in decisions if d not in unclear]
        said = (f"I did not understand what to change in \"{unclear[0].note[:80]}\", so I did not re-render it. "
                f"I can make a scene {change_vocabulary()}, or give it another mood (e.g. \"darker\", "
                "\"a holiday mood\").")
        if not decisions:
            reply_event(said)
            return {"decisions": None, "rereview": True}
        reply_event(said)

    # 2b. A change that would give the same picture again (a main image or a close-up takes no look; a set
    #     already at the limit of the change: tools.looks.change_refusal) is not re-rendered: said plainly, and
    #     the image stays in the review with its other choices
    from tools.looks import change_refusal

    shots = {s["id"]: Shot.model_validate(s) for s in (state.get("plan") or {}).get("shots", [])}
    cannot = {}
    for d in decisions:
        shot = shots.get(by_id[d.candidate_id]["shot"]) if d.candidate_id in by_id else None
        if d.action == "change" and d.note != REMAKE and shot is not None:
            said = change_refusal(shot, d.note, _mood_words(d.note), ws.catalog.get_candidate(d.candidate_id).params)
            if said:
                cannot[d.candidate_id] = said
    if cannot:
        decisions = [d for d in decisions if d.candidate_id not in cannot or d.action != "change"]
        said = " ".join(dict.fromkeys(cannot.values())) + (" It stays in the review: approve or reject it as it is."
                                                            if len(cannot) == 1 else
                                                            " They stay in the review: approve or reject them as they are.")
        reply_event(said)
        if not decisions:
            return {"decisions": None, "rereview": True}

    # 2c. Past the bound on change rounds a change is not recorded: the image stays in the review as it is
    #     (recorded, it would leave the review with nothing made for it)
    refused = []
    rounds = runtime.context.max_revisions
    if any(d.action == "change" for d in decisions) and state.get("revisions", 0) >= rounds:
        refused.append(f"I stopped after {rounds} round{'s' if rounds != 1 else ''} of changes in this review, so "
                       "nothing was changed: approve or reject the images as they are, or start a new request")
        decisions = [d for d in decisions if d.action != "change"]

    # 3. Record each one (the review tool refuses approving what failed the check without a reason)
    approved, rejected, changed = [], [], []
    for d in decisions:
        if d.candidate_id not in by_id:
            refused.append(f"{d.candidate_id}: not a candidate of this review")
            continue
        try:
            decide(ws, d.candidate_id, d.action, note=d.note)
        except ListingError as exc:
            refused.append(str(exc))
            continue
        {"approve": approved, "reject": rejected, "change": changed}[d.action].append(d)

    # 4. Change requests: a new shot per changed shot, its look changed by the request (tools/looks.py); the
    #    re-render is measured against the candidate it replaces (produce)
    update: dict = {"decisions": {"approved": [d.candidate_id for d in approved],
                                  "rejected": [d.candidate_id for d in rejected],
                                  "changed": [d.candidate_id for d in changed], "refused": refused},
                    "to_produce": [], "remade": []}
    if changed:
        plan = GalleryPlan.model_validate(state["plan"])
        plan, to_render, _ = replan_from_changes(
            plan, changed, {cid: c["shot"] for cid, c in by_id.items()},
            read_mood=_mood_words,
            previous_params={d.candidate_id: ws.catalog.get_candidate(d.candidate_id).params for d in changed})
        remade = [by_id[d.candidate_id]["shot"] for d in changed if d.note == REMAKE]
        to_render += [shot for shot in dict.fromkeys(remade) if shot not in to_render]
        update["remade"] = [shot for shot in dict.fromkeys(remade) if shot in to_render]
        plan = ws.catalog.save_plan(plan)
        emit({"type": "plan", "plan": plan.model_dump(mode="json")})
        progress("Changing the plan", "done", f"re-planned {len(to_render)} shot(s) from your notes")
        update |= {"plan": plan.model_dump(mode="json"), "to_produce": to_render,
                   "results": {"__reset__": True}, "revisions": state.get("revisions", 0) + 1}

    # 5. Images the seller did not decide on this round stay in the review: with the re-made shots when a
    #    change renders, else as the review that stays open (a decision on some cards never drops the others)
    decided = {d.candidate_id for d in (*approved, *rejected, *changed)}
    waiting = [c for c in payload["candidates"] if c["id"] not in decided]
    if update["to_produce"]:
        update["carried"] = waiting
    elif waiting:
        recorded = (f"Recorded: {len(approved)} approved, {len(rejected)} rejected"
                    + (f", {len(changed)} to change" if changed else "")) if decided else ""
        parts = [*([recorded] if recorded else []), *refused,
                 f"{len(waiting)} image{' still waits' if len(waiting) == 1 else 's still wait'} for your review"]
        reply_event(" ".join(part.rstrip(". ") + "." for part in parts))
        update |= {"review": {**payload, "candidates": waiting}, "rereview": True}
    return update


def _mood_words(note: str) -> str:
    """The mood a change request names ("warm holiday light" -> "warm, holiday"), else ""."""
    return ", ".join(x for x in find_mood(note[:300]) if x)


def _plan_edit_during_review(state: StudioState, runtime: Runtime[StudioContext], text: str) -> dict | None:
    """A message that adds or removes shots while a review waits ("add a 16:9 banner", "no 9:16") changes the
    plan; the candidates still waiting stay in the next review unless their shot was removed, and the reply says
    which left. None when the message is not such an edit (then it is read as decisions)."""
    payload = state.get("review") or {"candidates": []}
    if any(c["id"].lower() in text.lower() for c in payload["candidates"]):
        return None
    plan = GalleryPlan.model_validate(state["plan"])
    edit = review_plan_edit(text, plan)
    if edit is None:
        return None
    ws = runtime.context.ws
    try:
        result = apply_edit(plan, edit, try_on_plates=usable_plate_ids(ws, ws.catalog.get_product(plan.sku)))
    except ListingError as exc:
        reply_event(str(exc))
        return {"decisions": None, "rereview": True}
    saved = ws.catalog.save_plan(result.plan)
    emit({"type": "plan", "plan": saved.model_dump(mode="json")})
    planned = {s.id for s in saved.shots}
    waiting = [c for c in payload["candidates"] if c["shot"] in planned]
    left = [c for c in payload["candidates"] if c["shot"] not in planned]
    words = f"Changed the plan: {result.summary()}."
    if waiting:
        words += f" The {len(waiting)} image{'s' if len(waiting) != 1 else ''} waiting for your review stay in it."
    if left:
        words += (f" {len(left)} image{'s' if len(left) != 1 else ''} of what was removed left the review (kept in "
                  "the catalog, not approved).")
    progress("Changing the plan", "done", words)
    reply_event(words)
    if not result.to_render:
        return {"plan": saved.model_dump(mode="json"), "review": {**payload, "candidates": waiting},
                "decisions": None, "rereview": True}
    return {"plan": saved.model_dump(mode="json"), "to_produce": result.to_render, "results": {"__reset__": True},
            "carried": waiting, "decisions": {"approved": [], "rejected": [], "changed": [], "refused": []},
            "rereview": False}
