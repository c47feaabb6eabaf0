"""LLM access: reading a brief through any OpenAI-compatible endpoint with pydantic structured outputs,
with retries and a fallback to the offline reader (and a notice saying so).

Base URL, model, key and timeout come from Settings; nothing here reads the environment. Without a
configured endpoint the offline reader is used directly.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from pydantic import ValidationError

from agent.offline.reader import read_brief as offline_read_brief
from prompts import template
from tools.errors import BadInput
from tools.models import Brief, Category, Channel, Role, check_sku, normalize_category, normalize_channel
from tools.settings import Settings

ATTEMPTS = 2


@dataclass
class BriefResult:
    brief: Brief
    source: str            # "llm" or "offline"
    notices: list[str]


def _system_prompt() -> str:
    text = template("system/brief.md")
    return (text.replace("{categories}", ", ".join(c.value for c in Category))
                .replace("{channels}", ", ".join(c.value for c in Channel))
                .replace("{roles}", ", ".join(r.value for r in Role)))


class BriefReader:
    """Reads briefs with the configured LLM, or offline. One per workspace/settings; thread-safe."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._client = None

    @property
    def uses_llm(self) -> bool:
        return self.settings.llm_configured

    def client(self):
        if self._client is None:
            from openai import OpenAI

            self._client = OpenAI(base_url=self.settings.llm_base_url, api_key=self.settings.llm_api_key or "not-needed",
                                  timeout=self.settings.llm_timeout, max_retries=0)
        return self._client

    def read(self, text: str, *, sku: str | None = None, category: str | None = None, channels=()) -> BriefResult:
        """A Brief from plain words. Explicit sku/category/channels (form fields, flags) win over the text."""
        # 1. Check inputs (the explicit values are validated even when the LLM is used)
        explicit_category = normalize_category(category) if category else None
        explicit_channels = [normalize_channel(c) for c in channels]
        if sku is not None:
            check_sku(sku)
        if not self.uses_llm or not text.strip():
            return BriefResult(offline_read_brief(text, sku=sku, category=explicit_category, channels=explicit_channels),
                               "offline", [])

        # 2. Ask the model, retrying timeouts and replies that do not fit the schema
        errors: list[str] = []
        for _attempt in range(ATTEMPTS):
            try:
                brief = self._ask(text)
            except _Retryable as exc:
                errors.append(str(exc))
                continue
            notices = []
            updates: dict = {}
            if brief.sku is not None:
                try:
                    check_sku(brief.sku)
                except BadInput:
                    notices.append(f"ignored an invalid SKU {brief.sku!r} read from the brief")
                    updates["sku"] = None
            if sku is not None:
                updates["sku"] = sku
            if explicit_category:
                updates["category"] = explicit_category
            if explicit_channels:
                updates["channels"] = explicit_channels
            return BriefResult(brief.model_copy(update=updates), "llm", notices)

        # 3. Fall back to the offline reader, and say so
        notice = (f"the language model at {self.settings.llm_base_url} did not give a usable answer "
                  f"({errors[-1]}); I read your brief with the offline reader instead")
        brief = offline_read_brief(text, sku=sku, category=explicit_category, channels=explicit_channels)
        return BriefResult(brief, "offline", [notice])

    def phrase(self, facts: str) -> str:
        """The reply in friendlier words by the LLM (prompts/system/reply.md), or `facts` unchanged when no LLM is
        configured, it fails, or its text drops an id, SKU or number that the facts state."""
        import re

        if not self.uses_llm or not facts.strip():
            return facts
        system = template("system/reply.md")
        try:
            completion = self.client().chat.completions.create(
                model=self.settings.llm_model, temperature=0,
                messages=[{"role": "system", "content": system.replace("{facts}", facts[:3000])}],
            )
            text = (completion.choices[0].message.content or "").strip() if completion.choices else ""
        except Exception:  # phrasing is a nicety: any failure keeps the exact facts
            return facts
        tokens = set(re.findall(r"\b(?:cand|shot)_[0-9a-f]{12}\b|\b[A-Z][A-Z0-9]*-[A-Z0-9-]+\b|\b\d+(?:\.\d+)?\b", facts))
        if not text or len(text) > 4 * len(facts) + 400 or any(t not in text for t in tokens):
            return facts
        return text

    def _ask(self, text: str) -> Brief:
        import openai

        try:
            completion = self.client().chat.completions.parse(
                model=self.settings.llm_model,
                messages=[{"role": "system", "content": _system_prompt()},
                          {"role": "user", "content": text[:4000]}],
                response_format=Brief,
                temperature=0,
            )
        except openai.APITimeoutError:
            raise _Retryable("timed out") from None
        except openai.APIConnectionError as exc:
            raise _Retryable(f"connection failed: {exc}") from None
        except openai.APIStatusError as exc:
            raise _Retryable(f"HTTP {exc.status_code}") from None
        except (ValidationError, json.JSONDecodeError, ValueError) as exc:
            raise _Retryable(f"reply did not fit the Brief schema: {type(exc).__name__}") from None
        except openai.OpenAIError as exc:  # length / content-filter finish reasons
            raise _Retryable(type(exc).__name__) from None
        if not completion.choices:
            raise _Retryable("empty reply")
        message = completion.choices[0].message
        if getattr(message, "refusal", None):
            raise _Retryable(f"refused: {message.refusal[:100]}")
        if message.parsed is None:
            raise _Retryable("reply did not fit the Brief schema")
        return message.parsed


class _Retryable(Exception):
    pass
