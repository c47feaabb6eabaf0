"""Batch runs on Ray, through the real production path: a local Ray instance shared by this module
(2 CPUs), a real SIGKILL of the driver and of workers mid-shot, and a two-node cluster simulated on
this machine. Outputs are compared by image hash: the same seeds give the same candidates wherever
they ran."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest
from test_batch_resume import candidate_ids, finished_units, kill_once_a_shot_is_done, write_catalog

from agent.offline.reader import read_brief
from tools.batch import run_batch
from tools.batch_local import MAX_RETRIES, died_reason
from tools.workspace import Workspace

ray = pytest.importorskip("ray", reason="Ray is not installed (pip install 'listing-studio[ray]')")
pytestmark = pytest.mark.slow

REPO = Path(__file__).resolve().parents[1]
SKUS = ("DEMO-RING", "DEMO-EARRINGS")
BAD_ROWS = ("BROKEN-1,photos/nope.jpg,ring,,etsy,\n"
            "BIG-1,photos/ring.jpg,ring,\"" + "gold " * 210_000 + "\",etsy,\n")
OBJECT_STORE = 100 * 1024 * 1024  # plenty for a few demo photos; Ray's default is 30 % of the memory


def start_local_ray() -> str:
    """The module's Ray instance (started once; again after the two-node test stopped it)."""
    if not ray.is_initialized():
        os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
        ray.init(num_cpus=2, include_dashboard=False, object_store_memory=OBJECT_STORE,
                 logging_level=logging.WARNING, log_to_driver=False)
    return ray.get_runtime_context().gcs_address


@pytest.fixture(scope="module")
def ray_module():
    yield
    if ray.is_initialized():
        ray.shutdown()


@pytest.fixture
def local_ray(ray_module) -> str:
    return start_local_ray()


def quick_workspace(home: Path) -> Workspace:
    from tools.settings import Settings

    return Workspace.open(Settings.from_env({}, home=home, max_rerenders=0))


def image_hashes(ws: Workspace) -> dict[tuple[str, str, int], str]:
    """(sku, role, seed) -> the candidate image's sha256 (its asset id)."""
    catalog = ws.catalog
    return {(sku, c.role.value, c.seed): c.asset_id for sku in SKUS for c in catalog.candidates(sku)}


def journal_data(home: Path) -> list[dict]:
    import json
    import sqlite3

    with sqlite3.connect(home / "batch.sqlite") as conn:
        return [json.loads(data) for (data,) in conn.execute("SELECT data FROM units WHERE status = 'done'")]


@pytest.fixture(scope="module")
def ray_run(tmp_path_factory, ray_module):
    """One batch through the module's Ray instance: two good rows, a missing photo, a 1 MB brief."""
    start_local_ray()
    folder = tmp_path_factory.mktemp("ray-run")
    csv_path = write_catalog(folder / "in", extra_rows=BAD_ROWS)
    ws = quick_workspace(folder / "home")
    events: list[dict] = []
    result = run_batch(ws, csv_path, read_brief=read_brief, progress=events.append, executor="ray")
    yield {"ws": ws, "result": result, "events": events, "hashes": image_hashes(ws), "csv": csv_path}
    ws.close()


def test_a_batch_runs_on_a_local_ray_instance_and_bad_rows_fail_alone(ray_run):
    result, events, ws = ray_run["result"], ray_run["events"], ray_run["ws"]
    # 1. It ran on the Ray instance (the one this process joined) and said so first.
    assert result["executor"]["name"] == "ray" and result["executor"]["cpus"] == 2
    assert events[0]["type"] == "executor" and events[0]["message"].startswith("running on Ray: joined the Ray cluster")
    # 2. Every shot of the good rows is done; the bad rows failed alone, each with its reason and line.
    shots = result["shots"]
    assert shots["done"] == shots["total"] > 0 and shots["failed"] == 0
    assert sorted(result["done"]) == sorted(SKUS)
    reasons = {f["sku"]: (f["line"], f["reason"]) for f in result["failed"]}
    assert set(reasons) == {"BROKEN-1", "BIG-1"}
    assert "does not exist" in reasons["BROKEN-1"][1]
    assert reasons["BIG-1"] == (5, "the brief field is 1,049,999 characters long; the limit is 10,000 "
                                   "(a brief is a few sentences)")
    assert events[-1]["done"] == events[-1]["total"] == shots["total"]
    # 3. The driver journaled each shot once, with the node that ran it; the catalog holds exactly the
    #    shot's candidates, their images stored in the driver's asset store.
    units = journal_data(ws.home)
    assert len(units) == shots["total"] and all(u["node"] for u in units)
    for sku in SKUS:
        for shot in ws.catalog.latest_plan(sku).shots:
            candidates = ws.catalog.candidates(sku, shot.id)
            assert len(candidates) == shot.count
            assert all(ws.assets.exists(c.asset_id) and ws.catalog.latest_critique(c.id) for c in candidates)


def test_the_local_and_ray_executors_make_the_same_images(ray_run, tmp_path):
    ws = quick_workspace(tmp_path / "home")
    result = run_batch(ws, ray_run["csv"], read_brief=read_brief, workers=2)
    assert result["executor"] == {"name": "local", "workers": 2}
    assert image_hashes(ws) == ray_run["hashes"] and len(ray_run["hashes"]) == result["shots"]["total"]
    ws.close()


class Killer(threading.Thread):
    """SIGKILLs Ray worker processes while they run a shot (Ray titles them `ray::<task name>`): the
    first shot it sees once, and the second shot it sees every time it is attempted."""

    def __init__(self):
        super().__init__(daemon=True)
        self.once: tuple[str, int] | None = None
        self.always: str | None = None
        self.kills: list[tuple[str, int]] = []
        self.stop = threading.Event()

    def run(self) -> None:
        while not self.stop.is_set():
            for pid in psutil.pids():
                # Read the title afresh each time: an idle worker (`ray::IDLE`) takes the next task's name.
                try:
                    title = " ".join(psutil.Process(pid).cmdline()).strip()
                except psutil.Error:
                    continue
                if not title.startswith("ray::shot "):
                    continue
                name = title.removeprefix("ray::")
                if self.once is None:
                    self.once = (name, pid)
                elif self.always is None and name != self.once[0]:
                    self.always = name
                if ((name, pid) == self.once or name == self.always) and (name, pid) not in self.kills:
                    os.kill(pid, signal.SIGKILL)
                    self.kills.append((name, pid))
            time.sleep(0.02)


def test_a_worker_killed_mid_shot_is_retried_and_one_that_keeps_dying_fails_alone(local_ray, tmp_path):
    csv_path = write_catalog(tmp_path / "in")
    ws = quick_workspace(tmp_path / "home")
    killer = Killer()
    killer.start()
    try:
        result = run_batch(ws, csv_path, read_brief=read_brief, executor="ray")
    finally:
        killer.stop.set()
        killer.join()
    assert killer.once and killer.always, f"the shots ran too fast to be seen: {killer.kills}"
    once_name, once_pid = killer.once
    # 1. The shot killed once was run again on another worker and finished.
    units = {f"shot {u['sku']} {u['role']}": u for u in journal_data(ws.home)}
    assert units[once_name]["pid"] != once_pid
    # 2. The shot killed on every attempt was tried 1 + MAX_RETRIES times, then failed with its reason.
    assert sum(1 for name, _ in killer.kills if name == killer.always) == 1 + MAX_RETRIES
    [failure] = result["failed"]
    assert f"shot {failure['sku']} {ws.catalog.get_shot(failure['shot']).role.value}" == killer.always
    assert failure["reason"] == died_reason(1 + MAX_RETRIES) and failure["stage"] == "shot"
    # 3. The rest of the batch went on: every other shot is done, with exactly its candidates.
    shots = result["shots"]
    assert shots["failed"] == 1 and shots["done"] == shots["total"] - 1
    assert killer.always not in units and len(units) == shots["total"] - 1
    assert result["done"] == [sku for sku in SKUS if sku != failure["sku"]]
    for sku in SKUS:
        for shot in ws.catalog.latest_plan(sku).shots:
            expected = 0 if shot.id == failure["shot"] else shot.count
            assert len(ws.catalog.candidates(sku, shot.id)) == expected
    ws.close()


def test_a_killed_ray_driver_resumes_without_redoing_or_losing_a_shot(local_ray, tmp_path):
    csv_path = write_catalog(tmp_path / "in")
    home = tmp_path / "home"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
           "LISTING_STUDIO_MAX_RERENDERS": "0"}
    # 1. The real command joins the module's Ray instance; SIGKILL it once the journal holds a shot.
    process = subprocess.Popen(
        [sys.executable, "-m", "ui.cli", "--home", str(home), "batch", str(csv_path), "--executor", "ray",
         "--address", local_ray], cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stderr = kill_once_a_shot_is_done(process, home, 180, process.kill)
    assert process.returncode == -signal.SIGKILL
    assert b"running on Ray: joined the Ray cluster at" in stderr
    done_before, candidates_before = finished_units(home), candidate_ids(home)

    # 2. The same batch again: the finished shots are kept as they were, the others are made once.
    ws = quick_workspace(home)
    result = run_batch(ws, csv_path, read_brief=read_brief, executor="ray")
    shots = result["shots"]
    assert shots["done"] == shots["total"] and shots["resumed"] >= len(done_before) and not result["failed"]
    after, candidates_after = finished_units(home), candidate_ids(home)
    for key, finished_at in done_before.items():
        assert after[key] == finished_at, f"{key} was produced again"
        assert candidates_after[key[1]] == candidates_before[key[1]]
    for sku in SKUS:
        plan = ws.catalog.latest_plan(sku)
        assert plan.version == 1
        assert [len(ws.catalog.candidates(sku, s.id)) for s in plan.shots] == [s.count for s in plan.shots]
    assert len(after) == shots["total"]
    ws.close()


def test_workers_that_cannot_import_the_project_are_reported_before_any_unit_runs(local_ray, tmp_path, monkeypatch):
    import tools.batch_ray
    from tools.errors import EngineUnavailable

    # A worker machine without the project (or with another version of it) fails to import a module: the
    # run says so before it stores anything, instead of failing every unit one by one.
    monkeypatch.setattr(tools.batch_ray, "WORKER_MODULES", (*tools.batch_ray.WORKER_MODULES, "listing_studio_absent"))
    csv_path = write_catalog(tmp_path / "in", skus=("DEMO-RING",))
    ws = quick_workspace(tmp_path / "home")
    with pytest.raises(EngineUnavailable, match=r"the Ray workers cannot run Listing Studio \(ModuleNotFoundError: "
                                                r"No module named 'listing_studio_absent'\); .*pip install"):
        run_batch(ws, csv_path, read_brief=read_brief, executor="ray")
    assert not ws.catalog.has_product("DEMO-RING")
    assert ray.is_initialized()  # the module's instance it joined is left running
    ws.close()


def test_diffusion_shots_run_in_an_actor_that_loaded_the_pipeline_when_it_started(local_ray, tmp_path):
    from tiny_diffusers import tiny_model

    from tools.errors import BadInput
    from tools.settings import Settings

    csv_path = write_catalog(tmp_path / "in", skus=("DEMO-RING",), brief="1 candidate each, no campaign")
    model = tiny_model("sd-inpaint")
    ws = Workspace.open(Settings.from_env({}, home=tmp_path / "home", max_rerenders=0, engine="diffusers",
                                          diffusion_model=str(model)))
    # This instance has no GPU: asking for one per worker is refused before anything runs.
    with pytest.raises(BadInput, match=r"--gpus-per-worker 1, but the Ray cluster has 0 GPU\(s\)"):
        run_batch(ws, csv_path, read_brief=read_brief, executor="ray", gpus_per_worker=1)
    assert not ws.catalog.has_product("DEMO-RING")
    # The lifestyle shot goes to a diffusion actor (no GPU here: 0 per worker), which loaded the
    # pipeline when it started; the engine found it loaded (no second load). Studio shots are tasks.
    result = run_batch(ws, csv_path, read_brief=read_brief, executor="ray", workers=1)
    assert not result["failed"] and result["shots"]["done"] == result["shots"]["total"]
    assert result["executor"]["diffusion_workers"] == 1 and result["executor"]["gpus_per_worker"] == 0
    units = journal_data(ws.home)
    [lifestyle] = [u for u in units if u["role"] == "lifestyle"]
    assert lifestyle["pipeline_reused"] is True
    assert lifestyle["pipeline_load"]["device"] == "cpu" and lifestyle["pipeline_load"]["seconds"] > 0
    assert all("actor_pid" not in u for u in units if u["role"] != "lifestyle")
    candidates = ws.catalog.candidates("DEMO-RING", lifestyle["shot"])
    assert [c.engine for c in candidates] == ["diffusers"] and candidates[0].model == str(model)
    ws.close()


def test_a_two_node_cluster_shares_the_shots_and_makes_the_same_images(ray_run, tmp_path):
    from ray.cluster_utils import Cluster

    # Leave the module's instance: the batch joins the cluster by its address, as a user would.
    ray.shutdown()
    cluster = Cluster(initialize_head=True, head_node_args={"num_cpus": 1, "object_store_memory": OBJECT_STORE,
                                                            "include_dashboard": False})
    try:
        cluster.add_node(num_cpus=1, object_store_memory=OBJECT_STORE)
        cluster.wait_for_nodes()
        ws = quick_workspace(tmp_path / "home")
        result = run_batch(ws, ray_run["csv"], read_brief=read_brief, executor="ray", address=cluster.address)
        assert not ray.is_initialized()  # the batch left the cluster it joined
        assert result["executor"]["nodes"] == 2 and result["executor"]["cpus"] == 2
        shots = result["shots"]
        assert shots["done"] == shots["total"] == len(ray_run["hashes"])
        nodes = [u["node"] for u in journal_data(ws.home)]
        assert len(set(nodes)) == 2, f"one node did every shot: {nodes}"
        assert image_hashes(ws) == ray_run["hashes"]
        ws.close()
    finally:
        cluster.shutdown()
