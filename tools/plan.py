"""Planning, in one place for every face (the agent's nodes, the CLI's gallery, the batch runner): the
gallery plan from the rules and the registered plates, chat edits of a plan (`PlanEdit`: add, drop and
re-style shots), and re-planning from change notes a person wrote in the review.

The words are read elsewhere (agent.offline); this module gets typed edits and decisions and returns
plans. Counts are decided here once: a shot asked for with a count renders that many candidates, a shot
asked for without one renders as many as the plan's other shots.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from pydantic import Field

from tools.errors import BadInput
from tools.models import Brief, Channel, Decision, GalleryPlan, Model, Product, Role, Shot, Slot, new_id
from tools.workspace import Workspace

LONG_SIDE = 1920
SQUARE_SIDE = 1600
MOOD_ROLES = (Role.lifestyle, Role.campaign, Role.try_on, Role.on_model)  # shots whose scene carries a mood
LOOK_ROLES = (Role.lifestyle, Role.campaign, Role.on_model, Role.model_swap)  # shots whose set a look change alters


class ShotRef(Model):
    """Which shots of a plan a message points at: a role, and for campaign shots maybe one format."""

    role: Role
    aspect: str | None = None

    def matches(self, shot: Shot) -> bool:
        return shot.role is self.role and (self.aspect is None or shot_aspect(shot) == self.aspect)

    def label(self) -> str:
        return f"{self.aspect} {self.role.value}" if self.aspect else self.role.value.replace("_", "-")


class ShotAdd(Model):
    role: Role
    aspect: str | None = None
    count: int | None = Field(default=None, ge=1, le=12, description="candidates; None = as many as the plan's others")
    mood: str = ""


class PlanEdit(Model):
    """A change of the plan asked for in words ("drop the lifestyle, add two 9:16 campaign shots")."""

    drop: list[ShotRef] = Field(default_factory=list)
    add: list[ShotAdd] = Field(default_factory=list)
    restyle: list[ShotRef] = Field(default_factory=list, description="existing shots to render again in the edit's "
                                   "mood or with its count")
    keep: list[ShotRef] = Field(default_factory=list, description="shots a 'drop the rest' must not drop")
    drop_rest_of: list[Role] = Field(default_factory=list, description="'drop the rest of the campaign': every shot "
                                     "of the role not in `keep`")
    mood: str = ""
    count: int | None = Field(default=None, ge=1, le=12)
    changes: list[str] = Field(default_factory=list, description="change requests (tools.looks names: darker, "
                               "more_space, ...) for the re-styled shots")
    look: dict = Field(default_factory=dict, description="look parameters asked for by name, e.g. surfaces")

    @property
    def empty(self) -> bool:
        return not (self.drop or self.add or self.restyle or self.drop_rest_of or self.mood or self.changes
                    or self.look)


class EditResult(Model):
    plan: GalleryPlan
    to_render: list[str] = Field(default_factory=list, description="ids of the new shots to render")
    added: list[str] = Field(default_factory=list)
    dropped: list[str] = Field(default_factory=list)
    replaced: dict[str, str] = Field(default_factory=dict, description="old shot id -> the new shot that replaces it")
    notes: list[str] = Field(default_factory=list)

    def summary(self) -> str:
        """What the edit did, in words the seller reads."""
        parts = []
        if self.dropped:
            parts.append("removed " + ", ".join(self.dropped))
        if self.added:
            parts.append("added " + ", ".join(self.added))
        if self.replaced:
            parts.append(f"re-planned {len(self.replaced)} shot(s) to render again")
        return "; ".join(parts + self.notes) or "nothing changed"


def shot_aspect(shot: Shot) -> str:
    return shot.options.get("aspect") or shot.aspect


def shot_label(shot: Shot) -> str:
    return f"{shot_aspect(shot)} {shot.role.value}" if shot.role is Role.campaign else shot.role.value.replace("_", "-")


def size_for_aspect(aspect: str) -> tuple[int, int]:
    """Pixel size of a campaign shot for an aspect ratio like '9:16' (the channel rules' sizes, else long side 1920)."""
    from tools.rules import CAMPAIGN_SIZES

    if aspect in CAMPAIGN_SIZES:
        return CAMPAIGN_SIZES[aspect]
    m = re.fullmatch(r"\s*(\d{1,2}(?:\.\d{1,2})?)\s*:\s*(\d{1,2})\s*", aspect or "")
    if not m or float(m.group(1)) == 0 or int(m.group(2)) == 0:
        raise BadInput(f"aspect ratio {aspect!r} is not like 9:16")
    a, b = float(m.group(1)), int(m.group(2))
    if a == b:
        return SQUARE_SIDE, SQUARE_SIDE
    if a > b:
        return LONG_SIDE, round(LONG_SIDE * b / a)
    return round(LONG_SIDE * a / b), LONG_SIDE


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


def plan_with_plates(ws: Workspace, product: Product, brief: Brief, channels=(), engine: str | None = None
                     ) -> GalleryPlan:
    """tools.rules.plan_gallery knowing the registered plates, whether their talent consents to the main
    channel, and whether a diffusion model can render the on-model shots (`engine`, default the settings'),
    with the brief as the rules see it (`brief_for_rules`)."""
    from tools.diffusion_render import diffusion_ready
    from tools.models import normalize_channel
    from tools.plates import plate_refusal
    from tools.rules import plan_gallery, primary_channel

    brief, notes = brief_for_rules(brief)
    chans = [normalize_channel(c) for c in channels] or list(brief.channels)
    plates = ws.catalog.plates()
    primary = primary_channel(chans)
    consents = {p.id: plate_refusal(ws, p, primary) for p in plates}
    main_photo = next((p for p in ws.catalog.photos(product.sku) if p.cutout_asset_id), None)
    gallery = plan_gallery(product, brief, chans, plates=plates, consents=consents,
                           diffusion=diffusion_ready(ws.settings, engine),
                           photo_size=(main_photo.width, main_photo.height) if main_photo else None)
    return gallery.model_copy(update={"notes": [*gallery.notes, *notes]})


def _required(plan: GalleryPlan, shot: Shot) -> str | None:
    """Why a shot cannot be dropped (a channel requires it), or None."""
    if shot.role is Role.packshot and shot.slot is Slot.grid and Channel.amazon in plan.channels:
        return "kept the Amazon main image: Amazon requires the product alone on white"
    return None


def _changed_look(shot: Shot, edit: PlanEdit, result: EditResult) -> dict:
    """The options of a re-styled shot: its look with the edit's change requests and named parameters applied
    (tools.looks), so the re-render differs as asked; a change the shot's role cannot take is said in the notes."""
    options = dict(shot.options)
    if not (edit.changes or edit.look):
        return options
    if shot.role not in LOOK_ROLES:  # a try-on's new mood (apply_edit keeps the others as they are)
        return options
    from tools.looks import apply_changes, look_for

    if edit.mood:
        options.pop("look", None)
    base = look_for(edit.mood or shot.mood, options.get("brand_colors", ()), options)
    base.pop("mood", None)
    base.pop("auto_lightness", None)
    options["look"] = apply_changes(base, edit.changes) | edit.look
    options.pop("change", None)  # nothing rendered to measure against: the look itself carries the request
    return options


def _unchangeable(shot: Shot, edit: PlanEdit) -> str:
    """Why a re-style cannot alter this shot (tools.looks.unchangeable), "" when it can or when it only asks
    for another number of candidates."""
    from tools.looks import limit_refusal, previous_look, unchangeable

    if edit.count and edit.count != shot.count:
        return ""
    surfaces = edit.look.get("surfaces") or []
    other = f"another surface ({', '.join(surfaces)})" if surfaces else "another look" if edit.look else ""
    cannot = unchangeable(shot.role.value, edit.changes, edit.mood, other)
    if cannot or edit.mood or edit.look or not edit.changes or shot.role not in LOOK_ROLES:
        return cannot
    return limit_refusal(shot.role.value, previous_look(shot), edit.changes)


def usable_plate_ids(ws: Workspace, product: Product) -> Callable[[Channel | None], list[str]]:
    """For apply_edit: the ids of the model photos a try-on of `product` may use on a channel (consent holds)."""
    from tools.plates import usable_plates
    from tools.rules import PLATE_KIND

    kind = PLATE_KIND.get(product.category)

    def usable(channel: Channel | None) -> list[str]:
        return [plate.id for plate in usable_plates(ws, kind, channel)] if kind else []

    return usable


def apply_edit(plan: GalleryPlan, edit: PlanEdit, default_count: int | None = None,
               try_on_plates: Callable[[Channel | None], list[str]] | None = None) -> EditResult:
    """Apply a chat edit to a plan: drop, then re-style, then add. Returns the new plan, the shots to render
    and what changed (nothing is dropped or replaced without being listed). `try_on_plates(channel)`: the model
    photos a try-on added for that channel may use; it gets one version per photo, as the rules plan it."""
    # 1. Check inputs
    if edit.empty:
        raise BadInput("the edit changes nothing; say which shots to add, remove or change")
    default = edit.count or default_count or (plan.shots[0].count if plan.shots else 2)
    result = EditResult(plan=plan)
    shots = list(plan.shots)

    # 2. Drop what was declined ("no 9:16", "drop the lifestyle", "drop the rest of the campaign")
    def dropping(shot: Shot) -> bool:
        if any(ref.matches(shot) for ref in edit.drop):
            return True
        return shot.role in edit.drop_rest_of and not any(ref.matches(shot) for ref in edit.keep)

    kept = []
    for shot in shots:
        if dropping(shot):
            reason = _required(plan, shot)
            if reason:
                result.notes.append(reason)
                kept.append(shot)
                continue
            result.dropped.append(shot_label(shot))
            continue
        kept.append(shot)
    shots = kept

    # 3. Re-style: the shots pointed at (or, for a mood alone, every shot that carries a mood; for a change of
    # the look alone, every scene) render again as new shots, their look changed as asked
    targets = edit.restyle or ([ShotRef(role=r) for r in MOOD_ROLES] if edit.mood and not edit.add else [])
    if not targets and (edit.changes or edit.look) and not edit.add:
        targets = [ShotRef(role=r) for r in LOOK_ROLES]
    restyled = []
    for shot in shots:
        cannot = _unchangeable(shot, edit) if any(ref.matches(shot) for ref in targets) else ""
        if cannot:  # the same picture would come back: said, and the shot stays as it is
            result.notes.append(cannot)
            restyled.append(shot)
        elif any(ref.matches(shot) for ref in targets):
            fresh = shot.model_copy(update={"id": new_id("shot"), "mood": edit.mood or shot.mood,
                                            "count": edit.count or shot.count,
                                            "options": _changed_look(shot, edit, result)})
            result.replaced[shot.id] = fresh.id
            result.to_render.append(fresh.id)
            restyled.append(fresh)
        else:
            restyled.append(shot)
    shots = restyled

    # 4. Add the new shots; one the plan could not make before ("add a try-on" once a model photo is stored)
    #    takes the slot and channel it was planned for, and leaves the list of what could not be made
    gaps = list(plan.not_planned)
    for add in edit.add:
        count = add.count or default
        mood = add.mood or edit.mood
        if add.role is Role.campaign:
            shot = campaign_shot(add.aspect or "1:1", mood, count)
        else:
            template = next((s for s in plan.shots if s.role is add.role), None)
            gap = next((g for g in gaps if g.role is add.role), None) if template is None else None
            if gap is not None:
                gaps.remove(gap)
            if add.aspect:
                width, height = size_for_aspect(add.aspect)
            elif template is not None:
                width, height = template.width, template.height
            else:
                width, height = SQUARE_SIDE, SQUARE_SIDE
            slot = template.slot if template else gap.slot if gap else Slot.gallery_3
            channel = template.channel if template else gap.channel if gap and gap.channel else (
                plan.channels[0] if plan.channels else None)
            # a new shot has nothing to verify against: the template's change record stays behind
            options = {k: v for k, v in template.options.items() if k != "change"} if template else {}
            plates = try_on_plates(channel) if add.role is Role.try_on and template is None and try_on_plates else []
            if plates:  # one version per model photo (versions on one photo differ only in their shadow)
                count = min(count, len(plates))
                options = {**options, "plate_id": plates[0], "plate_ids": plates[:count]}
            shot = Shot(role=add.role, slot=slot, channel=channel,
                        width=width, height=height, scene=template.scene if template else f"{add.role.value} as asked",
                        mood=mood, count=count, options=options)
        shots.append(shot)
        result.to_render.append(shot.id)
        result.added.append(f"{shot_label(shot)} ({count} version{'s' if count != 1 else ''})")
    if not shots:
        raise BadInput("that would leave the plan empty; keep at least one shot")
    result.plan = plan.model_copy(update={"shots": shots, "not_planned": gaps})
    return result


def replan_from_changes(plan: GalleryPlan, changes: list[Decision], candidate_shots: dict[str, str],
                        read_mood=None, previous_params: dict[str, dict] | None = None
                        ) -> tuple[GalleryPlan, list[str], dict[str, str]]:
    """Change decisions from the review: one new shot per changed shot (the first request per shot), its look
    changed by the person's words (tools.looks.changed_shot: the `change` option says what to verify against
    which candidate). A request that names no change and no mood leaves its shot as it is. Returns the plan,
    the new shot ids and old shot id -> new shot id."""
    from tools.looks import changed_shot

    first_by_shot: dict[str, Decision] = {}
    for decision in changes:
        if decision.action != "change":
            raise BadInput(f"decision {decision.action!r} is not a change request")
        first_by_shot.setdefault(candidate_shots[decision.candidate_id], decision)
    shots, to_render, replaced = [], [], {}
    for shot in plan.shots:
        decision = first_by_shot.get(shot.id)
        fresh = None
        if decision is not None:
            mood = read_mood(decision.note) if read_mood else ""
            fresh, _ = changed_shot(shot, decision.note, mood, decision.candidate_id,
                                    (previous_params or {}).get(decision.candidate_id))
        if fresh is None:
            shots.append(shot)
            continue
        shots.append(fresh)
        to_render.append(fresh.id)
        replaced[shot.id] = fresh.id
    return plan.model_copy(update={"shots": shots}), to_render, replaced
