"""Running the graph: `run_gallery` for the CLI (non-interactive) and `StudioAgent`, the conversation API
the UI uses (send a message, resume a review, look at a pending review). Both yield the same events.

One thread id per conversation; the state of every thread is checkpointed in <home>/checkpoints.sqlite,
so a conversation survives a restart (or a killed process) and resumes where it stopped.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from langgraph.types import Command

from agent.context import StudioContext
from agent.graph import compile_graph
from tools.errors import BadInput, ListingError, storage_problem
from tools.models import GalleryPlan, check_sku, normalize_category, normalize_channel
from tools.progress import progress_event
from tools.workspace import Workspace

_THREAD_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-:")


def _check_thread_id(thread_id: str) -> str:
    if not isinstance(thread_id, str) or not 1 <= len(thread_id) <= 128 or not set(thread_id) <= _THREAD_ID_CHARS:
        raise BadInput(f"invalid thread id {thread_id!r}: use 1-128 characters from A-Z a-z 0-9 . _ - :")
    return thread_id


class StudioAgent:
    """The conversation API: `send`, `resume`, `pending_review`. Safe to share between threads; each
    conversation (thread id) has its own state."""

    def __init__(self, ws: Workspace, *, reader=None):
        self.ws = ws
        self.graph = compile_graph(ws.checkpoints_path)
        self.context = StudioContext(ws=ws, reader=reader)
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    # -- public API --------------------------------------------------------------------------------

    def send(self, thread_id: str, text: str, images=(), sku: str | None = None, *, category: str | None = None,
             channels=(), auto_approve: bool = False) -> Iterator[dict]:
        """One user message (with optional photos). Yields progress/plan/review/reply/published/error events."""
        # 1. Check inputs at the boundary
        _check_thread_id(thread_id)
        if not isinstance(text, str):
            raise BadInput(f"text must be a string, got {type(text).__name__}")
        if sku is not None:
            check_sku(sku)
        if category:
            normalize_category(category)
        channels = [normalize_channel(c).value for c in channels]
        paths = [self._stored_path(image) for image in images]

        # 2. Work cut short by a crash is finished first (finished branches are in the checkpoint, not redone)
        snapshot = self.graph.get_state(self._config(thread_id))
        pending = _interrupt_value(snapshot)
        if snapshot.next and pending is None:
            yield progress_event("Resuming", "running", "finishing the work that was interrupted")
            yield from self._run(thread_id, None)
            pending = self._pending(thread_id)

        # 3. A pending question or review takes the message as its answer; otherwise a new turn starts. A photo
        #    sent while a review waits starts a new turn (it may be another product): the candidates waiting stay
        #    in the catalog, undecided
        if pending is not None and pending.get("kind") == "review" and paths:
            yield {"type": "progress", "title": "Checking the images", "status": "done",
                   "message": "a new photo arrived: the candidates waiting for review stay in the catalog, undecided"}
            pending = None
        if pending is not None:
            command = Command(resume={"text": text, "images": paths})
        else:
            command = {"text": text, "images": paths, "sku": sku, "category": category, "channels": channels,
                       "auto_approve": auto_approve}
            if sku is None:
                command.pop("sku")
        yield from self._run(thread_id, command)

    def resume(self, thread_id: str, decisions: list[dict]) -> Iterator[dict]:
        """Answer a pending review with decisions [{"candidate_id", "action": approve|reject|change, "note"}]."""
        _check_thread_id(thread_id)
        pending = self._pending(thread_id)
        if pending is None or pending.get("kind") != "review":
            raise BadInput(f"conversation {thread_id!r} has no review waiting")
        if not isinstance(decisions, list) or not all(isinstance(d, dict) for d in decisions):
            raise BadInput("decisions must be a list of {candidate_id, action, note}")
        yield from self._run(thread_id, Command(resume={"decisions": decisions}))

    def pending_review(self, thread_id: str) -> dict | None:
        """The review payload waiting for decisions in this conversation, or None."""
        _check_thread_id(thread_id)
        pending = self._pending(thread_id)
        return pending["payload"] if pending and pending.get("kind") == "review" else None

    def state(self, thread_id: str) -> dict:
        """The checkpointed state of a conversation (plain data)."""
        return dict(self.graph.get_state(self._config(thread_id)).values)

    # -- plumbing ----------------------------------------------------------------------------------

    def _config(self, thread_id: str) -> dict:
        return {"configurable": {"thread_id": thread_id}}

    def _pending(self, thread_id: str) -> dict | None:
        return _interrupt_value(self.graph.get_state(self._config(thread_id)))

    def _lock(self, thread_id: str) -> threading.Lock:
        with self._locks_guard:
            return self._locks.setdefault(thread_id, threading.Lock())

    def _stored_path(self, image) -> str:
        """Uploaded bytes become an asset (validated by the loader); paths pass as strings."""
        if isinstance(image, bytes | bytearray):
            from tools.assets import load_image

            loaded = load_image(bytes(image))
            return str(self.ws.assets.path(self.ws.assets.put_loaded(loaded)))
        if isinstance(image, str | Path):
            return str(image)
        raise BadInput(f"image must be a path or bytes, got {type(image).__name__}")

    def _run(self, thread_id: str, command) -> Iterator[dict]:
        lock = self._lock(thread_id)
        if not lock.acquire(blocking=False):
            yield {"type": "error", "message": f"conversation {thread_id} is busy with the previous message"}
            return
        try:
            for mode, chunk in self.graph.stream(command, self._config(thread_id), context=self.context,
                                                 stream_mode=["custom", "updates"], durability="async"):
                if mode == "custom":
                    yield chunk
                elif "__interrupt__" in chunk:
                    for intr in chunk["__interrupt__"]:
                        value = intr.value
                        if value.get("kind") == "review":
                            yield {"type": "review", "payload": value["payload"]}
                        else:
                            yield {"type": "reply", "text": value.get("question", ""), "ask": True}
        except ListingError as exc:
            yield {"type": "error", "message": str(exc), "exit_code": exc.exit_code}
        except Exception as exc:  # the conversation survives a bug in one step; the checkpoint keeps the state
            problem = storage_problem(exc, self.ws.home)  # a full disk or an unusable path, said as such
            if problem is not None:
                yield {"type": "error", "message": str(problem), "exit_code": problem.exit_code}
            else:
                yield {"type": "error", "message": f"unexpected error: {type(exc).__name__}: {exc}"}
        finally:
            lock.release()


def _interrupt_value(snapshot) -> dict | None:
    """The value of the interrupt a conversation waits on (question or review), or None."""
    for task in snapshot.tasks:
        for intr in task.interrupts:
            if isinstance(intr.value, dict):
                return intr.value
    return None


def run_gallery(ws: Workspace, *, images, sku: str, category: str | None = None, brief: str = "", channels=(),
                engine: str | None = None, model: str | None = None, auto_approve: bool = False,
                progress: Callable[[dict], None] | None = None, thread_id: str | None = None) -> dict:
    """The CLI's gallery: intake, plan, produce and check through the graph; stops at review unless auto_approve.

    Returns {"sku", "plan": [shot...], "candidates": [{"id","shot","role","path","verdict","score"}], ...}.
    """
    # 1. Check inputs
    check_sku(sku)
    if not images:
        raise BadInput("gallery needs at least one product photo")
    for image in images:
        if isinstance(image, str | Path) and not Path(image).is_file():
            raise BadInput(f"image {str(image)!r} does not exist or is not a file")
    if engine is not None or model is not None:
        ws = _with_settings(ws, engine=engine, diffusion_model=model)
    if ws.settings.engine == "diffusers":
        from tools.diffusion_render import require_model

        require_model(ws.settings)  # the engine asked for cannot run: say so before anything is stored

    # 2. Run one turn of a fresh conversation
    agent = StudioAgent(ws)
    thread_id = thread_id or f"gallery-{sku}-{uuid.uuid4().hex[:8]}"
    review, errors, question = None, [], None
    for event in agent.send(thread_id, brief or "", images=images, sku=sku, category=category, channels=channels,
                            auto_approve=auto_approve):
        if event["type"] == "review":
            review = event["payload"]
        elif event["type"] == "error":
            errors.append(event)
        elif event["type"] == "reply" and event.get("ask"):
            question = event["text"]
        if progress is not None and event["type"] == "progress":
            progress(event)
    if errors:
        error = ListingError(errors[0]["message"])
        error.exit_code = errors[0].get("exit_code", ListingError.exit_code)
        raise error

    # 3. The result (same JSON as tools.production.build_gallery)
    state = agent.state(thread_id)
    if question and not state.get("plan"):
        notices = "; ".join(state.get("notices") or [])
        raise BadInput(question + (f" ({notices})" if notices else ""))
    if not state.get("plan"):
        raise BadInput(state.get("answer") or "no gallery was planned")
    plan = GalleryPlan.model_validate(state["plan"])
    payload = review or state.get("review") or {"candidates": []}
    decisions = state.get("decisions") or {}
    return {
        "sku": sku,
        "plan": [s.model_dump(mode="json") for s in plan.shots],
        "not_planned": [n.model_dump(mode="json") for n in plan.not_planned],
        "candidates": [{k: c[k] for k in ("id", "shot", "role", "path", "verdict", "score")} | {"reasons": c["reasons"]}
                       for c in payload["candidates"]],
        "approved": list(decisions.get("approved", [])),
        "needs_review": review is not None,
        "thread_id": thread_id,
        "notices": state.get("notices") or [],
        "failures": payload.get("failures", []),
    }


def _with_settings(ws: Workspace, **changes) -> Workspace:
    """The same home with changed engine settings, sharing the open catalog and asset store."""
    other = Workspace(ws.settings.with_(**changes))
    other.__dict__["catalog"] = ws.catalog
    other.__dict__["assets"] = ws.assets
    return other
