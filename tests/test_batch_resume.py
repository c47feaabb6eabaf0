"""Batch runs through the real production path: every row planned and rendered in a process pool,
a real SIGKILL of the running command, and a second run that resumes without redoing finished shots."""

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
from publishing_helpers import photo_bytes

from agent.offline.reader import read_brief
from tools.batch import run_batch

REPO = Path(__file__).resolve().parents[1]
SKUS = ("DEMO-RING", "DEMO-EARRINGS")


def write_catalog(folder: Path, skus=SKUS, extra_rows: str = "",
                  brief: str = "1 candidate each, no campaign, no lifestyle") -> Path:
    (folder / "photos").mkdir(parents=True)
    lines = ["sku,photos,category,brief,channels,dimensions"]
    for sku in skus:
        name = sku.lower().removeprefix("demo-")
        (folder / "photos" / f"{name}.jpg").write_bytes(photo_bytes(sku, 900))
        lines.append(f"{sku},photos/{name}.jpg,{name},\"{name}, {brief}\","
                     "etsy,30x30 mm")
    path = folder / "catalog.csv"
    path.write_text("\n".join(lines) + "\n" + extra_rows, encoding="utf-8")
    return path


def finished_units(home: Path) -> dict[tuple[str, str], str]:
    """(sku, shot) -> finish time, read from the journal the workers write (empty if none yet)."""
    path = home / "batch.sqlite"
    if not path.exists():
        return {}
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            rows = conn.execute("SELECT sku, shot_id, finished_at FROM units WHERE status = 'done'").fetchall()
    except sqlite3.OperationalError:  # the table is being created
        return {}
    return {(sku, shot): at for sku, shot, at in rows}


def candidate_ids(home: Path) -> dict[str, set[str]]:
    with sqlite3.connect(f"file:{home / 'catalog.sqlite'}?mode=ro", uri=True, timeout=5) as conn:
        rows = conn.execute("SELECT shot_id, id FROM candidates").fetchall()
    ids: dict[str, set[str]] = {}
    for shot, cid in rows:
        ids.setdefault(shot, set()).add(cid)
    return ids


def kill_once_a_shot_is_done(process: subprocess.Popen, home: Path, seconds: float, kill) -> bytes:
    """Wait (no fixed sleep) until the journal holds a finished shot, then `kill()`; return stderr."""
    deadline = time.monotonic() + seconds
    try:
        while not finished_units(home):
            assert process.poll() is None, f"batch ended before any shot finished: {process.communicate()}"
            assert time.monotonic() < deadline, f"no shot finished within {seconds:.0f} s"
            time.sleep(0.05)
        kill()
    finally:
        if process.poll() is None:
            kill()
        _, stderr = process.communicate(timeout=30)
    return stderr


@pytest.mark.slow
def test_a_killed_batch_resumes_without_redoing_finished_shots(tmp_path, quick):
    workspace = quick
    # Two broken rows ride along: one refused when the CSV is read, one when its photo is opened.
    bad_rows = "BROKEN-1,photos/nope.jpg,ring,,etsy,\nBROKEN-2,photos/not-an-image.jpg,ring,,etsy,\n"
    csv_path = write_catalog(tmp_path / "in", extra_rows=bad_rows)
    (tmp_path / "in" / "photos" / "not-an-image.jpg").write_text("hello")
    home = workspace.home
    env = {**os.environ, "PYTHONPATH": str(REPO), "LISTING_STUDIO_MAX_RERENDERS": "0"}

    # 1. Start the real command in its own process group and kill the whole group (the workers too)
    #    with SIGKILL as soon as the journal holds a finished shot: no fixed sleep.
    process = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "--home", str(home), "batch", str(csv_path), "--workers", "2"],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
    )
    stderr = kill_once_a_shot_is_done(process, home, 120, lambda: os.killpg(process.pid, signal.SIGKILL))
    assert process.returncode == -signal.SIGKILL
    assert b"shots" in stderr  # the progress bar was drawing on stderr
    done_before = finished_units(home)
    candidates_before = candidate_ids(home)
    assert done_before, "the kill came before any shot finished"

    # 2. Run again: finished shots are skipped (same candidates, same finish time), the rest is done.
    events = []
    result = run_batch(workspace, csv_path, workers=2, read_brief=read_brief, progress=events.append)
    shots = result["shots"]
    reasons = {f["sku"]: f["reason"] for f in result["failed"]}
    assert set(reasons) == {"BROKEN-1", "BROKEN-2"}
    assert "does not exist" in reasons["BROKEN-1"] and "not an image" in reasons["BROKEN-2"]
    assert events[-1]["done"] == events[-1]["total"] == shots["total"]
    assert events[0] == {"type": "executor", "message": "running in 2 worker process(es) on this machine",
                         "name": "local", "workers": 2}
    assert {e["stage"] for e in events[1:]} == {"prepare", "shot"}
    assert json.dumps(result)  # JSON-able, as `batch --json` prints it
    assert shots["resumed"] == len(done_before)
    assert shots["done"] == shots["total"] and shots["total"] > len(done_before)
    assert sorted(result["done"]) == sorted(SKUS)
    after = finished_units(home)
    candidates_after = candidate_ids(home)
    for (sku, shot), finished_at in done_before.items():
        assert after[(sku, shot)] == finished_at, f"{sku} {shot} was produced again"
        assert candidates_after[shot] == candidates_before[shot], f"{sku} {shot} got new candidates"
    catalog = workspace.catalog
    for sku in SKUS:
        plans = catalog.latest_plan(sku)
        assert plans.version == 1, f"{sku} was planned again"
        # Every shot has exactly its own candidates: none left over from the killed run.
        assert [len(catalog.candidates(sku, s.id)) for s in plans.shots] == [s.count for s in plans.shots]
    # Nothing is approved yet: every SKU waits for a person.
    assert sorted(r["sku"] for r in result["needs_review"]) == sorted(SKUS)

    # 3. A third run has nothing left to do (only the broken rows fail again).
    again = run_batch(workspace, csv_path, workers=2, read_brief=read_brief)
    assert again["shots"]["resumed"] == again["shots"]["total"] == shots["total"]
    assert candidate_ids(home) == candidates_after
    assert sorted(again["done"]) == sorted(SKUS) and len(again["failed"]) == 2
