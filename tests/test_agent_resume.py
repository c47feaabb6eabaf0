"""A conversation killed (SIGKILL) while its review is pending resumes from the SQLite checkpoint in a new
process with nothing lost: the same review payload, the same candidates, and the decisions recorded. Killed
in the middle of production, the next message finishes the turn without redoing the finished shots."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from agent.runner import StudioAgent
from tools.settings import Settings
from tools.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]

CHILD = r"""
import json, os, sys, time
from agent.runner import StudioAgent
from tools.settings import Settings
from tools.workspace import Workspace

home, photo = sys.argv[1], sys.argv[2]
if os.environ.get("KILL_AFTER_FIRST_SHOT"):
    import tools.production

    real_produce_shot = tools.production.produce_shot

    def slow_scene(ws, sku, shot, **kwargs):  # the lifestyle shot is still in flight when the process dies
        if shot.role.value == "lifestyle":
            time.sleep(120)
        return real_produce_shot(ws, sku, shot, **kwargs)

    tools.production.produce_shot = slow_scene
ws = Workspace.open(Settings.from_env({}, home=home, max_rerenders=0))
agent = StudioAgent(ws)
payload = None
for event in agent.send("chat-1", "gold ring for etsy, warm mood, 1 variant each, no campaign, no try-on",
                        images=[photo], sku="RING-K"):
    if event["type"] == "review":
        payload = event["payload"]
    if os.environ.get("KILL_AFTER_FIRST_SHOT") and event["type"] == "progress" and event["status"] == "done" \
            and event["title"].startswith("Making the main image"):
        print("SHOT " + event["title"], flush=True)
        time.sleep(2)  # the finished branch's result reaches the checkpoint
        os.kill(os.getpid(), 9)  # a crash in the middle of production
print("REVIEW " + json.dumps(payload), flush=True)
time.sleep(600)  # waiting for a person: the parent kills us here
"""


@pytest.mark.slow
def _spawn(home, photo, **extra_env):
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTING_STUDIO_")}
    env.update(PYTHONPATH=str(REPO), **extra_env)
    return subprocess.Popen([sys.executable, "-c", CHILD, str(home), str(photo)], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


@pytest.mark.slow
def test_a_crash_during_production_loses_only_the_work_in_flight(tmp_path):
    from tools.demo import demo_photo_bytes

    home, photo = tmp_path / "home", tmp_path / "ring.jpg"
    photo.write_bytes(demo_photo_bytes("DEMO-RING", size=500))
    child = _spawn(home, photo, KILL_AFTER_FIRST_SHOT="1")
    out, err = child.communicate(timeout=240)
    assert child.returncode == -signal.SIGKILL, err[-2000:]
    finished = out.split("SHOT ", 1)[1].strip()

    ws = Workspace.open(Settings.from_env({}, home=home, max_rerenders=0))
    try:
        agent = StudioAgent(ws)
        before = {c.id for c in ws.catalog.candidates("RING-K")}
        events = list(agent.send("chat-1", "status?"))
        assert events[0]["title"] == "Resuming"
        assert not [e for e in events if e["type"] == "error"]
        review = agent.pending_review("chat-1")
        plan = ws.catalog.latest_plan("RING-K")
        assert plan.version == 1  # continued, not re-planned
        assert {c["shot"] for c in review["candidates"]} == {s.id for s in plan.shots}
        kept = [c for c in review["candidates"] if c["role"] == "packshot"]
        assert kept and all(c["id"] in before for c in kept)  # the finished shot was not rendered again
        redone = [e for e in events if e["type"] == "progress" and e["title"] == finished]
        assert redone == []
    finally:
        ws.close()


def test_killed_during_review_resumes_in_a_new_process(tmp_path):
    from tools.demo import demo_photo_bytes

    home = tmp_path / "home"
    demo_photo = tmp_path / "ring.jpg"
    demo_photo.write_bytes(demo_photo_bytes("DEMO-RING", size=500))
    # 1. A process runs a gallery turn up to the review interrupt, then is killed without any cleanup
    child = _spawn(home, demo_photo)
    try:
        deadline = time.monotonic() + 240
        line = ""
        while time.monotonic() < deadline:
            line = child.stdout.readline()
            if line.startswith("REVIEW ") or child.poll() is not None:
                break
        assert line.startswith("REVIEW "), f"child did not reach review: {line!r} {child.stderr.read()[-2000:]}"
        shown = json.loads(line[len("REVIEW "):])
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL

    # 2. A new process (this one) finds the same review waiting, and the catalog intact
    ws = Workspace.open(Settings.from_env({}, home=home, max_rerenders=0))
    try:
        assert ws.catalog.integrity_ok()
        agent = StudioAgent(ws)
        pending = agent.pending_review("chat-1")
        assert pending == shown
        assert {c["id"] for c in pending["candidates"]} == {c.id for c in ws.catalog.candidates("RING-K")}
        assert all(Path(c["path"]).is_file() for c in pending["candidates"])
        state = agent.state("chat-1")
        assert state["sku"] == "RING-K" and state["brief"]["mood"] == "warm"

        # 3. Resuming records the decisions and ends the review
        decisions = [{"candidate_id": c["id"], "action": "approve" if c["verdict"] == "pass" else "reject",
                      "note": ""} for c in pending["candidates"]]
        events = list(agent.resume("chat-1", decisions))
        assert not [e for e in events if e["type"] == "error"]
        assert agent.pending_review("chat-1") is None
        for d in decisions:
            assert ws.catalog.latest_decision(d["candidate_id"]).action == d["action"]
        assert "Recorded" in [e for e in events if e["type"] == "reply"][-1]["text"]
    finally:
        ws.close()
