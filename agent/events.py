"""Progress and chat events written to LangGraph's custom stream (the UI and CLI render them).

Shapes: a tools.progress event {"type": "progress", "title", "status", "message", sku?, shot?, done?, total?}, {"type": "reply", "text"},
{"type": "plan", "plan"}, {"type": "review", "payload"}, {"type": "published", "result"}, {"type": "error", "message"}.
"""

from __future__ import annotations

from typing import Literal

from tools.progress import progress_event


def _writer():
    from langgraph.config import get_stream_writer

    try:
        return get_stream_writer()
    except RuntimeError:  # called outside a graph run (unit use of a node function)
        return lambda _event: None


def emit(event: dict) -> None:
    _writer()(event)


def progress(title: str, status: Literal["running", "done", "failed"], message: str = "", **fields) -> None:
    """A tools.progress event (title, status, message, optional sku / shot / done / total) on the stream."""
    emit(progress_event(title, status, message, **fields))


def plan_event(plan: dict) -> None:
    emit({"type": "plan", "plan": plan})


def reply_event(text: str) -> None:
    emit({"type": "reply", "text": text})
