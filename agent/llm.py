"""LLM access: reading a brief through any OpenAI-compatible endpoint (structured output negotiated per
endpoint by tools.llm_client: json_schema, then json_object + schema, then validated plain JSON; max_tokens
always sent), with retries and a fallback to the offline reader (and a notice that gives the server's
reason). The model's reading passes the same validation as the offline reader's before it is used.

Base URL, model, key, timeout and token limit come from Settings; nothing here reads the environment.
Without a configured endpoint the offline reader is used directly.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from agent.offline.reader import read_brief as offline_read_brief
from prompts import template
from tools.errors import BadInput
from tools.llm_client import Failed, StructuredClient
from tools.models import Brief, Category, Channel, Role, check_sku, normalize_category, normalize_channel
from tools.settings import Settings

ATTEMPTS = 2
BRIEF_TOKENS = 700      # a full Brief as JSON is ~300 tokens; the rest is headroom, never a runaway
REPLY_TOKENS = 400
_ASPECT = re.compile(r"^\d{1,2}(?:\.\d{1,2})?:\d{1,2}$")


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


def validate_model_brief(brief: Brief) -> tuple[Brief, list[str]]:
    """The checks the offline reader's output passes by construction, applied to a model's reading: a safe SKU,
    aspect ratios like 9:16, roles not both asked and declined, text fields of sane length. What fails is
    dropped with a notice, never used."""
    notices: list[str] = []
    updates: dict = {}
    if brief.sku is not None:
        try:
            check_sku(brief.sku)
        except BadInput:
            notices.append(f"ignored an invalid SKU {brief.sku!r} read from the brief")
            updates["sku"] = None
    bad = [a for a in brief.aspect_ratios if not _ASPECT.match(a)]
    if bad:
        notices.append(f"ignored aspect ratio(s) {', '.join(map(repr, bad))} read from the brief")
        updates["aspect_ratios"] = [a for a in brief.aspect_ratios if a not in bad]
    if set(brief.roles) & set(brief.exclude_roles):
        updates["roles"] = [r for r in brief.roles if r not in brief.exclude_roles]
    for name, limit in (("title", 120), ("product_type", 40), ("mood", 80), ("season", 40), ("brand_style", 80),
                        ("notes", 300)):
        value = getattr(brief, name)
        if len(value) > limit or re.search(r"[\x00-\x1f]", value):
            updates[name] = re.sub(r"[\x00-\x1f]", " ", value)[:limit]
    for name in ("materials", "colors", "brand_colors"):
        values = getattr(brief, name)
        if len(values) > 12 or any(len(v) > 40 for v in values):
            updates[name] = [v[:40] for v in values[:12]]
    return (brief.model_copy(update=updates) if updates else brief), notices


class BriefReader:
    """Reads briefs with the configured LLM, or offline. One per workspace/settings; thread-safe."""

    def __init__(self, settings: Settings):
        self.settings = settings
        self._structured = None

    @property
    def uses_llm(self) -> bool:
        return self.settings.llm_configured

    def structured(self) -> StructuredClient:
        if self._structured is None:
            self._structured = StructuredClient(self.settings.llm_base_url, self.settings.llm_api_key,
                                                self.settings.llm_timeout, self.settings.llm_max_tokens)
        return self._structured

    def client(self):
        return self.structured().client()

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

        # 2. Ask the model (the negotiation retries, and says when the server refused a structured-output mode)
        messages = [{"role": "system", "content": _system_prompt()}, {"role": "user", "content": text[:4000]}]
        try:
            answer = self.structured().ask(self.settings.llm_model, messages, Brief, max_tokens=BRIEF_TOKENS,
                                           attempts=ATTEMPTS)
        except Failed as exc:
            # 3. Fall back to the offline reader, and say why with the server's reason
            notice = (f"the language model at {self.settings.llm_base_url} did not give a usable answer "
                      f"({exc}); I read your brief with the offline reader instead")
            brief = offline_read_brief(text, sku=sku, category=explicit_category, channels=explicit_channels)
            return BriefResult(brief, "offline", [notice])
        brief, notices = validate_model_brief(answer.value)
        updates: dict = {}
        if sku is not None:
            updates["sku"] = sku
        if explicit_category:
            updates["category"] = explicit_category
        if explicit_channels:
            updates["channels"] = explicit_channels
        return BriefResult(brief.model_copy(update=updates), "llm", [*answer.notices, *notices])

    def phrase(self, facts: str) -> str:
        """The reply in friendlier words by the LLM (prompts/system/reply.md), or `facts` unchanged when no LLM is
        configured, it fails, or its text drops an id, SKU or number that the facts state."""
        if not self.uses_llm or not facts.strip():
            return facts
        system = template("system/reply.md")
        try:
            text = self.structured().text(self.settings.llm_model,
                                          [{"role": "system", "content": system.replace("{facts}", facts[:3000])}],
                                          max_tokens=REPLY_TOKENS)
        except Exception:  # phrasing is a nicety: any failure keeps the exact facts
            return facts
        tokens = set(re.findall(r"\b(?:cand|shot)_[0-9a-f]{12}\b|\b[A-Z][A-Z0-9]*-[A-Z0-9-]+\b|\b\d+(?:\.\d+)?\b", facts))
        if not text or len(text) > 4 * len(facts) + 400 or any(t not in text for t in tokens):
            return facts
        return text
