"""The graph: nodes wired with routers, compiled with the SQLite checkpointer of the home folder.

understand -> (intake [-> ask -> intake] -> plan | edit_plan) -> produce x N (Send) -> collect
-> (review -> apply_decisions [-> produce x N ...] | auto_approve) -> reply; answer / status / publish -> reply.
Loops are bounded: questions by StudioContext.max_asks, change rounds by max_revisions, re-renders by
Settings.max_rerenders (inside tools.production.produce_shot).
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Literal

from langgraph.graph import END, START, StateGraph
from langgraph.types import Send

from agent import intake as intake_nodes
from agent import planning, production, support
from agent.context import StudioContext
from agent.state import StudioState


def route_after_understand(state: StudioState) -> Literal["intake", "edit_plan", "answer", "status", "publish",
                                                          "reply"]:
    """By intent; a message between two intents ("clarify") gets its one short question as the reply."""
    return {"gallery": "intake", "change_plan": "edit_plan", "campaign": "edit_plan", "question": "answer",
            "status": "status", "publish": "publish", "clarify": "reply"}[state["intent"]]


def route_after_intake(state: StudioState) -> Literal["ask", "plan", "reply"]:
    """Ask while something is missing (bounded by StudioContext.max_asks: then the reply says what is missing)."""
    if state.get("ask"):
        return "reply" if state.get("gave_up") else "ask"
    return "plan"


def _sends(state: StudioState, remade: list[str] | None = None) -> list[Send]:
    shots = {s["id"]: s for s in (state.get("plan") or {}).get("shots", [])}
    again = set(remade or ())
    return [Send("produce", {"sku": state["sku"], "shot": shots[i], **({"remake": True} if i in again else {})})
            for i in state.get("to_produce") or [] if i in shots]


def route_after_plan(state: StudioState) -> list[Send] | Literal["reply"]:
    """One production branch per shot to render; nothing to render ends the turn."""
    return _sends(state) or "reply"


def route_after_collect(state: StudioState) -> Literal["review", "auto_approve", "reply"]:
    if not (state.get("review") or {}).get("candidates"):
        return "reply"
    return "auto_approve" if state.get("auto_approve") else "review"


def route_after_decisions(state: StudioState) -> list[Send] | Literal["review", "reply"]:
    """Change requests go back to production (bounded by max_revisions in apply_decisions); a message that
    decided nothing keeps the review open."""
    if state.get("rereview"):
        return "review"
    return _sends(state, state.get("remade")) or "reply"


def build_graph() -> StateGraph:
    builder = StateGraph(StudioState, context_schema=StudioContext)
    builder.add_node("understand", intake_nodes.understand)
    builder.add_node("intake", intake_nodes.intake)
    builder.add_node("ask", intake_nodes.ask)
    builder.add_node("plan", planning.plan)
    builder.add_node("edit_plan", planning.edit_plan)
    builder.add_node("produce", production.produce)
    builder.add_node("collect", production.collect)
    builder.add_node("review", production.review)
    builder.add_node("apply_decisions", production.apply_decisions)
    builder.add_node("auto_approve", production.auto_approve)
    builder.add_node("answer", support.answer)
    builder.add_node("status", support.status)
    builder.add_node("publish", support.publish)
    builder.add_node("reply", support.reply)

    builder.add_edge(START, "understand")
    builder.add_conditional_edges("understand", route_after_understand)
    builder.add_conditional_edges("intake", route_after_intake)
    builder.add_edge("ask", "intake")
    builder.add_conditional_edges("plan", route_after_plan, ["produce", "reply"])
    builder.add_conditional_edges("edit_plan", route_after_plan, ["produce", "reply"])
    builder.add_edge("produce", "collect")
    builder.add_conditional_edges("collect", route_after_collect)
    builder.add_edge("review", "apply_decisions")
    builder.add_conditional_edges("apply_decisions", route_after_decisions, ["produce", "review", "reply"])
    builder.add_edge("auto_approve", "reply")
    for node in ("answer", "status", "publish"):
        builder.add_edge(node, "reply")
    builder.add_edge("reply", END)
    return builder


_lock = threading.Lock()
_savers: dict[str, object] = {}


def checkpointer(path: Path):
    """One SqliteSaver per checkpoint file per process (WAL; shared by threads, each thread id separate)."""
    from langgraph.checkpoint.sqlite import SqliteSaver

    key = str(Path(path).resolve())
    with _lock:
        if key not in _savers:
            conn = sqlite3.connect(key, check_same_thread=False, timeout=30.0)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA busy_timeout=30000")
            conn.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: survives a killed process; no fsync per step
            saver = SqliteSaver(conn)
            saver.setup()
            _savers[key] = saver
        return _savers[key]


def compile_graph(checkpoints_path: Path):
    return build_graph().compile(checkpointer=checkpointer(checkpoints_path))


__all__ = ["build_graph", "compile_graph", "StudioContext"]
