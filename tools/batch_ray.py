"""The `ray` executor: batch units on a Ray instance or cluster (`batch --executor ray`).

Row preparation and studio shots run as Ray tasks (one CPU each). Diffusion shots run in a pool of
actors that each load the diffusion pipeline once, when they start, with `num_gpus` from
`--gpus-per-worker` (default 1 when the cluster has GPUs), so a cluster of GPU machines renders in
parallel without reloading weights. Shared inputs (plates, a SKU's photos and cut-outs) go into
Ray's object store once and every unit of that SKU reads them from there. Before the first unit, one
task per worker slot imports the project, so start-up is paid once and a machine without the project
says so before any unit fails. A task or actor whose worker dies is retried by Ray (`MAX_RETRIES`),
then reported failed with its reason.

This module imports Ray at its top: tools.batch imports it only when the ray executor is chosen.
"""

from __future__ import annotations

import logging
import os
import time
from collections import deque

import ray
from ray import exceptions as ray_errors

from pipelines.threads import limit_threads
from tools.batch_local import MAX_RETRIES, Outcome, Task, died_reason, failure_reason
from tools.batch_units import WORKER_MODULES, worker_settings
from tools.errors import BadInput, EngineUnavailable
from tools.settings import Settings

WARM_UP_SECONDS = 120  # the longest the executor waits for its workers to start before the first unit

# Failures of the machinery rather than of the unit: the worker process or its node went away.
DIED = (ray_errors.WorkerCrashedError, ray_errors.RayActorError, ray_errors.NodeDiedError,
        ray_errors.ObjectLostError, ray_errors.OutOfMemoryError, ray_errors.LocalRayletDiedError)


def _threads() -> None:
    cpus = ray.get_runtime_context().get_assigned_resources().get("CPU", 1)
    limit_threads(max(1, int(cpus)))


@ray.remote(num_cpus=1, max_retries=MAX_RETRIES, retry_exceptions=False)
def run_unit(fn, *args):
    """A Ray task: one unit (prepare a row or produce a studio shot), tagged with the node it ran on."""
    _threads()
    output = fn(*args)
    output.info["node"] = ray.get_runtime_context().get_node_id()
    return output


@ray.remote(num_cpus=1, max_retries=0)
def warm_up(modules: tuple[str, ...]) -> str:
    """Import, in one worker process, what every unit runs."""
    import importlib

    _threads()
    for name in modules:
        importlib.import_module(name)
    return ray.get_runtime_context().get_node_id()


@ray.remote(max_restarts=MAX_RETRIES, max_task_retries=MAX_RETRIES)
class DiffusionWorker:
    """An actor that loads the diffusion pipeline once and produces diffusion shots with it."""

    def __init__(self, settings: Settings):
        _threads()
        self.settings = settings
        self.node = ray.get_runtime_context().get_node_id()
        self.pipeline = None
        self.load = self._load()

    def _load(self) -> dict:
        from pipelines import diffusion

        started = time.perf_counter()
        try:
            self.pipeline = diffusion.load_pipeline(self.settings.diffusion_model, device=self.settings.device)
        except Exception as error:  # the shot itself then says which model is missing and how to get it
            return {"error": failure_reason(error)}
        return {"seconds": round(time.perf_counter() - started, 3), "device": self.pipeline.device}

    def run(self, fn, *args):
        from pipelines import diffusion

        output = fn(*args)
        # The engine found the pipeline this actor loaded at its start (a cache hit costs nothing).
        reused = self.pipeline is not None and diffusion.load_pipeline(
            self.settings.diffusion_model, device=self.settings.device) is self.pipeline
        output.info.update(node=self.node, actor_pid=os.getpid(), pipeline_load=self.load, pipeline_reused=reused)
        return output


class RayExecutor:
    """Units on Ray: tasks for rows and studio shots, an actor pool for diffusion shots."""

    name = "ray"

    def __init__(self, settings: Settings, *, address: str | None = None, workers: int | None = None,
                 gpus_per_worker: float | None = None):
        self._refs: dict = {}  # ObjectRef -> (Task, actor or None): what is in flight
        self._actors: list = []
        self._idle: deque = deque()
        self._waiting: deque[Task] = deque()  # diffusion shots waiting for an actor

        # 1. Join the cluster, or start a local instance sized to the machine (or to --workers).
        self._connected_here = not ray.is_initialized()
        self.dashboard = None
        if self._connected_here:
            # A local instance we start sends no usage statistics unless the user opted in.
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            try:
                context = ray.init(address=address or "local", num_cpus=None if address else workers,
                                   logging_level=logging.WARNING, log_to_driver=False)
            except (ConnectionError, ValueError) as error:
                raise BadInput(f"cannot join the Ray cluster at {address!r} ({str(error).splitlines()[0]}); start "
                               "it with `ray start --head` or check --address / LISTING_STUDIO_RAY_ADDRESS") from None
            self.dashboard = context.dashboard_url or None
        else:
            self.dashboard = _dashboard_of_running_session()
        self.address = ray.get_runtime_context().gcs_address
        self.started_local = self._connected_here and not address

        # 2. What the cluster has, and how the diffusion pool is sized.
        resources = ray.cluster_resources()
        self.cpus = int(resources.get("CPU", 0))
        self.gpus = float(resources.get("GPU", 0))
        self.nodes = sum(1 for node in ray.nodes() if node.get("Alive"))
        self.slots = workers or max(1, self.cpus)
        self.gpus_per_worker = (1.0 if self.gpus else 0.0) if gpus_per_worker is None else float(gpus_per_worker)
        if self.gpus_per_worker > self.gpus:
            self.close()
            raise BadInput(f"--gpus-per-worker {self.gpus_per_worker:g}, but the Ray cluster has "
                           f"{self.gpus:g} GPU(s); use 0 to render on CPUs or add GPU machines")
        self.diffusion_workers = int(self.gpus // self.gpus_per_worker) if self.gpus_per_worker else self.slots
        self._settings = worker_settings(settings)
        self._window = 2 * self.slots  # units in flight: enough that no worker waits for the driver
        self._warm_up()

    # -- the executor contract (tools.batch_local.Executor) ----------------------------------------------

    def describe(self) -> str:
        where = "started a local Ray instance" if self.started_local else f"joined the Ray cluster at {self.address}"
        gpus = f", {self.gpus:g} GPU(s)" if self.gpus else ""
        dashboard = (f"; dashboard {_with_scheme(self.dashboard)}" if self.dashboard
                     else "; no dashboard running")
        return f"running on Ray: {where} ({self.nodes} node(s), {self.cpus} CPU(s){gpus}){dashboard}"

    def info(self) -> dict:
        return {"name": self.name, "address": self.address, "dashboard": _with_scheme(self.dashboard),
                "nodes": self.nodes, "cpus": self.cpus, "gpus": self.gpus, "workers": self.slots,
                "gpus_per_worker": self.gpus_per_worker, "diffusion_workers": self.diffusion_workers}

    def share(self, value):
        return ray.put(value)

    def has_room(self) -> bool:
        return len(self._refs) + len(self._waiting) < self._window

    @property
    def busy(self) -> int:
        return len(self._refs) + len(self._waiting)

    def submit(self, task: Task) -> None:
        task.attempts += 1
        if task.gpu:
            self._waiting.append(task)
            self._dispatch()
            return
        ref = run_unit.options(name=task.name or task.kind).remote(task.fn, *task.args)
        self._refs[ref] = (task, None)

    def wait(self) -> list[Outcome]:
        ready, _ = ray.wait(list(self._refs), num_returns=1)
        outcomes = []
        for ref in ready:
            task, actor = self._refs.pop(ref)
            try:
                outcomes.append(Outcome(task, value=ray.get(ref)))
                if actor is not None:
                    self._idle.append(actor)
            except ray_errors.RayTaskError as error:  # the unit raised: no retry, its reason as is
                outcomes.append(Outcome(task, error=failure_reason(error.cause) if error.cause is not None
                                        else str(error).strip().splitlines()[0]))
                if actor is not None:
                    self._idle.append(actor)
            except DIED:  # Ray retried it MAX_RETRIES times already
                outcomes.append(Outcome(task, error=died_reason(1 + MAX_RETRIES)))
                if actor is not None:  # its restarts are spent: a fresh actor takes its place
                    self._actors.remove(actor)
            except ray_errors.RayError as error:
                outcomes.append(Outcome(task, error=f"Ray: {str(error).strip().splitlines()[0]}"))
        self._dispatch()
        return outcomes

    def close(self) -> None:
        for ref, (_, actor) in self._refs.items():
            if actor is None:  # a task still running when the run stops (an actor goes with ray.kill)
                ray.cancel(ref, force=True)
        for actor in self._actors:
            ray.kill(actor)
        self._refs.clear()
        self._actors.clear()
        self._idle.clear()
        if self._connected_here and ray.is_initialized():
            ray.shutdown()

    def _warm_up(self) -> None:
        """Start the workers and import the project in them before the first unit, so that their start-up
        is paid here, once, in parallel, rather than inside the first units; and so that a cluster whose
        machines lack the project says so now. A busy cluster is not waited for beyond WARM_UP_SECONDS."""
        refs = [warm_up.remote(WORKER_MODULES) for _ in range(min(self.slots, max(1, self.cpus)))]
        ready, _ = ray.wait(refs, num_returns=len(refs), timeout=WARM_UP_SECONDS)
        for ref in ready:
            try:
                ray.get(ref)
            except ray_errors.RayError as error:
                cause = getattr(error, "cause", None)
                reason = failure_reason(cause) if cause is not None else str(error).strip().splitlines()[0]
                self.close()
                raise EngineUnavailable(
                    f"the Ray workers cannot run Listing Studio ({reason}); every machine of the cluster needs the "
                    'same version installed with its Ray extra: pip install "listing-studio[ray]"') from None

    # -- the diffusion pool ---------------------------------------------------------------------------

    def _dispatch(self) -> None:
        """Give waiting diffusion shots to idle actors; start actors (up to the pool size) as needed."""
        while self._waiting:
            if not self._idle and len(self._actors) < self.diffusion_workers:
                actor = DiffusionWorker.options(num_cpus=1, num_gpus=self.gpus_per_worker).remote(self._settings)
                self._actors.append(actor)
                self._idle.append(actor)
            if not self._idle:
                return
            task, actor = self._waiting.popleft(), self._idle.popleft()
            self._refs[actor.run.options(name=task.name).remote(task.fn, *task.args)] = (task, actor)


def _with_scheme(url: str | None) -> str | None:
    return url if not url or "://" in url else f"http://{url}"


def _dashboard_of_running_session() -> str | None:
    """The dashboard of a Ray session this process joined before the batch (a notebook, a test)."""
    try:
        from ray._private.worker import get_dashboard_url

        return get_dashboard_url() or None
    except Exception:  # a private helper of Ray: without it, no address to print
        return None
