"""The graph's typed state: plain JSON-able data (ids, texts, model dumps), never images or handles.

One `StudioState` per conversation thread, persisted by the SQLite checkpointer after every step.
`ShotTask` is the input of one production branch (one `Send` per shot).
"""

from __future__ import annotations

import operator
from typing import Annotated, NotRequired, TypedDict


def merge_results(old: dict | None, new: dict | None) -> dict:
    """Reducer for per-shot results written by parallel branches: newer lists replace a shot's older one.

    `{"__reset__": True}` clears the map (start of a production round).
    """
    old = dict(old or {})
    if not new:
        return old
    if new.get("__reset__"):
        return {k: v for k, v in new.items() if k != "__reset__"}
    old.update(new)
    return old


class StudioState(TypedDict, total=False):
    # the turn's input (the UI / CLI fill these)
    text: str
    images: list[str]                 # paths of photos uploaded with this message (already validated)
    sku: str | None
    category: str | None
    channels: list[str]
    auto_approve: bool
    # the conversation
    messages: Annotated[list[dict], operator.add]   # {"role": "user"|"assistant", "text"}
    intent: str
    brief: dict | None                # Brief.model_dump(mode="json")
    conversation_sku: str | None      # the product this conversation works on (a new photo may start another)
    notices: list[str]                # things the user should know (fallbacks, missing assets)
    ask: str | None                   # a question for the user (category or photo missing)
    asks: int                         # questions asked in this turn (bounded)
    gave_up: bool                     # asked max_asks times: the reply says what is still missing
    # plan and production
    plan: dict | None                 # GalleryPlan.model_dump(mode="json")
    to_produce: list[str]             # shot ids to render in this round
    remade: list[str]                 # ... of which shots made again unchanged, from a corrected cutout
    results: Annotated[dict, merge_results]  # shot id -> [candidate summary]
    revisions: int                    # change-request rounds in this review (bounded)
    review: dict | None               # the last review payload shown
    carried: list[dict]               # candidates still waiting for review across a plan edit (shown again)
    decisions: dict | None            # the resume value of the review interrupt
    rereview: bool                    # the last message decided nothing: show the same review again
    published: list[dict]
    answer: str                       # the reply of this turn


class ShotTask(TypedDict):
    """Input of one production branch."""

    sku: str
    shot: dict                        # Shot.model_dump(mode="json")
    remake: NotRequired[bool]         # made again unchanged (a corrected cutout): a change it carries was answered
