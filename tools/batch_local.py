"""Where batch units run: the executor contract, and the default `local` executor (a process pool).

An executor runs `Task`s (a unit function and its arguments, see tools.batch_units) and hands back
`Outcome`s: the unit's Output, or one line saying why it failed. A unit whose worker dies (killed,
out of memory, its machine gone) is run again, at most `MAX_RETRIES` times, then reported failed;
the other units go on. Executors never touch the catalog or the journal: the driver (tools.batch)
does. The Ray executor lives in tools.batch_ray and is imported only when chosen.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from typing import Protocol

from pipelines.threads import limit_threads, thread_budget
from tools.errors import ListingError

MAX_RETRIES = 2  # a unit whose worker dies runs at most 1 + MAX_RETRIES times


@dataclass(eq=False)
class Task:
    """One unit to run: `fn(*args)` returns a tools.batch_units.Output."""

    kind: str  # "prepare" or "shot"
    sku: str
    fn: Callable
    args: tuple
    shot_id: str | None = None
    name: str = ""  # shown by the executor (Ray names its tasks and worker processes with it)
    gpu: bool = False  # a diffusion shot: runs where the pipeline stays loaded
    attempts: int = field(default=0, compare=False)


@dataclass
class Outcome:
    task: Task
    value: object | None = None
    error: str | None = None


class Executor(Protocol):
    name: str
    slots: int  # units that run at once

    def describe(self) -> str: ...  # one line for the progress display
    def info(self) -> dict: ...
    def share(self, value): ...  # a handle for a value many tasks take (Ray: the object store)
    def has_room(self) -> bool: ...
    def submit(self, task: Task) -> None: ...
    @property
    def busy(self) -> int: ...  # tasks submitted and not yet handed back
    def wait(self) -> list[Outcome]: ...  # blocks until at least one task ends (or was retried)
    def close(self) -> None: ...


def failure_reason(error: BaseException) -> str:
    """One line for a unit that raised: the user-facing message as is, else the exception's type."""
    if isinstance(error, ListingError):
        return str(error)
    first = str(error).strip().splitlines()[0] if str(error).strip() else ""
    return f"{type(error).__name__}: {first}" if first else type(error).__name__


def died_reason(attempts: int) -> str:
    return (f"the worker running it died {attempts} times (killed, out of memory, or its machine left); "
            "the rest of the batch went on")


class LocalExecutor:
    """Worker processes on this machine (spawned, so each starts clean); no Ray needed."""

    name = "local"

    def __init__(self, workers: int):
        self.slots = workers
        # each worker gets its share of the cores, or the budget the user set (LISTING_STUDIO_THREADS)
        self._threads = thread_budget() or max(1, (os.cpu_count() or 2) // workers)
        self._pool: ProcessPoolExecutor | None = None
        self._running: dict[Future, Task] = {}

    def describe(self) -> str:
        return f"running in {self.slots} worker process(es) on this machine"

    def info(self) -> dict:
        return {"name": self.name, "workers": self.slots}

    def share(self, value):
        return value

    def has_room(self) -> bool:
        # No more than one task per worker in the pool: when a worker dies, only the tasks that were
        # really running are charged an attempt.
        return len(self._running) < self.slots

    @property
    def busy(self) -> int:
        return len(self._running)

    def submit(self, task: Task) -> None:
        if self._pool is None:
            self._pool = ProcessPoolExecutor(max_workers=self.slots, mp_context=multiprocessing.get_context("spawn"),
                                             initializer=limit_threads, initargs=(self._threads,))
        try:
            future = self._pool.submit(task.fn, *task.args)
        except BrokenProcessPool as error:
            # A worker died since the last wait: the pool refuses new work. Hand the task to `wait` as lost
            # with the others (not charged an attempt: it never ran), which starts a new pool.
            future = Future()
            future.set_exception(error)
        else:
            task.attempts += 1
        self._running[future] = task

    def wait(self) -> list[Outcome]:
        finished, _ = wait(self._running, return_when=FIRST_COMPLETED)
        outcomes: list[Outcome] = []
        broken = False
        for future in finished:
            task = self._running.pop(future)
            try:
                outcomes.append(Outcome(task, value=future.result()))
            except BrokenProcessPool:
                broken = True
                self._running[future] = task  # handled with the others below
            except Exception as error:  # one unit failing never stops the others
                outcomes.append(Outcome(task, error=failure_reason(error)))
        if broken:
            # A worker process died: the pool is unusable and every task in it is lost. Start a new
            # pool and run them again, bounded.
            lost = list(self._running.values())
            self._running.clear()
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
            for task in lost:
                if task.attempts > MAX_RETRIES:
                    outcomes.append(Outcome(task, error=died_reason(task.attempts)))
                else:
                    self.submit(task)
        return outcomes

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=not self._running, cancel_futures=True)
            self._pool = None
