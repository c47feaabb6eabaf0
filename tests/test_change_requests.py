"""Moods and change requests change the picture, measurably: the vocabulary in prompts/scenes/looks.toml read
into render parameters, each mood's backdrop measured, each change request measured against the previous
render, and a change request typed during a review re-rendered through the graph with an honest reply."""

from __future__ import annotations

import functools
from contextlib import contextmanager

import pytest
from PIL import Image

from pipelines import scene_metrics, studio
from tools import looks
from tools.demo import demo_cutout as _draw


@functools.cache
def _cutout(sku: str) -> Image.Image:
    return _draw(sku, 400)


def _render(look: dict, sku: str = "DEMO-RING", index: int = 0, pose: str = "standing"):
    result = studio.backdrop(_cutout(sku).copy(), 800, 800, look=dict(look), index=index, pose=pose)
    p = result.placed
    return result.image, (p.x, p.y, p.width, p.height)


def _plain(mood: str) -> dict:
    look = looks.look_for(mood)
    look.pop("mood")
    look.pop("auto_lightness")
    return look


def test_every_table_uses_only_known_parameters_and_metrics():
    vocab = looks.vocabulary()
    for name, table in [("default", vocab["default"]), *vocab["mood"].items()]:
        assert set(table) - {"words"} <= set(looks.PARAMETERS), name
    for name, change in vocab["change"].items():
        assert set(change) <= {"words", "done", "set", "add", "measure", "expect"} and change["done"], name
        assert set(change.get("set", {})) | set(change.get("add", {})) <= set(looks.PARAMETERS), name
        assert change["measure"] in looks.METRICS and change["expect"] != 0, name


def test_words_are_read_into_moods_and_changes():
    assert looks.mood_key("luxury, moody") == "dark"
    assert looks.mood_key("bright summer") == "bright"
    assert looks.mood_key("cosy christmas") == "holiday"
    assert looks.mood_key("minimal") == "minimal" and looks.mood_key("") is None
    assert looks.read_change("make the background darker and give it a softer shadow").changes == ["darker",
                                                                                                    "softer_shadow"]
    assert looks.read_change("a bit more space around it please").changes == ["more_space"]
    assert looks.read_change("no reflection, and bigger").changes == ["no_reflection", "bigger"]
    assert looks.read_change("drop the reflection on the lifestyle").changes == ["no_reflection"]
    assert looks.read_change("try another backdrop").changes == ["another_backdrop"]
    assert not looks.read_change("make it pop").understood
    assert looks.look_for("", ["#102030"])["palette"] == ["#102030"]  # brand colours from the brief


@pytest.mark.parametrize(("mood", "low", "high"), [("dark luxury", 0, 35), ("moody", 0, 35), ("bright summer", 80, 100),
                                                    ("playful", 80, 100), ("minimal", 80, 100)])
def test_mood_gives_the_measured_backdrop(mood, low, high):
    for sku, pose in (("DEMO-RING", "standing"), ("DEMO-NECKLACE", "flat")):
        image, box = _render(_plain(mood), sku, pose=pose)
        lightness = scene_metrics.backdrop_lab(image, box)[0]
        assert low <= lightness <= high, (mood, sku, lightness)


def test_holiday_is_seasonal_colour_with_lights_and_dark_is_one_hard_key():
    image, box = _render(_plain("christmas"))
    _, a, b = scene_metrics.backdrop_lab(image, box)
    assert (a * a + b * b) ** 0.5 > 12  # a coloured (red / green / night blue) set, not a neutral one
    plain = dict(_plain("christmas"), bokeh=0.0)
    assert scene_metrics.image_distance(image, _render(plain)[0]) > 0.05  # the lights are visible
    dark = _plain("luxury")
    assert dark["key"] == "hard" and dark["riser"] and dark["shadow_softness"] < 0.3


@pytest.mark.parametrize("change", ["darker", "lighter", "warmer", "cooler", "more_space", "bigger", "smaller",
                                    "softer_shadow", "no_reflection", "another_backdrop"])
def test_each_change_request_changes_the_render_measurably(change):
    base = _plain({"darker": "", "lighter": "luxury", "softer_shadow": "luxury", "no_reflection": "luxury"}.get(change, ""))
    before, before_box = _render(base)
    after, after_box = _render(looks.apply_changes(base, [change]))
    [result] = looks.verify_change(before, before_box, after, after_box, [change])
    assert result["ok"], result


def test_a_change_that_did_not_happen_is_said_plainly():
    base = _plain("")
    image, box = _render(base)
    results = [looks.verify_change(image, box, image, box, ["darker"])]
    reply = looks.change_reply("lifestyle", looks.read_change("darker please"), results)
    assert reply.startswith('The lifestyle scene did NOT change enough for "darker" (background lightness')
    assert reply.endswith("): the new image is not what you asked for yet.")
    unclear = looks.change_reply("lifestyle", looks.read_change("make it pop"), [])
    assert unclear.startswith("I made the lifestyle scene again, but I did not find a change I can make in")
    assert "darker" in unclear


def test_a_change_reply_reads_as_sentences_about_the_shot():
    """No internal role name as a heading ("The lifestyle: ..."): the shot in the seller's words, a sentence
    per change, what was measured in brackets."""
    row = {"change": "warmer", "before": 4.0, "after": 12.0, "ok": True, "says": "background warmth +4 -> +12"}
    reply = looks.change_reply("lifestyle", looks.read_change("warmer"), [[row]])
    assert reply == "The lifestyle scene is warmer now (background warmth +4 -> +12)."
    space = {"change": "more_space", "before": 0.5, "after": 0.48, "ok": False, "says": "product 50% -> 48% of the frame"}
    reply = looks.change_reply("campaign", looks.read_change("warmer, more space"), [[row, space]],
                               label="9:16 campaign image")
    assert reply == ("The 9:16 campaign image is warmer now (background warmth +4 -> +12). The 9:16 campaign image "
                     'did NOT change enough for "more space" (product 50% -> 48% of the frame): the new image is not '
                     "what you asked for yet.")
    bigger = {"change": "bigger", "before": 0.5, "after": 0.5, "ok": False, "says": "product 50% -> 50% of the frame"}
    reply = looks.change_reply("lifestyle", looks.read_change("bigger"), [[bigger]],
                               reasons={"bigger": "the photo is too small to show the product larger."})
    assert reply == ('The lifestyle scene did NOT change enough for "bigger" (product 50% -> 50% of the frame): the '
                     "photo is too small to show the product larger.")


def test_a_change_already_at_its_limit_is_known_before_rendering():
    """"Warmer" adds 0.6 warmth up to the limit of 1: on a set rendered at 1 it cannot move the picture (a
    re-render would be the same), at 0.7 it is held back; each is rendered and measured to show it."""
    warm = _plain("warm")
    once = looks.apply_changes(warm, ["warmer"])
    assert once["warmth"] == 1.0 and looks.limited(warm, ["warmer"]) == ["warmer"]
    assert looks.at_limit(warm, ["warmer"]) == []  # warmth 0.7 -> 1 (and the palette as written): it moves
    assert looks.at_limit(once, ["warmer", "darker"]) == ["warmer"]  # darker still moves the set
    before, before_box = _render(once)
    after, after_box = _render(looks.apply_changes(once, ["warmer"]))
    [result] = looks.verify_change(before, before_box, after, after_box, ["warmer"])
    assert not result["ok"] and result["delta"] == 0  # the same picture: why it is not rendered again
    held = looks.change_reply("lifestyle", looks.read_change("warmer"), [[result]], held=["warmer"])
    assert held.endswith("its set reached the limit of that change, so this is as far as it goes.")


def test_a_change_asked_of_an_image_on_the_sellers_own_set_is_refused_with_why():
    """The seller's set photo is never recoloured and the product stands at its true size: "darker", "bigger" or
    a new mood cannot alter such an image, so it is not made again and the reply says why and what to do."""
    from tools.models import Role, Shot, Slot

    shot = Shot(role=Role.lifestyle, slot=Slot.hero, width=1000, height=1000, count=1)
    on_set = {"scene_plate": True, "variant": 0, "true_scale": True}
    said = looks.change_refusal(shot, "make it darker and bigger", "", on_set)
    assert said.startswith("The lifestyle scene stands on your own set photo, which I never recolour")
    assert '"darker" or "bigger"' in said and "Your own sets for scenes" in said
    assert "holiday mood" in looks.change_refusal(shot, "christmas", "holiday", on_set)
    assert looks.change_refusal(shot, "make it darker", "", {"warmth": 0.2}) == ""  # a built set takes it
    assert looks.change_refusal(shot, "looks great", "", on_set) == ""  # nothing asked: nothing refused


def test_candidates_of_one_shot_differ_visibly():
    look = _plain("")
    first, second = _render(look, index=0)[0], _render(look, index=1)[0]
    assert scene_metrics.image_distance(first, second) > 0.25
    # the same picture resampled is a near duplicate
    assert scene_metrics.image_distance(first, first.resize((600, 600))) < scene_metrics.NEAR_DUPLICATE


def test_a_change_request_in_the_chat_reaches_the_renderer_and_is_measured(tmp_path):
    with _ring_in_review(tmp_path, "RING-CH") as (ws, agent):
        first = agent.pending_review("t1")["candidates"]
        hero = [c for c in first if c["role"] == "lifestyle"][0]

        # 1. Words the renderer does not know: said so, nothing re-rendered, the review stays open
        events = list(agent.send("t1", "make the lifestyle pop"))
        replies = " ".join(e["text"] for e in events if e["type"] == "reply")
        assert "did not understand" in replies
        assert [c["id"] for c in agent.pending_review("t1")["candidates"]] == [c["id"] for c in first]

        # 2. "darker": the lifestyle is re-rendered and its backdrop measured against the previous one
        events = list(agent.send("t1", "make the lifestyle background darker"))
        replies = " ".join(e["text"] for e in events if e["type"] == "reply")
        waiting = agent.pending_review("t1")["candidates"]
        second = [c for c in waiting if c["role"] == "lifestyle"]
        assert len(second) == len([c for c in first if c["role"] == "lifestyle"]) and hero["id"] not in {
            c["id"] for c in second}
        # the main image nobody decided on yet stays in the review beside the re-made scene
        assert [c["id"] for c in waiting if c["role"] != "lifestyle"] == [c["id"] for c in first
                                                                          if c["role"] != "lifestyle"]
        before = ws.catalog.get_candidate(hero["id"])
        after = ws.catalog.get_candidate(second[0]["id"])
        lum_before = scene_metrics.backdrop_lab(Image.open(hero["path"]), _box(before.placement))[0]
        lum_after = scene_metrics.backdrop_lab(Image.open(second[0]["path"]), _box(after.placement))[0]
        assert lum_after <= lum_before - 15
        assert "The lifestyle scene is darker now (" in replies and f"{lum_before:.0f} -> {lum_after:.0f}" in replies
        assert second[0]["change"][0]["ok"] and second[0]["verdict"] == "pass"

        # 3. After the review, a change request re-plans the scene from its latest render and measures it
        list(agent.send("t1", "approve all"))
        assert agent.pending_review("t1") is None
        events = list(agent.send("t1", "make the lifestyle lighter"))
        replies = " ".join(e["text"] for e in events if e["type"] == "reply")
        third = agent.pending_review("t1")["candidates"]
        assert [c["role"] for c in third] == ["lifestyle"] and "The lifestyle scene is lighter now (" in replies
        assert third[0]["change"][0]["delta"] >= 15


def test_warmer_again_and_again_warms_until_it_cannot_and_then_says_so(tmp_path):
    """Each "warmer" starts from what the previous image was rendered with: the scene warms measurably while
    the set can go further, and once it is at the limit the reply says so and nothing is made again."""
    with _ring_in_review(tmp_path, "RING-WW") as (ws, agent):
        scene = next(c for c in agent.pending_review("t1")["candidates"] if c["role"] == "lifestyle")
        warmth = [ws.catalog.get_candidate(scene["id"]).params["warmth"]]
        for _ in range(4):
            events = list(agent.resume("t1", [{"candidate_id": scene["id"], "action": "change", "note": "warmer"}]))
            said = " ".join(e["text"] for e in events if e["type"] == "reply")
            new = next(c for c in agent.pending_review("t1")["candidates"] if c["role"] == "lifestyle")
            if new["id"] == scene["id"]:  # not made again: the reply says it cannot go further
                assert said.startswith('The lifestyle scene can\'t go further with "warmer": its set is already '
                                       "at the limit"), said
                assert ws.catalog.latest_decision(scene["id"]) is None
                break
            assert new["change"][0]["ok"], new["change"]  # measurably warmer than the image it replaces
            assert said.startswith("The lifestyle scene is warmer now (background warmth "), said
            scene = new
            warmth.append(ws.catalog.get_candidate(scene["id"]).params["warmth"])
        else:
            raise AssertionError(f"warmer never reached its limit: {warmth}")
        assert warmth[-1] == 1.0 and warmth == sorted(warmth) and len(warmth) >= 2


@contextmanager
def _ring_in_review(tmp_path, sku: str):
    """(workspace, agent) with a ring's main image and lifestyle scene waiting for review in thread "t1"."""
    from agent.runner import StudioAgent
    from tools.demo import demo_photo_bytes
    from tools.settings import Settings
    from tools.workspace import Workspace

    photo = tmp_path / "ring.jpg"
    photo.write_bytes(demo_photo_bytes("DEMO-RING", size=500))
    ws = Workspace.open(Settings.from_env({}, home=tmp_path / "home", max_rerenders=0))
    try:
        agent = StudioAgent(ws)
        list(agent.send("t1", "silver ring for etsy, 1 variant each, no detail, no campaign, no try-on",
                        images=[photo], sku=sku))
        yield ws, agent
    finally:
        ws.close()


def _box(placement):
    return placement.x, placement.y, placement.width, placement.height


def test_bigger_on_a_small_photo_says_the_photo_is_the_limit(tmp_path):
    """A scene already enlarges a small photo's product as far as a scene does: "bigger" is made again, comes
    out the same, and the reply says the photo's size is why."""
    with _ring_in_review(tmp_path, "RING-BIG") as (ws, agent):
        scene = next(c for c in agent.pending_review("t1")["candidates"] if c["role"] == "lifestyle")
        assert ws.catalog.get_candidate(scene["id"]).placement.upscale >= 0.98 * studio.SCENE_MAX_UPSCALE
        events = list(agent.resume("t1", [{"candidate_id": scene["id"], "action": "change", "note": "bigger"}]))
        said = " ".join(e["text"] for e in events if e["type"] == "reply")
        assert ('did not change with "bigger". The photo is too small to show the product larger (it is already '
                "enlarged 1.95x, the most a scene does); a larger photo allows more.") in said, said
