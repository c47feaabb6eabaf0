"""A gallery killed (SIGKILL) in the middle of production, then run again: the review lists the current
round only, says how many leftovers it hides, and keeps an approval made in an earlier round."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tools.models import Shot, new_id
from tools.settings import Settings
from tools.workspace import Workspace

REPO = Path(__file__).resolve().parents[1]

# The real `gallery` command, with the detail shot held in flight so that the kill lands mid-run.
CHILD = r"""
import sys, time
from pathlib import Path
import tools.production

real_produce_shot = tools.production.produce_shot

def held_detail(ws, sku, shot, **kwargs):
    if shot.role.value == "detail":
        Path(sys.argv[1], "detail-started").touch()
        time.sleep(300)
    return real_produce_shot(ws, sku, shot, **kwargs)

tools.production.produce_shot = held_detail
from ui.cli import main
sys.exit(main(sys.argv[2:]))
"""


def _env() -> dict:
    return {**os.environ, "PYTHONPATH": str(REPO), "HF_HUB_OFFLINE": "1"}


def _cli(*args) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "ui.cli", *map(str, args)], capture_output=True, text=True,
                          timeout=600, env=_env(), cwd=REPO)


def _candidates(home: Path) -> int:
    try:
        with sqlite3.connect(f"file:{home / 'catalog.sqlite'}?mode=ro", uri=True) as conn:
            return conn.execute("SELECT COUNT(*) FROM candidates").fetchone()[0]
    except sqlite3.Error:
        return 0


@pytest.mark.slow
def test_a_killed_gallery_rerun_reviews_only_the_current_round(tmp_path, demo_photo):
    home = tmp_path / "home"
    gallery = ["--home", home, "gallery", demo_photo, "--sku", "R1", "--category", "ring", "--brief", "gold ring"]

    # 1. A gallery killed while its detail shot is in flight, after other shots stored candidates.
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(tmp_path), *map(str, gallery)], env=_env(), cwd=REPO,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _ in range(1200):
            if (tmp_path / "detail-started").exists() and _candidates(home) > 0:
                break
            assert child.poll() is None, "the gallery ended before it could be killed"
            time.sleep(0.25)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    assert child.returncode == -signal.SIGKILL
    left_behind = _candidates(home)
    assert left_behind > 0

    # 2. Run it again to the end.
    rerun = _cli(*gallery, "--json")
    assert rerun.returncode == 0, rerun.stderr
    current = {c["id"] for c in json.loads(rerun.stdout)["candidates"]}

    # 3. The review lists exactly this round's candidates and says how many it hides.
    review = _cli("--home", home, "review", "R1", "--json")
    assert review.returncode == 0, review.stderr
    listed = json.loads(review.stdout)
    assert {c["id"] for c in listed["candidates"]} == current
    assert {c["round"] for c in listed["candidates"]} == {"current"}
    assert listed["earlier_hidden"] == left_behind
    text = _cli("--home", home, "review", "R1").stdout
    assert f"({left_behind} undecided or rejected candidates of earlier or interrupted runs are not listed" in text
    everything = json.loads(_cli("--home", home, "review", "R1", "--all", "--json").stdout)
    assert len(everything["candidates"]) == left_behind + len(current)

    # 4. What the killed run left was never checked: it cannot be approved by mistake either.
    assert {c["verdict"] for c in everything["candidates"] if c["round"] == "earlier"} == {"unchecked"}

    # 5. An approval stays listed (and published) when a later run supersedes its round.
    keep = next(c for c in listed["candidates"] if c["verdict"] == "pass")
    assert _cli("--home", home, "review", "R1", "--approve", keep["id"]).returncode == 0
    ws = Workspace.open(Settings(home=home))  # a new plan, as the next gallery run saves before it renders
    plan = ws.catalog.latest_plan("R1")
    ws.catalog.save_plan(plan.model_copy(update={"shots": [Shot.model_validate(s.model_dump() | {"id": new_id("shot")})
                                                          for s in plan.shots]}))
    ws.close()
    after = {c["id"]: c for c in json.loads(_cli("--home", home, "review", "R1", "--json").stdout)["candidates"]}
    assert set(after) == {keep["id"]}
    assert after[keep["id"]]["round"] == "earlier" and after[keep["id"]]["decision"] == "approve"
