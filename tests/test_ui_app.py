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


def test_validate_uploads_reports_normalization_notes(tmp_path):
    from PIL import Image

    from ui.app import validate_uploads

    path = tmp_path / "cmyk.jpg"
    Image.new("CMYK", (64, 64), (0, 80, 80, 0)).save(path)
    good, lines = validate_uploads([str(path)])
    assert good == [str(path)]
    assert lines and "CMYK" in lines[0]


def test_plan_markdown_reads_as_a_list():
    from ui.app import plan_markdown

    plan = {"sku": "RING-1", "shots": [
        {"id": "s1", "role": "packshot", "slot": "grid", "channel": "amazon", "width": 2000, "height": 2000,
         "count": 2, "scene": "pure white", "mood": ""},
        {"id": "s2", "role": "try_on", "slot": "gallery_2", "channel": None, "width": 1600, "height": 2000,
         "count": 1, "scene": "", "mood": "warm holiday"},
    ]}
    text = plan_markdown(plan)
    assert "RING-1" in text and "2 shots" in text
    assert "1. **Main image (Amazon, search grid)** — 2 candidates · 2000×2000 · pure white" in text
    assert "2. **Try-on (gallery #2)** — 1 candidate · 1600×2000 · warm holiday" in text
    assert "No plan yet" in plan_markdown(None)


def test_missing_panel_from_the_catalog(workspace):
    from tools.models import Category, GalleryPlan, Product, Shot, Slot
    from ui.app import missing_markdown

    assert "is new" in missing_markdown(workspace, "RING-9")
    workspace.catalog.upsert_product(Product(sku="RING-9", category=Category.ring, title="ring"))
    workspace.catalog.save_plan(GalleryPlan(sku="RING-9", shots=[
        Shot(role="packshot", slot=Slot.grid, channel="amazon", width=2000, height=2000)]))
    text = missing_markdown(workspace, "RING-9")
    assert "1 missing" in text and "Main image (Amazon, search grid): planned, not rendered yet" in text


def test_card_html_shows_verdict_reasons_and_mark_escaped():
    from ui.app import card_html

    html = card_html({"id": "cand_1", "verdict": "fail", "score": 0.41,
                      "reasons": ["color drifted <b>ΔE 14</b>"]}, {"action": "change"})
    assert "ls-fail" in html and "flagged" in html and "0.41" in html
    assert "&lt;b&gt;ΔE 14&lt;/b&gt;" in html and "regenerate" in html
    assert "ls-pass" in card_html({"id": "c", "verdict": "pass", "score": 0.9, "reasons": []}, None)


def test_progress_events_update_one_message_per_step():
    from ui.app import _progress_message

    history: list = []
    _progress_message(history, {"type": "progress", "title": "Rendering", "status": "running", "message": "1/2"})
    _progress_message(history, {"type": "progress", "title": "Checking", "status": "running", "message": "..."})
    _progress_message(history, {"type": "progress", "title": "Rendering", "status": "done", "message": "2 images"})
    _progress_message(history, {"type": "progress", "title": "Checking", "status": "failed", "message": "no"})
    assert [m["metadata"]["status"] for m in history] == ["done", "done"]
    assert history[0]["content"] == "2 images"
    assert history[1]["metadata"]["title"].startswith("✗")


def test_group_by_shot_follows_the_plan_order():
    from ui.app import group_by_shot

    plan = {"shots": [{"id": "a", "role": "packshot", "slot": "grid", "channel": "amazon"},
                      {"id": "b", "role": "detail", "slot": "gallery_3", "channel": None}]}
    payload = {"sku": "X", "candidates": [{"id": "3", "shot": "b", "role": "detail"},
                                          {"id": "1", "shot": "a", "role": "packshot"},
                                          {"id": "2", "shot": "a", "role": "packshot"}]}
    groups = group_by_shot(payload, plan)
    assert [title for title, _ in groups] == ["1. Main image (Amazon, search grid)", "2. Detail close-up (gallery #3)"]
    assert [c["id"] for c in groups[0][1]] == ["1", "2"]


def test_card_marks_become_agent_decisions():
    from ui.app import decisions_summary, review_decisions

    review = {"candidates": [{"id": "a", "verdict": "pass"}, {"id": "b", "verdict": "fail"},
                             {"id": "c", "verdict": "pass"}, {"id": "d", "verdict": "pass"}]}
    marks = {"a": {"action": "approve"}, "b": {"action": "approve"}, "c": {"action": "reject"},
             "d": {"action": "change"}}
    with_note = review_decisions(review, marks, "warmer background")
    assert with_note == [
        {"candidate_id": "a", "action": "approve", "note": ""},
        {"candidate_id": "b", "action": "approve", "note": "warmer background"},
        {"candidate_id": "c", "action": "change", "note": "warmer background"},
        {"candidate_id": "d", "action": "change", "note": "warmer background"},
    ]
    assert review_decisions(review, {"old": {"action": "approve"}}, "") == []
    plain = review_decisions(review, marks, "")
    assert [d["action"] for d in plain] == ["approve", "approve", "reject", "change"]
    assert plain[3]["note"] == "another variation"
    assert decisions_summary(with_note, "warmer background") == (
        "Decisions: 2 approved, 2 to redo — change request: “warmer background”")
