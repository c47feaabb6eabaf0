"""Planning nodes: the gallery plan (tools.plan: the rules with the registered plates) and plan edits by
chat ("drop the lifestyle, add two 9:16 campaign shots with a winter mood").

The planning itself lives in `tools.plan`, shared with the CLI and the batch runner; these nodes read the
words (agent.offline.intents), call it, store the plan and say what changed.
"""

from __future__ import annotations

import re

from langgraph.runtime import Runtime

from agent.context import StudioContext
from agent.events import plan_event, progress, reply_event
from agent.offline.intents import campaign_additions, parse_plan_edit
from agent.state import StudioState
from tools.errors import ListingError
from tools.models import Brief, GalleryPlan, Role
from tools.plan import (  # noqa: F401
    apply_edit,
    brief_for_rules,
    campaign_shot,
    plan_with_plates,
    size_for_aspect,
    usable_plate_ids,
)

ADD_CUES = re.compile(r"\b(?:add|another|extra|plus|include|new|also)\b|\d")  # words that ask for more shots


def plan_for(ws, product, brief: Brief) -> GalleryPlan:
    """tools.plan.plan_with_plates for the brief's channels."""
    return plan_with_plates(ws, product, brief, brief.channels)


def _category_gallery(ws, category: str) -> str:
    """What a complete gallery of this category shows, from its visual brief in prompts/categories."""
    from tools.index import brief_section, category_brief

    try:
        return brief_section(category_brief(ws, category), "gallery")
    except Exception:  # grounding is advice; a missing or odd brief never blocks a plan
        return ""


def plan(state: StudioState, runtime: Runtime[StudioContext]) -> dict:
    """Make the gallery plan for the SKU from the rules and the brief; every shot goes to production."""
    ws = runtime.context.ws
    brief = Brief.model_validate(state["brief"])
    sku = state["sku"]
    product = ws.catalog.get_product(sku)

    # 1. Rules, with the brief (roles, exclusions, counts, mood, aspect ratios) and the registered plates
    progress("Planning the gallery", "running")
    gallery = plan_for(ws, product, brief)
    to_render = [s.id for s in gallery.shots]
    grounding = _category_gallery(ws, product.category.value)
    if grounding:
        gallery = gallery.model_copy(update={"notes": [*gallery.notes, f"a complete {product.category.value} "
                                                                       f"gallery shows: {grounding}"]})
    if brief.use_case == "campaign" and state.get("plan"):
        # campaign variants on an existing gallery: keep it, add only the campaign shots
        previous = GalleryPlan.model_validate(state["plan"])
        added = [s for s in gallery.shots if s.role is Role.campaign]
        gallery = previous.model_copy(update={"shots": [*previous.shots, *added]})
        to_render = [s.id for s in added]

    # 2. Store a new plan version and show it
    gallery = ws.catalog.save_plan(gallery.model_copy(update={"sku": sku}))
    dumped = gallery.model_dump(mode="json")
    plan_event(dumped)
    progress("Planning the gallery", "done", f"planned {len(gallery.shots)} shot(s): "
             + ", ".join(f"{s.role.value} {s.width}x{s.height}" for s in gallery.shots))
    return {"plan": dumped, "to_produce": to_render, "results": {"__reset__": True}, "revisions": 0}


def edit_plan(state: StudioState, runtime: Runtime[StudioContext]) -> dict:
    """Change the current plan by chat, or add campaign variants; only the new or changed shots render, and the
    reply says what was added, removed or re-planned."""
    ws = runtime.context.ws
    text = state.get("text", "")
    if not state.get("plan"):
        return {"answer": "There is no plan yet: send a product photo and a few words about it first."}
    current = GalleryPlan.model_validate(state["plan"])
    edit = parse_plan_edit(text, current)
    if state.get("intent") == "campaign":
        edit = campaign_additions(text, edit)
    if not (edit.drop or edit.drop_rest_of) and not (edit.add and ADD_CUES.search(text.lower())):
        # "make the lifestyle lighter" changes that shot's look; it does not add one
        redone = change_scenes(ws, current, text, edit.mood)
        if redone is not None:
            return redone
    if edit.empty:
        return {"answer": "I did not understand the change. Try e.g. \"drop the lifestyle, add two 9:16 campaign "
                          "shots with a winter mood\"."}
    progress("Changing the plan", "running")
    try:
        result = apply_edit(current, edit, try_on_plates=usable_plate_ids(ws, ws.catalog.get_product(current.sku)))
    except ListingError as exc:
        return {"answer": str(exc)}
    if not (result.to_render or result.dropped or result.added or result.replaced):
        # nothing to change (a main image asked to be warmer): say why, and keep the plan as it is
        return {"answer": " ".join(n[:1].upper() + n[1:] for n in result.notes) or "Nothing changed in the plan."}
    changed = ws.catalog.save_plan(result.plan)
    dumped = changed.model_dump(mode="json")
    plan_event(dumped)
    summary = result.summary()
    progress("Changing the plan", "done", f"plan v{changed.version}: {len(changed.shots)} shot(s); {summary}")
    return {"plan": dumped, "to_produce": result.to_render, "results": {"__reset__": True}, "revisions": 0,
            "notices": [*(state.get("notices") or []), f"plan changed: {summary}"]}


def change_scenes(ws, current: GalleryPlan, text: str, mood: str) -> dict | None:
    """A change request outside a review ("make the background darker"): the scene shots it names (all of
    them when it names none) are re-planned with the changed look (tools.looks) against their latest
    candidate, which production then measures the re-render against. None when the words ask no change
    of the look or no scene was rendered yet."""
    from agent.offline.reader import find_roles
    from tools.looks import SCENE_ROLES, change_refusal, changed_shot, read_change

    if not read_change(text).understood:
        return None
    named = set(find_roles(text.lower())[0])
    shots, to_render, refused = [], [], []
    for shot in current.shots:
        latest = ws.catalog.candidates(current.sku, shot.id) if shot.role.value in SCENE_ROLES else []
        fresh = None
        if latest and (not named or shot.role in named):
            # a set already at the limit of the change would render the same picture: said, not re-rendered
            refusal = change_refusal(shot, text, mood, latest[0].params)
            if refusal:
                refused.append(refusal)
            else:
                fresh, _ = changed_shot(shot, text, mood, latest[0].id, latest[0].params)
        shots.append(fresh or shot)
        if fresh is not None:
            to_render.append(fresh.id)
    if not to_render:
        return {"answer": " ".join(dict.fromkeys(refused))} if refused else None
    progress("Changing the plan", "running")
    changed = ws.catalog.save_plan(current.model_copy(update={"shots": shots}))
    dumped = changed.model_dump(mode="json")
    plan_event(dumped)
    progress("Changing the plan", "done", f"plan v{changed.version}: re-rendering {len(to_render)} scene(s) "
             "with your change")
    if refused:  # said now, beside the scenes that do change
        reply_event(" ".join(dict.fromkeys(refused)))
    return {"plan": dumped, "to_produce": to_render, "results": {"__reset__": True}, "revisions": 0}
