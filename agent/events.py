"""Progress and chat events written to LangGraph's custom stream (the UI and CLI render them).

Shapes: {"type": "progress", "title", "status": "running|done|failed", "message"}, {"type": "reply", "text"},
{"type": "plan", "plan"}, {"type": "review", "payload"}, {"type": "published", "result"}, {"type": "error", "message"}.
"""

from __future__ import annotations

from typing import Literal


def _writer():
    from langgraph.config import get_stream_writer

    try:
        return get_stream_writer()
    except RuntimeError:  # called outside a graph run (unit use of a node function)
        return lambda _event: None


def emit(event: dict) -> None:
    _writer()(event)


def progress(title: str, status: Literal["running", "done", "failed"], message: str = "") -> None:
    emit({"type": "progress", "title": title, "status": status, "message": message or title})


def plan_event(plan: dict) -> None:
    emit({"type": "plan", "plan": plan})


def reply_event(text: str) -> None:
    emit({"type": "reply", "text": text})
