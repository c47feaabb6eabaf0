"""Batch executors without Ray: the default local executor runs with Ray hidden from Python, refuses
Ray-only flags, survives a worker process killed mid-run, and a shot whose candidates reached the
catalog but not the journal is not made twice."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from test_batch_resume import candidate_ids, finished_units, write_catalog

from agent.offline.reader import read_brief
from tools.batch import run_batch
from tools.errors import BadInput

REPO = Path(__file__).resolve().parents[1]

# Installed as sitecustomize in every interpreter of the run (the command and its worker processes):
# `import ray` fails as if Ray were not installed, and each attempt is written down.
HIDE_RAY = '''
import os, sys

class HideRay:
    def find_spec(self, name, path=None, target=None):
        if name == "ray" or name.startswith("ray."):
            with open(os.environ["RAY_IMPORTS_LOG"], "a") as log:
                log.write(name + "\\n")
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, HideRay())
'''


@pytest.mark.slow
def test_the_local_executor_runs_with_ray_hidden_and_the_ray_executor_says_what_to_install(tmp_path):
    (tmp_path / "site").mkdir()
    (tmp_path / "site" / "sitecustomize.py").write_text(HIDE_RAY)
    log = tmp_path / "ray-imports.log"
    csv_path = write_catalog(tmp_path / "in", skus=("DEMO-RING",))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), str(REPO)]),
           "RAY_IMPORTS_LOG": str(log), "LISTING_STUDIO_MAX_RERENDERS": "0"}
    command = [sys.executable, "-m", "ui.cli", "--home", str(tmp_path / "home"), "batch", str(csv_path)]
    # 1. The hiding works: Ray cannot be imported in that environment.
    probe = subprocess.run([sys.executable, "-c", "import ray"], env=env, capture_output=True, text=True)
    assert probe.returncode == 1 and "No module named 'ray'" in probe.stderr
    log.unlink()
    # 2. The default executor renders the catalog and never tries to import Ray.
    done = subprocess.run(command, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("done 1, failed 0") and "running in 2 worker process(es)" in done.stderr
    assert not log.exists(), f"Ray was imported: {log.read_text()}"
    # 3. Asking for Ray without it: one line that says what to install, exit code 2.
    refused = subprocess.run([*command, "--executor", "ray"], cwd=REPO, env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and refused.stdout == ""
    assert refused.stderr == ('listing-studio: the ray executor needs Ray: pip install "listing-studio[ray]" (on every '
                              "machine of the cluster), or use --executor local\n")


def test_ray_only_flags_are_refused_with_the_local_executor(tmp_path, workspace, capsys):
    from ui.cli import main

    csv_path = write_catalog(tmp_path / "in", skus=("DEMO-RING",))
    with pytest.raises(BadInput, match="--address 10.0.0.1:6379 is for --executor ray"):
        run_batch(workspace, csv_path, address="10.0.0.1:6379")
    with pytest.raises(BadInput, match="--gpus-per-worker is for --executor ray"):
        run_batch(workspace, csv_path, gpus_per_worker=1)
    with pytest.raises(BadInput, match="unknown executor 'spark'"):
        run_batch(workspace, csv_path, executor="spark")
    with pytest.raises(BadInput, match="gpus_per_worker=-1"):
        run_batch(workspace, csv_path, executor="ray", gpus_per_worker=-1)
    with pytest.raises(SystemExit) as exited:
        main(["--home", str(workspace.home), "batch", str(csv_path), "--executor", "dask"])
    assert exited.value.code == 2
    assert "invalid choice: 'dask'" in capsys.readouterr().err
    assert not workspace.catalog.has_product("DEMO-RING")  # nothing ran


@pytest.mark.slow
def test_a_local_worker_killed_mid_run_is_retried_and_the_batch_finishes(tmp_path, quick):
    csv_path = write_catalog(tmp_path / "in")
    killed: list[int] = []
    stop = threading.Event()

    def kill_one_busy_worker() -> None:
        # The pool's worker processes are children of this process; kill the first one that has
        # done real work (half a second of CPU: it is inside a unit), once.
        while not stop.is_set() and not killed:
            for child in psutil.Process().children():
                try:
                    if "spawn_main" in " ".join(child.cmdline()) and child.cpu_times().user > 0.5:
                        child.send_signal(signal.SIGKILL)
                        killed.append(child.pid)
                        break
                except psutil.NoSuchProcess:
                    continue
            time.sleep(0.02)

    killer = threading.Thread(target=kill_one_busy_worker, daemon=True)
    killer.start()
    try:
        result = run_batch(quick, csv_path, read_brief=read_brief, workers=2)
    finally:
        stop.set()
        killer.join()
    assert killed, "no worker was killed"
    shots = result["shots"]
    assert not result["failed"] and shots["done"] == shots["total"] > 0
    assert sorted(result["done"]) == ["DEMO-EARRINGS", "DEMO-RING"]
    for sku in result["done"]:
        plan = quick.catalog.latest_plan(sku)
        assert [len(quick.catalog.candidates(sku, s.id)) for s in plan.shots] == [s.count for s in plan.shots]


@pytest.mark.slow
def test_a_shot_in_the_catalog_but_not_in_the_journal_is_not_made_again(tmp_path, quick):
    """The driver commits a shot's candidates (one transaction), then journals it: a stop in between
    leaves that state, and the next run must count the shot as done rather than render it again."""
    csv_path = write_catalog(tmp_path / "in", skus=("DEMO-RING",))
    first = run_batch(quick, csv_path, read_brief=read_brief, workers=1)
    total = first["shots"]["total"]
    assert first["shots"]["done"] == total >= 1
    before = candidate_ids(quick.home)
    [(sku, lost)] = list(finished_units(quick.home))[:1]
    with sqlite3.connect(quick.home / "batch.sqlite") as conn:
        conn.execute("DELETE FROM units WHERE shot_id = ?", (lost,))
    again = run_batch(quick, csv_path, read_brief=read_brief, workers=1)
    assert again["shots"] == {"total": total, "done": total, "resumed": total, "failed": 0}
    assert candidate_ids(quick.home) == before
    assert (sku, lost) in finished_units(quick.home)


def test_a_pool_broken_between_waits_takes_new_work_after_a_restart():
    """A worker that dies right after `wait` returned leaves a pool that refuses `submit`: the task is handed
    back as lost, a new pool starts, and the task runs there without being charged an attempt."""
    from concurrent.futures.process import BrokenProcessPool

    from tools.batch_local import LocalExecutor, Task

    class BrokenPool:
        def submit(self, *args, **kwargs):
            raise BrokenProcessPool("a child process terminated abruptly")

        def shutdown(self, **kwargs):
            pass

    executor = LocalExecutor(1)
    executor._pool = BrokenPool()
    try:
        executor.submit(Task("shot", "SKU-1", os.getpid, ()))
        outcomes = []
        while executor.busy:
            outcomes += executor.wait()
        assert [o.error for o in outcomes] == [None] and outcomes[0].value != os.getpid()
        assert outcomes[0].task.attempts == 1
    finally:
        executor.close()
