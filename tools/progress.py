"""The one progress event every long step reports (rendering, diffusion, batch, the agent), and its callback type.

An event is a plain dict so it crosses processes and LangGraph's stream as is:
{"type": "progress", "title", "status": "running"|"done"|"failed", "message"} plus, when known,
"sku", "shot", "done", "total". The app and the CLI each handle this one shape.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Literal, NotRequired, TypedDict

Status = Literal["running", "done", "failed"]


class ProgressEvent(TypedDict):
    type: Literal["progress"]
    title: str
    status: Status
    message: str
    sku: NotRequired[str]
    shot: NotRequired[str]
    done: NotRequired[int]
    total: NotRequired[int]


ProgressCallback = Callable[[ProgressEvent], None]


def progress_event(title: str, status: Status = "running", message: str = "", *, sku: str | None = None,
                   shot: str | None = None, done: int | None = None, total: int | None = None) -> ProgressEvent:
    """Build a progress event; optional fields are left out when unknown."""
    event: ProgressEvent = {"type": "progress", "title": title, "status": status, "message": message or title}
    for key, value in (("sku", sku), ("shot", shot), ("done", done), ("total", total)):
        if value is not None:
            event[key] = value  # type: ignore[literal-required]
    return event


def report(callback: ProgressCallback | None, title: str, status: Status = "running", message: str = "",
           **fields) -> None:
    """Send one event to `callback` when there is one (the steps call this; None means nobody listens)."""
    if callback is not None:
        callback(progress_event(title, status, message, **fields))


def progress_line(event: dict) -> str:
    """One line for a terminal: "title: message (done/total)"."""
    count = f" ({event['done']}/{event['total']})" if "done" in event and "total" in event else ""
    title, message = event.get("title", ""), event.get("message", "")
    text = message if not title or message.startswith(title) else f"{title}: {message}"
    return text + count
