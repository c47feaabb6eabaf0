"""Planning nodes: the gallery plan from the rules (tools.rules.plan_gallery) adjusted by the brief, and
plan edits by chat ("drop the lifestyle, add two 9:16 campaign shots with a winter mood").

Pure helpers (`plan_for`, `apply_edit`, `size_for_aspect`) are importable for tests and benchmarks.
"""

from __future__ import annotations

import re

from langgraph.runtime import Runtime

from agent.context import StudioContext
from agent.events import plan_event, progress
from agent.offline.intents import PlanEdit, parse_plan_edit
from agent.offline.reader import find_aspects, find_counts
from agent.state import StudioState
from tools.errors import BadInput
from tools.models import Brief, Channel, GalleryPlan, Role, Shot, Slot, new_id

LONG_SIDE = 1920
SQUARE_SIDE = 1600


def size_for_aspect(aspect: str) -> tuple[int, int]:
    """Pixel size of a campaign shot for an aspect ratio like '9:16' (the channel rules' sizes, else long side 1920)."""
    from tools.rules import CAMPAIGN_SIZES

    if aspect in CAMPAIGN_SIZES:
        return CAMPAIGN_SIZES[aspect]
    m = re.fullmatch(r"\s*(\d{1,2})\s*:\s*(\d{1,2})\s*", aspect or "")
    if not m or int(m.group(1)) == 0 or int(m.group(2)) == 0:
        raise BadInput(f"aspect ratio {aspect!r} is not like 9:16")
    a, b = int(m.group(1)), int(m.group(2))
    if a == b:
        return SQUARE_SIDE, SQUARE_SIDE
    if a > b:
        return LONG_SIDE, round(LONG_SIDE * b / a)
    return round(LONG_SIDE * a / b), LONG_SIDE


def _mood_words(mood: str, season: str) -> str:
    return ", ".join(x for x in (mood, season) if x)


def campaign_shot(aspect: str, mood: str, count: int, scene: str = "") -> Shot:
    width, height = size_for_aspect(aspect)
    return Shot(role=Role.campaign, slot=Slot.campaign, channel=None, width=width, height=height,
                scene=scene or f"campaign variant {aspect}, {mood or 'neutral'} mood, safe margins", mood=mood, count=count,
                options={"aspect": aspect})


def brief_for_rules(brief: Brief) -> tuple[Brief, list[str]]:
    """The brief as the rules should see it: a channel's required main image cannot be declined."""
    notes = []
    if Role.packshot in brief.exclude_roles and Channel.amazon in brief.channels:
        notes.append("kept the Amazon main image: Amazon requires the product alone on white")
        brief = brief.model_copy(update={"exclude_roles": [r for r in brief.exclude_roles if r is not Role.packshot]})
    return brief, notes


def plan_for(ws, product, brief: Brief) -> GalleryPlan:
    """tools.rules.plan_gallery with the registered plates and their consent for the main channel."""
    from tools.production import plan_with_plates

    brief, notes = brief_for_rules(brief)
    gallery = plan_with_plates(ws, product, brief, brief.channels)
    return gallery.model_copy(update={"notes": [*gallery.notes, *notes]})


def apply_edit(plan: GalleryPlan, edit: PlanEdit, default_count: int = 2) -> tuple[GalleryPlan, list[str]]:
    """Apply a chat edit; returns the new plan and the ids of the shots to (re)render."""
    mood = _mood_words(edit.mood, edit.season)
    shots = [s for s in plan.shots if s.role not in edit.drop_roles]
    to_render: list[str] = []
    for add in edit.add:
        role = Role(add["role"])
        count = int(add["count"])
        if role is Role.campaign:
            for _ in range(count):
                shot = campaign_shot(add.get("aspect") or "1:1", add.get("mood") or mood, default_count)
                shots.append(shot)
                to_render.append(shot.id)
            continue
        template = next((s for s in shots if s.role is role), shots[0] if shots else None)
        if template is None:
            raise BadInput("the plan has no shots left to copy a size from; ask for a new gallery")
        for _ in range(count):
            width, height = size_for_aspect(add["aspect"]) if add.get("aspect") else (template.width, template.height)
            shot = Shot(role=role, slot=template.slot if template.role is role else Slot.gallery_3,
                        channel=template.channel, width=width, height=height, scene=template.scene if template.role is role else "",
                        mood=add.get("mood") or mood, count=template.count, options=dict(template.options))
            shots.append(shot)
            to_render.append(shot.id)
    if mood and not edit.add:
        # "make it more wintry": re-render the shots that carry a mood, as new shots
        changed = []
        for shot in shots:
            if shot.role in (Role.lifestyle, Role.campaign, Role.try_on, Role.on_model):
                fresh = shot.model_copy(update={"mood": mood, "id": new_id("shot")})
                changed.append(fresh)
                to_render.append(fresh.id)
            else:
                changed.append(shot)
        shots = changed
    if not shots:
        raise BadInput("that would leave the plan empty; keep at least one shot")
    return plan.model_copy(update={"shots": shots}), to_render


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
    """Change the current plan by chat, or add campaign variants; only the new or changed shots render."""
    ws = runtime.context.ws
    text = state.get("text", "")
    if not state.get("plan"):
        return {"answer": "There is no plan yet: send a product photo and a few words about it first."}
    current = GalleryPlan.model_validate(state["plan"])
    edit = parse_plan_edit(text)
    if state.get("intent") == "campaign" and not edit.add:
        _, campaign_count = find_counts(text)
        for aspect in find_aspects(text) or ["1:1", "4:5", "9:16"]:
            edit.add.append({"role": Role.campaign, "count": campaign_count or 1, "aspect": aspect,
                             "mood": _mood_words(edit.mood, edit.season)})
    if edit.empty:
        return {"answer": "I did not understand the change. Try e.g. \"drop the lifestyle, add two 9:16 campaign "
                          "shots with a winter mood\"."}
    progress("Changing the plan", "running")
    changed, to_render = apply_edit(current, edit, default_count=current.shots[0].count if current.shots else 2)
    changed = ws.catalog.save_plan(changed)
    dumped = changed.model_dump(mode="json")
    plan_event(dumped)
    dropped = ", ".join(r.value for r in edit.drop_roles)
    progress("Changing the plan", "done", f"plan v{changed.version}: {len(changed.shots)} shot(s)"
             + (f", dropped {dropped}" if dropped else "") + (f", {len(to_render)} new" if to_render else ""))
    return {"plan": dumped, "to_produce": to_render, "results": {"__reset__": True}, "revisions": 0}
