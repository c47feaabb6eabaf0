"""A conversation killed (SIGKILL) while its review is pending resumes from the SQLite checkpoint in a new
process with nothing lost: the same review payload, the same candidates, and the decisions recorded."""

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
import json, sys, time
from agent.runner import StudioAgent
from tools.settings import Settings
from tools.workspace import Workspace

home, photo = sys.argv[1], sys.argv[2]
ws = Workspace.open(Settings.from_env({}, home=home, max_rerenders=0))
agent = StudioAgent(ws)
payload = None
for event in agent.send("chat-1", "gold ring for etsy, warm mood, 1 variant each, no campaign, no try-on",
                        images=[photo], sku="RING-K"):
    if event["type"] == "review":
        payload = event["payload"]
print("REVIEW " + json.dumps(payload), flush=True)
time.sleep(600)  # waiting for a person: the parent kills us here
"""


@pytest.mark.slow
def test_killed_during_review_resumes_in_a_new_process(tmp_path):
    from tools.demo import demo_photo_bytes

    home = tmp_path / "home"
    demo_photo = tmp_path / "ring.jpg"
    demo_photo.write_bytes(demo_photo_bytes("DEMO-RING", size=500))
    env = {k: v for k, v in os.environ.items() if not k.startswith("LISTING_STUDIO_")}
    env["PYTHONPATH"] = str(REPO)

    # 1. A process runs a gallery turn up to the review interrupt, then is killed without any cleanup
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(home), str(demo_photo)], cwd=REPO, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
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
