"""Every offline test brief taken through to a gallery plan by the real rules (tools.rules via
agent.planning): what the seller declined is absent, what they asked for is there, channels, counts,
moods and campaign aspect ratios carry through; plan edits by chat change only what they name."""

from __future__ import annotations

import pytest

from agent.offline.intents import parse_plan_edit
from agent.offline.reader import read_brief
from agent.planning import apply_edit, plan_for
from tests.test_brief_offline import CASES
from tools.models import Channel, Product, Role, Slot
from tools.rules import CAMPAIGN_SIZES

WITH_CATEGORY = [(text, expected) for text, expected in CASES if expected.get("category")]


def _plan(ws, text: str):
    brief = read_brief(text)
    product = Product(sku=brief.sku or "SKU-1", category=brief.category, title=brief.title)
    ws.catalog.upsert_product(product)
    return brief, plan_for(ws, product, brief)


def test_most_briefs_name_a_category():
    assert len(WITH_CATEGORY) >= 30


@pytest.mark.parametrize("text", [t for t, _ in WITH_CATEGORY], ids=[f"brief{i:02d}" for i in range(len(WITH_CATEGORY))])
def test_the_plan_follows_the_brief(workspace, text):
    brief, plan = _plan(workspace, text)
    roles = [s.role for s in plan.shots]
    channels = brief.channels or [Channel.amazon]
    primary = Channel.amazon if Channel.amazon in channels else channels[0]

    # declined roles are gone, except the Amazon main image
    for role in brief.exclude_roles:
        if role is Role.packshot and Channel.amazon in channels:
            continue
        assert role not in roles, (role, roles)
    # the main image: a packshot in the grid for the primary channel
    if Role.packshot not in brief.exclude_roles or Channel.amazon in channels:
        main = [s for s in plan.shots if s.slot is Slot.grid]
        assert main and main[0].role is Role.packshot and main[0].channel is primary
    # asked roles are planned (a try-on needs a registered plate, which this catalog has none of)
    for role in brief.roles:
        if role is Role.try_on or role in brief.exclude_roles:
            continue
        if role is Role.on_model and brief.category.value not in ("apparel_top", "apparel_bottom", "dress"):
            continue
        # without a diffusion model a person cannot be drawn: listed as not planned, never a stand-in
        assert role in roles or role in {g.role for g in plan.not_planned}, (role, roles)
    assert Role.try_on not in roles or Role.try_on in brief.roles
    # campaign sizes for every asked aspect ratio
    if Role.campaign not in brief.exclude_roles:
        sizes = {(s.width, s.height) for s in plan.shots if s.role is Role.campaign}
        for aspect in brief.aspect_ratios:
            if aspect in CAMPAIGN_SIZES:
                assert CAMPAIGN_SIZES[aspect] in sizes, (aspect, sizes)
    # channels, counts and mood
    assert all(s.channel in (*channels, None) for s in plan.shots)
    if brief.count:
        assert all(s.count == brief.count for s in plan.shots if s.role is not Role.campaign)
    mood = brief.mood or brief.season
    if mood:
        assert all(mood in s.mood for s in plan.shots if s.role in (Role.lifestyle, Role.campaign))


def test_amazon_main_image_cannot_be_declined(workspace):
    _, plan = _plan(workspace, "gold ring for amazon, no packshot, no white background")
    assert plan.shots[0].role is Role.packshot and plan.shots[0].slot is Slot.grid
    assert any("Amazon" in note for note in plan.notes)


def test_plan_edit_drops_and_adds_only_what_it_names(workspace):
    _, plan = _plan(workspace, "gold ring for etsy, warm mood")
    result = apply_edit(plan, parse_plan_edit("drop the lifestyle, add two 9:16 campaign shots with a winter mood", plan))
    kept = [s for s in plan.shots if s.role is not Role.lifestyle]
    edited = result.plan
    assert edited.shots[:len(kept)] == kept
    added = edited.shots[len(kept):]
    assert [s.id for s in added] == result.to_render and len(added) == 1
    assert all(s.role is Role.campaign and (s.width, s.height) == (1080, 1920) and s.mood == "winter" and s.count == 2
               for s in added)
    assert result.dropped == ["lifestyle"] and "9:16 campaign (2 versions)" in result.summary()


def test_adding_a_shot_the_plan_could_not_make_takes_its_slot_and_leaves_the_missing_list(workspace):
    """"add a try-on" once a model photo exists: the try-on goes where the plan had it (gallery 2, the plan's
    channel), and the advice that it could not be made goes with it (no try-on both made and missing)."""
    _, plan = _plan(workspace, "silver ring for amazon")
    (gap,) = [g for g in plan.not_planned if g.role is Role.try_on]
    result = apply_edit(plan, parse_plan_edit("add a try-on", plan))
    (added,) = [s for s in result.plan.shots if s.id in result.to_render]
    assert added.role is Role.try_on and added.slot is gap.slot is Slot.gallery_2 and added.channel is Channel.amazon
    assert [g.role for g in result.plan.not_planned] == [g.role for g in plan.not_planned if g is not gap]


def test_plan_edit_mood_only_rerenders_the_scenes(workspace):
    _, plan = _plan(workspace, "silver necklace for shopify")
    result = apply_edit(plan, parse_plan_edit("make it more wintry and cosy instead", plan))
    rerendered = [s for s in result.plan.shots if s.id in result.to_render]
    assert rerendered and all(s.role in (Role.lifestyle, Role.campaign) for s in rerendered)
    assert all("cosy" in s.mood and "winter" in s.mood for s in rerendered)
    assert [s for s in result.plan.shots if s.role is Role.packshot] == [s for s in plan.shots if s.role is Role.packshot]
    assert len(result.replaced) == len(rerendered)


def test_a_banner_is_added_beside_the_stories_shot_and_no_9_16_removes_it(workspace):
    _, plan = _plan(workspace, "gold ring for etsy, instagram stories")
    stories = [s for s in plan.shots if s.options.get("aspect") == "9:16"]
    result = apply_edit(plan, parse_plan_edit("add a 16:9 banner", plan))
    assert [s.options.get("aspect") for s in result.plan.shots if s.id in result.to_render] == ["16:9"]
    assert all(s in result.plan.shots for s in stories)
    result = apply_edit(result.plan, parse_plan_edit("no 9:16", result.plan))
    assert not [s for s in result.plan.shots if s.options.get("aspect") == "9:16"] and result.to_render == []
    assert result.dropped == ["9:16 campaign"]


def test_campaign_variants_by_chat_add_one_shot_per_aspect(workspace):
    from langgraph.runtime import Runtime

    from agent.context import StudioContext
    from agent.planning import edit_plan

    _, plan = _plan(workspace, "gold ring for etsy, no campaign")
    update = edit_plan({"text": "make campaign variants for spring in 4:5 and 9:16", "intent": "campaign",
                        "plan": plan.model_dump(mode="json"), "sku": plan.sku},
                       Runtime(context=StudioContext(ws=workspace)))
    added = [s for s in update["plan"]["shots"] if s["id"] in update["to_produce"]]
    assert [(s["role"], s["width"], s["height"], s["mood"]) for s in added] == [
        ("campaign", 1080, 1350, "spring"), ("campaign", 1080, 1920, "spring")]
    assert workspace.catalog.latest_plan(plan.sku).version == 1 and update["plan"]["version"] == 1
