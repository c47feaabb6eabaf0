"""The chat app without a browser: bind refusal through the real CLI, credentials on a public bind,
upload validation with the shared loader, and the text the page shows for plans, coverage and critiques."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tools.errors import BadInput, Refused
from tools.settings import Settings

REPO = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "ui.cli"]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTING_STUDIO_")}
    env.update(extra)
    return env


# -- bind and credentials -------------------------------------------------------------------------------


def test_public_bind_without_credentials_is_refused_by_the_cli(tmp_path):
    result = subprocess.run([*CLI, "--home", str(tmp_path / "home"), "ui", "--host", "0.0.0.0", "--port",
                             str(_free_port())], cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "LISTING_STUDIO_AUTH" in lines[0] and "0.0.0.0" in lines[0]
    assert "Traceback" not in result.stderr


def test_malformed_credentials_are_refused_by_the_cli(tmp_path):
    result = subprocess.run([*CLI, "--home", str(tmp_path / "home"), "ui", "--host", "0.0.0.0", "--auth", "admin"],
                            cwd=REPO, env=_env(), capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "user:password" in result.stderr and "Traceback" not in result.stderr


def test_check_bind_rules():
    from ui.app import check_bind, parse_auth

    open_settings = Settings.from_env({})
    assert check_bind(open_settings, "127.0.0.1") is None
    assert check_bind(open_settings, "localhost") is None
    with pytest.raises(Refused, match="192.168.1.5"):
        check_bind(open_settings, "192.168.1.5")
    assert check_bind(Settings.from_env({"LISTING_STUDIO_AUTH": "ann:s3cret"}), "0.0.0.0") == ("ann", "s3cret")
    assert parse_auth("ann:pa:ss") == ("ann", "pa:ss")
    for bad in ("ann", ":pw", "ann:"):
        with pytest.raises(BadInput, match="user:password"):
            parse_auth(bad)


def test_public_bind_with_credentials_serves_only_after_login(tmp_path):
    """`ui --host 0.0.0.0` with LISTING_STUDIO_AUTH starts, and its API answers 401 without a login."""
    port = _free_port()
    proc = subprocess.Popen([*CLI, "--home", str(tmp_path / "home"), "ui", "--host", "0.0.0.0", "--port", str(port)],
                            cwd=REPO, env=_env(LISTING_STUDIO_AUTH="ann:s3cret", GRADIO_ANALYTICS_ENABLED="False"),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 60
        status = None
        while time.monotonic() < deadline and proc.poll() is None:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=2)
                status = 200
                break
            except urllib.error.HTTPError as error:
                status = error.code
                break
            except OSError:
                time.sleep(0.3)
        assert proc.poll() is None, proc.stdout.read()
        assert status == 401
        login = urllib.request.urlopen(urllib.request.Request(
            f"http://127.0.0.1:{port}/login", data=b"username=ann&password=s3cret", method="POST",
            headers={"Content-Type": "application/x-www-form-urlencoded"}), timeout=5)
        assert login.status == 200
    finally:
        proc.terminate()
        proc.wait(timeout=20)


# -- uploads and page text ------------------------------------------------------------------------------


def test_validate_uploads_keeps_good_photos_and_names_the_bad_ones(tmp_path, demo_photo):
    from ui.app import validate_uploads

    truncated = tmp_path / "broken.jpg"
    truncated.write_bytes(demo_photo.read_bytes()[:4000])
    text = tmp_path / "notes.png"
    text.write_text("not an image")
    empty = tmp_path / "empty.webp"
    empty.write_bytes(b"")
    good, lines = validate_uploads([str(demo_photo), str(truncated), str(text), str(empty)])
    assert good == [str(demo_photo)]
    assert len(lines) == 3
    assert "broken.jpg" in lines[0] and "truncated" in lines[0]
    assert "notes.png" in lines[1] and "not an image" in lines[1]
    assert "empty.webp" in lines[2] and "empty" in lines[2]
    assert all(line.count(name) == 1 for line, name in zip(lines, ("broken.jpg", "notes.png", "empty.webp"), strict=False)), lines


def test_validate_uploads_reports_normalization_notes(tmp_path):
    from PIL import Image

    from ui.app import validate_uploads

    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (64, 64), (0, 80, 80, 0)).save(path)
    good, lines = validate_uploads([str(path)])
    assert good == [str(path)]
    assert lines and "CMYK" in lines[0]


def test_plan_markdown_reads_as_a_list():
    from ui.views import plan_line, plan_markdown

    plan = {"sku": "RING-1", "shots": [
        {"id": "s1", "role": "packshot", "slot": "grid", "channel": "amazon", "width": 2000, "height": 2000,
         "count": 2, "scene": "pure white", "mood": ""},
        {"id": "s2", "role": "try_on", "slot": "gallery_2", "channel": None, "width": 1600, "height": 2000,
         "count": 1, "scene": "on a hand; change: warmer <b>light</b>", "mood": "warm holiday"},
    ]}
    text = plan_markdown(plan)
    assert "RING-1" in text and "2 images" in text
    assert "1. **Main image (Amazon, search grid)**, 2 versions · 2000×2000" in text
    assert "2. **Try-on (gallery #2)**, 1 version · 1600×2000 · warm holiday · change: warmer &lt;b&gt;light" in text
    assert "No plan yet" in plan_markdown(None)
    assert plan_line(plan) == "Planned 2 images for **RING-1**: main image, try-on. The list is under Plan."


def test_seller_words_remove_command_lines_ids_and_paths():
    from ui.views import seller_words

    plate = ("no try-on: no registered hand plate with consent for amazon; register one with `listing-studio plate "
             "add IMAGE --kind hand --mask MASK --talent ID --consent-channels amazon`")
    assert seller_words(plate) == ("no try-on: no registered hand plate with consent for amazon: a try-on needs a "
                                   "model photo of a hand with the model's consent: add one in the app under "
                                   "\"Model photos for try-ons\"")
    refused = ("RING-1 has no approved images yet: approve candidates with `listing-studio review RING-1 --approve "
               "ID` first")
    assert "listing-studio" not in seller_words(refused) and "approve images in the review" in seller_words(refused)
    text = seller_words("left out cand_3690e3fd3b96: too small; wrote 2 files to /root/.listing-studio/exports/R/google",
                        {})
    assert text == "left out an image: too small; wrote 2 files to google"
    assert seller_words("cand_abcdef12 failed", {"cand_abcdef12": "the main image"}) == "the main image failed"
    assert seller_words("21×24 mm, 1/2 of the frame, ΔE 0.3") == "21×24 mm, 1/2 of the frame, ΔE 0.3"
    assert seller_words("the product was enlarged 1.27x beyond its source photo (Lanczos + mild sharpening); a "
                        "larger source photo gives a sharper zoom") == ("the product was enlarged 1.27x beyond its source "
                                                                       "photo; a larger source photo gives a sharper zoom")
    assert seller_words("warmer: this did NOT change enough (background warmth (b*) +34 -> +38)") == (
        "warmer: this did NOT change enough (background warmth +34 -> +38)")


def test_user_text_is_shown_as_text():
    from ui.views import as_text

    shown = as_text("<img src=x onerror=alert(1)> **gold** ring <svg><circle/></svg>")
    assert "<" not in shown and "&lt;img src=x onerror=alert\\(1\\)&gt;" in shown
    assert "\\*\\*gold\\*\\*" in shown


def test_missing_panel_is_the_coverage_answer(workspace):
    from tools.coverage import coverage_answer
    from tools.models import Category, GalleryPlan, Product, Shot, Slot
    from ui.app import AppContext, missing_panel

    ctx = AppContext(ws=workspace, agent=None, media=workspace.home)
    assert "is new" in missing_panel(ctx, "RING-9")
    workspace.catalog.upsert_product(Product(sku="RING-9", category=Category.ring, title="ring"))
    workspace.catalog.save_plan(GalleryPlan(sku="RING-9", shots=[
        Shot(role="packshot", slot=Slot.grid, channel="amazon", width=2000, height=2000)]))
    text = missing_panel(ctx, "RING-9")
    assert text == coverage_answer(workspace, "RING-9")
    assert "lacks 1 image (" in text and "main image (search grid, Amazon): planned, not rendered yet" in text
    assert "Not in its plan: try-on, detail close-up, lifestyle scene" in text


def test_the_try_on_notice_says_where_in_the_app_to_add_a_model_photo(workspace):
    """The try-on gap names the app's own step (the "Model photos for try-ons" panel, then "add a try-on" in
    the chat), and no command, id or path."""
    from tools.models import Brief, Category, Channel, Product
    from tools.plan import plan_with_plates
    from ui.app import AppContext, missing_panel
    from ui.views import plan_markdown, seller_words

    ctx = AppContext(ws=workspace, agent=None, media=workspace.home)
    product = workspace.catalog.upsert_product(Product(sku="RING-T", category=Category.ring, title="ring"))
    plan = workspace.catalog.save_plan(plan_with_plates(workspace, product, Brief(channels=[Channel.ebay]),
                                                        [Channel.ebay]))
    (gap,) = [g for g in plan.not_planned if g.role.value == "try_on"]
    shown = missing_panel(ctx, "RING-T")
    assert gap.reason in shown and seller_words(gap.reason) == gap.reason
    assert gap.reason == ("a try-on needs a photo of a hand with the ring finger in view, plain background, from a "
                          "model who agreed to its use on eBay: add one in the app under \"Model photos for try-ons\", "
                          "then say \"add a try-on\"")
    for text in (shown, plan_markdown(plan.model_dump(mode="json"))):
        assert "listing-studio" not in text and "plate" not in text and "as a model photo" not in text


def _editor(photo_path, mask_path=None) -> dict:
    """What the app's model-photo editor sends: the uploaded photo and one painted layer (the spot)."""
    import numpy as np
    from PIL import Image

    photo = np.asarray(Image.open(photo_path).convert("RGBA"))
    layer = np.zeros_like(photo)
    if mask_path is not None:
        layer[np.asarray(Image.open(mask_path).convert("L")) > 127] = (37, 99, 235, 255)
    return {"background": photo, "layers": [layer], "composite": photo}


def test_a_model_photo_added_in_the_app_makes_the_try_on_plannable(workspace, real_hand_plate):
    """The panel's handler stores the photo with the painted spot as its anchor and the model's consent for the
    ticked channels; the next plan of a ring includes the try-on. Missing parts are asked for, nothing stored."""
    from tools.models import Brief, Category, Channel, Product
    from tools.plan import plan_with_plates
    from ui.app import AppContext, on_add_model_photo, on_editor_photo

    ctx = AppContext(ws=workspace, agent=None, media=workspace.home)
    plate, mask = real_hand_plate
    # 1. Asked back: nothing painted, no consent ticked, no photo.
    assert on_add_model_photo(ctx, _editor(plate), "hand", "Ana", ["etsy"], None)[0].startswith(
        "✗ Paint over the spot where the jewelry sits")
    assert on_add_model_photo(ctx, _editor(plate, mask), "hand", "Ana", [], None)[0].startswith("✗ Tick where")
    assert on_add_model_photo(ctx, None, "hand", "Ana", ["etsy"], None)[0] == "✗ Upload the model's photo first."
    blank = _editor(mask, mask)  # painted on the editor's empty canvas, no photo uploaded
    blank["background"] = blank["background"] * 0 + 255
    assert on_add_model_photo(ctx, blank, "hand", "Ana", ["etsy"], None)[0] == "✗ Upload the model's photo first."
    assert workspace.catalog.plates() == []
    # 2. Stored: the spot is the anchor, the consent covers what was ticked.
    note, editor, _, button = on_add_model_photo(ctx, _editor(plate, mask), "hand", "Ana", ["etsy"], None)
    assert note.startswith("✓ Added the photo of a hand (Ana, agreed for Etsy).") and editor["value"] is None
    assert button["interactive"] is False  # stored: the button waits for the next photo
    assert on_editor_photo(_editor(plate))["interactive"] and not on_editor_photo(None)["interactive"]
    (stored,) = workspace.catalog.plates("hand")
    talent = workspace.catalog.get_talent(stored.talent_id)
    assert talent.name == "Ana" and [c.value for c in talent.consent.channels] == ["etsy"]
    assert stored.anchor.kind == "ring" and stored.anchor.span_px > 5
    # 3. A ring's plan for Etsy now has its try-on; for Amazon (no consent) it does not.
    product = workspace.catalog.upsert_product(Product(sku="RING-P", category=Category.ring, title="ring"))
    etsy = plan_with_plates(workspace, product, Brief(channels=[Channel.etsy]), [Channel.etsy])
    assert "try_on" in [s.role.value for s in etsy.shots]
    amazon = plan_with_plates(workspace, product, Brief(channels=[Channel.amazon]), [Channel.amazon])
    assert "try_on" not in [s.role.value for s in amazon.shots]
    assert any("none of your hand photos has that consent yet" in g.reason for g in amazon.not_planned)


def test_a_set_photo_added_in_the_app_is_where_the_next_scenes_stand_the_product_at_true_size(workspace, realdata,
                                                                                               tmp_path):
    """The "Your own sets" panel stores the photo with the painted surface; the surface's width in cm gives its
    scale, so the next lifestyle image stands a 21 mm ring on it at 21 mm. Missing parts are asked for."""
    from PIL import Image, ImageDraw
    from publishing_helpers import add_product

    from tools.models import Role, Shot, Slot
    from tools.render import render_shot
    from ui.app import AppContext, on_add_set_photo

    ctx = AppContext(ws=workspace, agent=None, media=workspace.home)
    table = Image.open(realdata / "product_lifestyle" / "unsplash_laptop_desk.jpg").convert("RGB").crop((0, 780, 820, 1280))
    table.save(tmp_path / "table.png")
    surface = Image.new("L", table.size, 0)
    ImageDraw.Draw(surface).rectangle((400, 100, 799, 480), fill=255)  # 400 px across: a 40 cm tray is 1 mm/px
    surface.save(tmp_path / "surface.png")
    # 1. Asked back: no photo, nothing painted; a width no surface has is refused with the reason
    assert on_add_set_photo(ctx, None, 40)[0] == "✗ Upload a photo of your set first."
    assert on_add_set_photo(ctx, _editor(tmp_path / "table.png"), 40)[0] == (
        "✗ Paint over the surface where a product may stand.")
    assert on_add_set_photo(ctx, _editor(tmp_path / "table.png", tmp_path / "surface.png"), 0.01)[0].startswith(
        "✗ The surface's width must be within 1 cm..10 m")
    assert workspace.catalog.plates() == []
    # 2. Stored with its scale; the button waits for the next photo
    note, editor, width, button = on_add_set_photo(ctx, _editor(tmp_path / "table.png", tmp_path / "surface.png"), 40)
    assert note == ("✓ Added your set. Lifestyle and campaign images made from now on stand the product on it, at "
                    "its true size.")
    assert editor["value"] is None and width["value"] is None and button["interactive"] is False
    (stored,) = workspace.catalog.plates("scene")
    assert stored.mm_per_px == pytest.approx(1.0)
    # 3. The next lifestyle image stands the ring on it, 21 mm wide
    add_product(workspace, "DEMO-RING")
    shot = Shot(role=Role.lifestyle, slot=Slot.hero, width=1000, height=1000, count=1)
    [candidate] = render_shot(workspace, "DEMO-RING", shot)
    assert candidate.params["scene_plate_id"] == stored.id and candidate.params["true_scale"]
    assert candidate.placement.width * candidate.placement.mm_per_px == pytest.approx(21.0, rel=0.02)


def test_card_html_shows_verdict_reasons_and_warnings_escaped():
    from ui.views import card_html

    html = card_html({"id": "cand_1", "verdict": "fail", "score": 0.41, "reasons": ["color drifted <b>ΔE 14</b>"]},
                     ["the product is enlarged 3.0x beyond your photo"])
    assert "ls-fail" in html and "differs from your photo" in html
    assert "&lt;b&gt;ΔE 14&lt;/b&gt;" in html and "ls-warning" in html and "enlarged 3.0x" in html
    assert "<summary>⚠ Enlarged 3.0×</summary>" in html  # the short headline; the sentence opens under it
    assert "0.41" not in html and "cand_1" not in html
    assert "ls-pass" in card_html({"id": "c", "verdict": "pass", "score": 0.9, "reasons": []})
    # what a passing check noted is a warning (⚠), like the engine's own: an enlargement reads the same either way
    noted = card_html({"id": "c", "verdict": "pass", "reasons": ["the close-up is enlarged 2.5x beyond your photo"]})
    assert "ls-reason" not in noted and "<summary>⚠ Enlarged 2.5×</summary>" in noted


def test_the_review_points_at_the_cutout_strokes_for_a_lost_part_or_a_filled_gap():
    """The pointer above the cards says what the cards say of the cutout, whatever the product is called."""
    from tools.verification import grade
    from ui.views import cutout_hint

    values = {"missing": 0.0, "added": 0.0, "border_noise": 1.0, "border_inliers": 1.0}
    _, lost = grade(values | {"missing": 0.01}, noun="ring")
    _, filled = grade(values | {"shadow_kept": 0.02}, noun="pendant")
    assert "lost part of the product" in cutout_hint(lost) and "#cutout-box" in cutout_hint(lost)
    assert "filled a hole or a gap" in cutout_hint(["the image is fine", *filled])
    assert "lost part" in cutout_hint([*filled, *lost])  # a lost part is the first thing to fix
    assert cutout_hint(["the product is enlarged 3.0x beyond your photo"]) is None
    assert cutout_hint([]) is None


def test_progress_events_update_one_message_per_step():
    from ui.views import progress_message

    history: list = []
    progress_message(history, {"type": "progress", "title": "Rendering", "status": "running", "message": "1/2"})
    progress_message(history, {"type": "progress", "title": "Checking", "status": "running", "message": "..."})
    progress_message(history, {"type": "progress", "title": "Rendering", "status": "done", "message": "2 images"})
    progress_message(history, {"type": "progress", "title": "Checking", "status": "failed", "message": "no"})
    progress_message(history, {"type": "progress", "title": "Diffusion", "status": "running", "message": "painting",
                               "done": 1, "total": 4})
    assert [m["metadata"]["status"] for m in history] == ["done", "done", "pending"]
    assert history[0]["content"] == "2 images" and history[2]["content"] == "painting (1/4)"
    assert history[1]["metadata"]["title"].startswith("✗")


def test_one_progress_event_shape():
    from tools.progress import progress_event, progress_line

    event = progress_event("rendering packshot", "running", "2 of 4", sku="R-1", shot="s1", done=2, total=4)
    assert event == {"type": "progress", "title": "rendering packshot", "status": "running", "message": "2 of 4",
                     "sku": "R-1", "shot": "s1", "done": 2, "total": 4}
    assert progress_event("Planning") == {"type": "progress", "title": "Planning", "status": "running",
                                          "message": "Planning"}
    assert progress_line(event) == "rendering packshot: 2 of 4 (2/4)"


def test_group_by_shot_follows_the_plan_order():
    from ui.views import candidate_names, group_by_shot

    plan = {"shots": [{"id": "a", "role": "packshot", "slot": "grid", "channel": "amazon"},
                      {"id": "b", "role": "detail", "slot": "gallery_3", "channel": None}]}
    payload = {"sku": "X", "candidates": [{"id": "3", "shot": "b", "role": "detail"},
                                          {"id": "1", "shot": "a", "role": "packshot"},
                                          {"id": "2", "shot": "a", "role": "packshot"}]}
    groups = group_by_shot(payload, plan)
    assert [title for title, _ in groups] == ["Main image (Amazon, search grid)", "Detail close-up (gallery #3)"]
    assert [c["id"] for c in groups[0][1]] == ["1", "2"]
    assert candidate_names(payload, plan) == {"1": "the main image (Amazon, search grid), version 1",
                                              "2": "the main image (Amazon, search grid), version 2",
                                              "3": "the detail close-up (gallery #3)"}


def test_shot_titles_do_not_repeat_themselves():
    from ui.views import shot_label

    assert shot_label({"role": "campaign", "slot": "campaign"}) == "Campaign image"
    assert shot_label({"role": "packshot", "slot": "grid", "channel": "amazon"}) == "Main image (Amazon, search grid)"


def test_card_choices_become_agent_decisions():
    from ui.views import decisions_summary, review_decisions

    review = {"candidates": [{"id": "a", "verdict": "pass"}, {"id": "b", "verdict": "fail"},
                             {"id": "c", "verdict": "pass"}, {"id": "d", "verdict": "pass"},
                             {"id": "e", "verdict": "pass"}, {"id": "f", "verdict": "pass"}]}
    marks = {"a": {"action": "approve", "note": ""}, "b": {"action": "approve", "note": "the check is wrong here"},
             "c": {"action": "reject", "note": ""}, "d": {"action": "change", "note": "warmer background"},
             "e": {"action": None, "note": "less shadow"}, "old": {"action": "approve", "note": ""}}
    decisions, problems = review_decisions(review, marks)
    assert problems == []
    assert decisions == [
        {"candidate_id": "a", "action": "approve", "note": ""},
        {"candidate_id": "b", "action": "approve", "note": "the check is wrong here"},
        {"candidate_id": "c", "action": "reject", "note": ""},
        {"candidate_id": "d", "action": "change", "note": "warmer background"},
        {"candidate_id": "e", "action": "change", "note": "less shadow"},
    ]
    assert decisions_summary(decisions) == ("Decisions: 2 approved, 1 rejected, 2 to change — change: “warmer "
                                            "background” — change: “less shadow”")
    # Approving an image that differs from the photo needs the seller's reason, asked on that card.
    decisions, problems = review_decisions(review, {"b": {"action": "approve", "note": ""}})
    assert decisions == [] and len(problems) == 1 and "say in its box why" in problems[0]


def test_a_change_without_words_is_asked_on_its_card_and_nothing_is_sent():
    """"Change" with an empty box would re-make the image with nothing to change: the seller is asked what to
    change on that card, no decision of the round is sent, and the examples offered are words the renderer
    reads as changes."""
    import re

    from tools.looks import read_change
    from ui.views import CHANGE_EXAMPLES, review_decisions

    review = {"candidates": [{"id": "a", "verdict": "pass", "shot": "s1", "role": "packshot"},
                             {"id": "f", "verdict": "pass", "shot": "s2", "role": "lifestyle"}]}
    marks = {"a": {"action": "approve", "note": ""}, "f": {"action": "change", "note": "  "}}
    decisions, problems = review_decisions(review, marks)
    assert len(problems) == 1 and "Say what to change on the lifestyle" in problems[0], problems
    assert "Nothing was sent" in problems[0]
    examples = re.findall(r"“([^”]+)”", CHANGE_EXAMPLES)
    assert len(examples) >= 2 and all(read_change(word).understood for word in examples), examples
    # Once the seller says what, the same card is a change request with their words.
    decisions, problems = review_decisions(review, {**marks, "f": {"action": "change", "note": examples[0]}})
    assert problems == [] and decisions[-1] == {"candidate_id": "f", "action": "change", "note": examples[0]}


def test_cutout_strokes_from_the_app_recut_the_photo(workspace, realdata):
    """The cutout view's strokes (green keep, red remove painted over the photo) reach the engine as hard
    constraints: a new cutout asset, the earlier one kept, the painted keep area opaque in it."""
    import numpy as np
    from PIL import Image

    from tools.prepare import ingest_product
    from tools.review import product_cutout
    from ui.app import AppContext, on_cutout_view, on_recut, on_strokes, stroke_masks

    photo = realdata / "masks" / "samlora_ring2.jpg"
    ingest_product(workspace, "RING-7", [str(photo)], category="ring")
    ctx = AppContext(ws=workspace, agent=None, media=workspace.home / "media")
    before = product_cutout(workspace, "RING-7")
    visible, checker, backdrop, editor, note, recut = on_cutout_view(ctx, "RING-7")
    assert Path(checker).is_file() and Path(backdrop).is_file() and "made from this cutout" in note
    shown = Image.open(editor["background"])

    # 1. A green stroke over a corner of the background (the editor's layer is at the shown size). Re-cut is
    #    offered only once something is painted in green or red.
    layer = np.zeros((shown.height, shown.width, 4), np.uint8)
    assert recut["interactive"] is False and not on_strokes({"layers": [layer]})["interactive"]
    layer[200:210, 10:60] = (128, 128, 128, 255)  # neither keep nor remove
    assert not on_strokes({"layers": [layer]})["interactive"]
    layer[10:40, 10:120] = (22, 163, 74, 255)
    assert on_strokes({"layers": [layer]})["interactive"]
    layer[60:70, 10:60] = (220, 38, 38, 255)
    keep, remove = stroke_masks({"layers": [layer]}, Image.open(photo).size)
    assert keep.shape == (1080, 1920) and keep[40, 60] and not keep[1000, 1800]
    assert remove is not None and remove[int(65 * 1920 / shown.width), 50] and not (keep & remove).any()

    # 2. Re-cut: a new cutout asset where the keep stroke is opaque; the first cutout is kept.
    outputs = list(on_recut(ctx, "RING-7", {"layers": [layer]}, [], "t-recut", None, None))
    history = outputs[-1][1]
    assert "The cutout is corrected" in history[-1]["content"]
    after = product_cutout(workspace, "RING-7")
    assert after["cutout_path"] != before["cutout_path"] and after["earlier"] == 1
    assert Path(before["cutout_path"]).is_file()
    alpha = np.asarray(Image.open(after["cutout_path"]).convert("RGBA"))[..., 3]
    assert alpha[keep].mean() > 200
    assert not Path(before["cutout_path"]).samefile(after["cutout_path"])
    # 3. No strokes: nothing changes, and the seller is told what to paint.
    outputs = list(on_recut(ctx, "RING-7", {"layers": []}, [], "t-recut", None, None))
    assert "Paint over the photo first" in outputs[-1][1][-1]["content"]
    assert product_cutout(workspace, "RING-7")["cutout_path"] == after["cutout_path"]


BOX = 7  # the message box's place in the turn outputs (ui.app.build_app: turn_out)


def test_only_the_turn_the_box_sent_clears_the_box(workspace):
    """A decision, a re-cut or a publish that finishes while the seller types must leave the box alone; the
    turn the box itself sent empties it, and a refused message is put back."""
    from ui.app import AppContext, on_publish, on_recut, on_send

    ctx = AppContext(ws=workspace, agent=None, media=workspace.home / "media")
    for outputs in (list(on_recut(ctx, None, {"layers": []}, [], "t-box", None, None)),
                    [on_publish(ctx, "t-box", [], None, None, "amazon", None, None)]):
        for values in outputs:
            assert "value" not in values[BOX], values[BOX]
    sent = list(on_send(ctx, {"text": "", "files": []}, [], "t-box", None, None, False, None, None))
    assert sent[0][BOX]["value"] is None and "Type what you need" in sent[-1][1][-1]["content"]
    refused = list(on_send(ctx, {"text": "ring for Etsy", "files": []}, [], "t-box", None, "bad sku!", False,
                           None, None))
    assert refused[-1][BOX]["value"] == {"text": "ring for Etsy", "files": []}


@pytest.mark.parametrize("raised", ["oserror", "listing"])
def test_publish_on_a_full_disk_says_so_in_seller_words(workspace, monkeypatch, raised):
    """A full disk while publishing: one sentence that says what happened and what to do, no path."""
    import errno

    import tools.publish
    from tools.errors import OutOfSpace
    from ui.app import AppContext, on_publish

    def full(ws, sku, channel):
        if raised == "oserror":
            raise OSError(errno.ENOSPC, "No space left on device", str(ws.home / "exports" / "x.jpg"))
        raise OutOfSpace(f"no space left in {ws.home}: free space and retry; nothing was lost")

    monkeypatch.setattr(tools.publish, "publish_to_exports", full)
    ctx = AppContext(ws=workspace, agent=None, media=workspace.home / "media")
    outputs = on_publish(ctx, None, [], None, "RING-1", "amazon", {"sku": "RING-1"}, None)
    history = next(o for o in outputs if isinstance(o, list))
    said = history[-1]["content"]
    assert said.startswith("✗ The disk is full") and "nothing was lost" in said
    assert "/" not in said and "Error" not in said


def test_two_handlers_writing_the_same_file_at_once_both_succeed(workspace, demo_photo):
    """The queue runs two events at once: two copies of one image for the page, or two saves of one
    conversation's transcript, must not move each other's half-written file away (each then fails)."""
    import threading

    from ui.app import AppContext

    ctx = AppContext(ws=workspace, agent=None, media=workspace.home / "media")
    start = threading.Barrier(8)
    errors: list[BaseException] = []
    shown: dict[int, list[str]] = {n: [] for n in range(8)}

    def work(number: int) -> None:
        start.wait()
        try:
            for size in (200, 300, 400):
                ctx.media.joinpath(str(size)).mkdir(parents=True, exist_ok=True)
                for stale in ctx.media.joinpath(str(size)).glob("*.jpg"):
                    stale.unlink(missing_ok=True)  # every thread writes the copy again
                # (another thread may remove this copy right after it is written: only a failed write counts)
                shown[number].append(ctx.show(str(demo_photo), size))
            ctx.save_transcript("t-same", [{"role": "user", "content": f"message {number}"}])
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert all(len(paths) == 3 and all(paths) for paths in shown.values())
    assert all(Path(ctx.show(str(demo_photo), size)).is_file() for size in (200, 300, 400))
    assert ctx.transcript("t-same")[0]["content"].startswith("message ")
    assert not list(ctx.media.rglob("*.part")) and not list((workspace.home / "conversations").glob("*.part"))


def test_a_concern_is_said_once_on_a_card_and_in_the_large_view():
    """The cutout's and the image's own "may be missing" are one headline with both sentences under it; in the
    large view a warning that a check already says is left out, an enlargement is said once (by its warning),
    and no line repeats the "warning:" its mark already shows."""
    from ui.views import card_notes, checks_markdown

    cutout = "part of the product may be missing: 6% of its area became transparent although the photo shows it"
    image = ("warning: part of the product may be missing from this image: laid back over the photo, 2.6% of the "
             "ring's area shows background")
    notes = card_notes([cutout, image], ["the product was enlarged 1.27x beyond its source photo"])
    assert [headline for _, headline, _ in notes] == ["Part of the product may be missing", "Enlarged 1.3×"]
    assert "6% of its area" in notes[0][2] and "2.6% of the ring's area" in notes[0][2]
    assert "warning:" not in notes[0][2].lower()

    detail = {"checks": [{"name": "cutout", "passed": False, "message": cutout},
                         {"name": "against_photo", "passed": True, "warning": True, "message": image},
                         {"name": "upscale", "passed": True, "message": "the ring is enlarged 1.27x, within the 2x allowed"}],
              "warnings": [image, "the product was enlarged 1.27x beyond its source photo; a larger photo is sharper"]}
    text = checks_markdown(detail)
    assert text.count("missing from this image") == 1 and text.count("enlarged 1.27x") == 1
    assert "warning:" not in text and "- ⚠ part of the product may be missing from this image" in text
    assert "- ⚠ the product was enlarged 1.27x" in text  # the warning, with its advice, not the passing check


def test_the_download_box_follows_the_product_and_channel_shown(workspace):
    """The pack published last for the product and channel on screen is offered (so a reload finds it again);
    another channel, another product or no product offers nothing."""
    import zipfile

    from publishing_helpers import add_gallery, add_product

    from tools.publish import publish_to_exports
    from ui.app import NEW_SKU, AppContext, on_download_view

    ctx = AppContext(ws=workspace, agent=None, media=workspace.home / "media")
    add_gallery(workspace, size=(1000, 1000))
    add_product(workspace, "DEMO-NECKLACE")
    publish_to_exports(workspace, "DEMO-RING", "amazon")
    offered = on_download_view(ctx, "DEMO-RING", "amazon")
    assert offered["visible"] and Path(offered["value"]).name == "DEMO-RING-amazon.zip"
    assert "manifest.json" in [Path(n).name for n in zipfile.ZipFile(offered["value"]).namelist()]
    assert on_download_view(ctx, "DEMO-RING", "amazon")["value"] == offered["value"]  # zipped once per pack
    for choice, channel in (("DEMO-RING", "etsy"), ("DEMO-NECKLACE", "amazon"), (NEW_SKU, "amazon"), ("DEMO-RING", None)):
        assert on_download_view(ctx, choice, channel) == {"__type__": "update", "value": None, "visible": False}


def test_a_refused_upload_says_the_message_waits_in_the_box_only_when_one_was_typed(workspace, tmp_path):
    from ui.app import AppContext, on_send

    ctx = AppContext(ws=workspace, agent=None, media=workspace.home / "media")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff\xe0 not a photo")
    typed = list(on_send(ctx, {"text": "gold ring for Etsy", "files": [str(broken)]}, [], "t-up", None, None, False,
                         None, None))
    assert "Your message is still in the box: attach a JPEG" in typed[-1][1][-1]["content"]
    bare = list(on_send(ctx, {"text": "", "files": [str(broken)]}, [], "t-up2", None, None, False, None, None))
    said = bare[-1][1][-1]["content"]
    assert said.endswith("Attach a JPEG, PNG or WebP photo and send it again.") and "still in the box" not in said


def test_the_large_views_decision_buttons_name_the_image_they_decide():
    from ui.views import view_decisions_html

    html = view_decisions_html("cand_0a1b2c")
    assert html.count("data-cid='cand_0a1b2c'") == 3
    assert [a for a in ("approve", "reject", "change") if f"data-action='{a}'" in html] == ["approve", "reject", "change"]
    assert "data-cid='x&#x27; onclick=&#x27;" in view_decisions_html("x' onclick='")  # an id never becomes markup
