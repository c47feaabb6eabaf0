"""The run-time context every node receives (LangGraph `context_schema`): the open workspace, the brief
reader, and bounds. Not checkpointed: it holds handles, the state holds data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from tools.workspace import Workspace


@dataclass
class StudioContext:
    ws: Workspace
    reader: object = field(default=None)      # agent.llm.BriefReader; None -> built from ws.settings
    max_revisions: int = 3                    # change-request rounds per review
    max_asks: int = 2                         # questions per turn before giving up politely

    def __post_init__(self):
        if self.reader is None:
            from agent.llm import BriefReader

            self.reader = BriefReader(self.ws.settings)

    @property
    def max_rerenders(self) -> int:
        return self.ws.settings.max_rerenders
