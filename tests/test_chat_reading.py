"""The offline reader on everyday chat: typo correction with a distance bound, negation scope, the
"only" scope, the count grammar, products outside the category list, UK half sizes, second lengths,
intent by what a message asks (not its punctuation), edits that mean what they say, and a plan edit
typed while a review waits (the waiting candidates stay, the reply says what changed). The message set
itself (tests/data/chat_messages.jsonl) is measured by benchmarks/bench_agent.py."""

from __future__ import annotations

import pytest

from agent.offline.intents import classify_intent, parse_plan_edit, parse_question, parse_review_words
from agent.offline.reader import read_brief
from agent.offline.words import correct_word, edit_distance, find_counts, negated, normalize
from benchmarks.bench_agent import base_plans, check_message, load_messages
from tools.models import Category, Channel, Role
from tools.plan import apply_edit


def test_the_message_set_is_large_and_covers_every_group():
    rows = load_messages()
    assert len(rows) >= 100
    assert {r["group"] for r in rows} == {"seller", "marketing", "support"}
    assert {r["split"] for r in rows} == {"rules", "confirm"}
    # every expectation is checkable: each row yields at least one field
    plans = base_plans()
    assert all(check_message(r, plans) for r in rows[:12])


@pytest.mark.parametrize("typed,meant", [
    ("braclet", "bracelet"), ("shopfy", "shopify"), ("necklce", "necklace"), ("earings", "earrings"),
    ("amzn", "amazon"), ("lipgloss", "lip gloss"), ("w/o", "without"),
])
def test_typos_and_abbreviations_are_corrected(typed, meant):
    assert correct_word(typed) == meant


@pytest.mark.parametrize("word", ["ring", "rings", "short", "note", "tote", "shots", "stone", "bright", "drop"])
def test_ordinary_and_short_words_are_not_corrected(word):
    assert correct_word(word) == word


def test_edit_distance_is_bounded():
    assert edit_distance("braclet", "bracelet", 1) == 1
    assert edit_distance("abc", "xyz123", 1) == 2  # over the bound: bound + 1
    assert edit_distance("bracelte", "bracelet", 1) == 1  # two neighbours swapped


def test_negation_scope_ends_at_the_clause():
    low = normalize("no 9:16 this time, just 4:5 for the campaign").lower()
    assert negated(low, low.index("9:16")) and not negated(low, low.index("4:5"))
    low = "hoodie for our new drop friday, streetwear vibe, shopify"
    assert not negated(low, low.index("shopify")) and not negated(low, low.index("friday"))


def test_not_for_a_channel_leaves_it_out():
    assert read_brief("not for ebay, just amazon. gold hoops").channels == [Channel.amazon]
    assert read_brief("bracelet for amazon - not etsy this time").channels == [Channel.amazon]


def test_only_scope_keeps_the_photos_the_seller_has_apart_from_what_they_want():
    brief = read_brief("we only have flat lays, can you do model shots? linen shirt for zalando")
    assert brief.roles == [Role.on_model] and brief.exclude_roles == []
    brief = read_brief("just white bg + on the ear. silver studs")
    assert set(brief.roles) == {Role.packshot, Role.try_on} and Role.detail in brief.exclude_roles


@pytest.mark.parametrize("text,count,campaign", [
    ("pendant necklace x2 each shot", 2, None), ("three of each pls, sneakers", 3, None),
    ("knit beanie, six variations", 6, None), ("backpack, maybe 4 takes", 4, None),
    ("set of 4 slate coasters", None, None), ("pls do 2 campaign images in 1.91:1, gold ring", None, 2),
    ("silk scarf 90x90 cm", None, None), ("maxi dress 5 versions each", 5, None),
])
def test_counts_in_every_common_form(text, count, campaign):
    brief = read_brief(text)
    assert (brief.count, brief.campaign_count) == (count, campaign)


def test_a_count_is_read_once_for_a_plan_edit_too():
    assert [c.value for c in find_counts("add two 9:16 campaign shots")] == [2]
    assert find_counts("ring size 7, 18k gold, 45 cm, RING-204") == ()


def test_products_outside_the_list_are_other_with_their_noun():
    for text, noun in [("hand poured soy candle for etsy", "candle"), ("vintage enamel brooch", "brooch"),
                       ("set of 4 slate coasters", "coasters"), ("silk scarf, luxe feel", "scarf")]:
        brief = read_brief(text)
        assert (brief.category, brief.product_type) == (Category.other, noun)
    assert read_brief("silk scarf, luxe feel").mood == "luxury"


def test_seasons_half_sizes_and_second_lengths():
    assert read_brief("halloween earrings").season == "halloween"
    assert read_brief("fathers day gift: leather wallet").season == "father's day"
    assert read_brief("engagement ring uk size L½ platinum").dimensions.inner_diameter_mm == pytest.approx(16.71)
    brief = read_brief("jeans, waist 32 in inseam 30 in, zalando")
    assert brief.dimensions.width_mm == pytest.approx(812.8) and "inseam 762 mm" in brief.notes


@pytest.mark.parametrize("text,has_plan,intent", [
    ("can you do a close up of the clasp too?", True, "change_plan"),
    ("RING-204 coverage pls", False, "question"),
    ("whats left to shoot for BR-88", False, "question"),
    ("what does NK-12 still need before we can publish on ebay", False, "question"),
    ("dont publish yet, what's still missing for RING-9?", True, "question"),
    ("can you publish the ring on etsy?", True, "publish"),
    ("we're planning a product drop next week, what does RING-204 still need?", True, "question"),
])
def test_intent_is_what_the_message_asks_not_its_punctuation(text, has_plan, intent):
    assert classify_intent(text, has_plan=has_plan) == intent
    if intent == "question":
        assert parse_question(text).kind == "missing"


def test_edits_mean_what_they_say():
    plans = base_plans()
    plan = plans["plan"]
    result = apply_edit(plan, parse_plan_edit("add a 16:9 banner", plan))
    added = [s for s in result.plan.shots if s.id in result.to_render]
    assert [(s.role, s.options["aspect"], s.count) for s in added] == [(Role.campaign, "16:9", 2)]
    assert all(s in result.plan.shots for s in plan.shots)  # nothing else changed
    plan2 = plans["plan2"]
    result = apply_edit(plan2, parse_plan_edit("no 9:16", plan2))
    assert result.dropped == ["9:16 campaign"] and result.to_render == []
    result = apply_edit(plan, parse_plan_edit("cut the packshot for now", plan))
    assert any("Amazon" in n for n in result.notes) and result.plan.shots == plan.shots


def test_review_words_respect_negation():
    ids = ["cand_a", "cand_b"]
    words = parse_review_words("dont approve anything yet, make the campaign warmer", ids, {"campaign": ["cand_b"]})
    assert not words.approve_passing and words.change == {"cand_b": "dont approve anything yet, make the campaign warmer"}
    assert parse_review_words("lgtm", ids).approve_passing


@pytest.mark.slow
def test_a_plan_edit_during_review_keeps_the_waiting_candidates(tmp_path):
    from agent.runner import StudioAgent
    from tools.demo import demo_photo_bytes
    from tools.settings import Settings
    from tools.workspace import Workspace

    ws = Workspace.open(Settings.from_env({}, home=tmp_path / "home", max_rerenders=0))
    photo = tmp_path / "ring.jpg"
    photo.write_bytes(demo_photo_bytes("DEMO-RING", size=500))
    agent = StudioAgent(ws)
    list(agent.send("t", "ring for etsy, 1 variant each, no lifestyle, no campaign, no try-on", images=[photo],
                    sku="RING-E"))
    waiting = {c["id"] for c in agent.pending_review("t")["candidates"]}
    events = list(agent.send("t", "add a 16:9 banner"))
    replies = " ".join(e["text"] for e in events if e["type"] == "reply")
    assert "16:9 campaign" in replies and "stay in it" in replies
    review = agent.pending_review("t")
    shown = {c["id"] for c in review["candidates"]}
    assert waiting <= shown and len(shown) == len(waiting) + 1
    assert {c["role"] for c in review["candidates"] if c["id"] not in waiting} == {"campaign"}
    ws.close()


def test_a_change_request_is_handed_to_the_renderer_as_words(tmp_path):
    from tools.models import Decision
    from tools.plan import replan_from_changes

    plan = base_plans()["plan"]
    lifestyle = next(s for s in plan.shots if s.role is Role.lifestyle)
    decision = Decision(candidate_id="cand_1", action="change", note="make the background darker")
    new_plan, to_render, replaced = replan_from_changes(plan, [decision], {"cand_1": lifestyle.id})
    fresh = new_plan.shot(to_render[0])
    assert fresh.options["change"]["text"] == "make the background darker" and fresh.options["change"]["changes"]
    assert fresh.options["change"]["from"] == "cand_1" and replaced == {lifestyle.id: fresh.id}
    assert fresh.options["look"] != lifestyle.options.get("look")


def test_one_short_question_when_two_intents_are_close(tmp_path):
    from langgraph.runtime import Runtime

    from agent.context import StudioContext
    from agent.graph import route_after_understand
    from agent.intake import understand
    from tools.settings import Settings
    from tools.workspace import Workspace

    ws = Workspace.open(Settings.from_env({}, home=tmp_path / "home"))
    update = understand({"text": "the ring please", "plan": {"shots": []}}, Runtime(context=StudioContext(ws=ws)))
    if update["intent"] != "clarify":
        pytest.skip("the MiniLM model is not installed: the rules decide alone")
    assert update["answer"].startswith("Do you want me to") and update["answer"].count("?") == 1
    assert route_after_understand(update) == "reply"
    ws.close()
