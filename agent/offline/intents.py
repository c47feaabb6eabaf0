"""Offline intent routing and chat edits: what a message asks for, plan edits, decisions in words.

Rules only (no LLM): the same words always route the same way. The brief's content is read by
`agent.offline.reader`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal

from agent.offline.reader import (
    _NUM,
    _number,
    find_aspects,
    find_channels,
    find_mood,
    find_roles,
    find_skus,
)
from tools.models import Role

Intent = Literal["gallery", "change_plan", "campaign", "question", "status", "publish"]

_QUESTION_START = re.compile(
    r"^\s*(?:what|which|where|who|find|search|look up|lookup|show me|list|do we have|do i have|is there|are there|"
    r"how many|any)\b", re.IGNORECASE)
_EDIT_VERBS = re.compile(
    r"\b(?:drop|remove|delete|skip|add|replace|instead|change|swap out|more|fewer|less|another|extra|make (?:it|them|the)|"
    r"no more|without|switch|use)\b", re.IGNORECASE)


def classify_intent(text: str, *, has_plan: bool = False, has_images: bool = False) -> Intent:
    """Route one user message. Images with a message always mean building a gallery."""
    low = text.lower().strip()
    if has_images:
        return "gallery"
    if re.search(r"\b(?:status|progress|where are we|how far along|what's happening|are you done|done yet)\b", low):
        return "status"
    if re.search(r"\b(?:publish|export|push (?:it |them )?to|send (?:it |them )?to|make the pack|channel pack)\b", low):
        return "publish"
    if _QUESTION_START.search(low) or re.search(r"\bmissing\b|\bno (?:try-?on|lifestyle|packshot|detail|campaign)\b|\?$", low):
        if not (has_plan and _EDIT_VERBS.search(low) and not low.endswith("?")):
            return "question"
    roles, declined = find_roles(low)
    if has_plan and _EDIT_VERBS.search(low) and (roles or declined or find_aspects(low) or find_mood(low) != ("", "")):
        return "change_plan"
    if re.search(r"\bcampaign\b|\bvariants?\b", low) and has_plan and not re.search(r"\bgallery\b|\blisting\b", low):
        return "campaign"
    return "gallery"


@dataclass
class Question:
    kind: Literal["missing", "lacking_role", "find", "catalog"]
    sku: str | None = None
    role: Role | None = None
    query: str = ""


def parse_question(text: str) -> Question:
    """'what's missing for SKU-123?', 'which SKUs have no try-on?', 'find the blue sapphire ring'."""
    low = text.lower()
    skus = find_skus(text)
    m = re.search(r"\b(?:no|without|lack(?:ing)?|missing)\s+(?:an?\s+|any\s+)?(?:approved\s+)?([\w-]+(?:\s[\w-]+)?)", low)
    if m and re.search(r"\bskus?\b|\bproducts?\b|\bitems?\b|\blistings?\b", low):
        roles, _ = find_roles(m.group(1))
        if not roles:
            roles = [r for r in Role if r.value.replace("_", " ") in m.group(1) or r.value in m.group(1)]
        if roles:
            return Question("lacking_role", role=roles[0])
    if re.search(r"\bmissing\b|\black|\bstill need|\bwhat(?:'s| is) left\b|\bcoverage\b", low):
        return Question("missing", sku=skus[0] if skus else None)
    m = re.search(r"\b(?:find|search(?: for)?|look up|lookup|show me|where is|do we have|do i have|is there)\s+(.+)", text,
                  flags=re.IGNORECASE)
    if m:
        query = re.sub(r"^(?:the|a|an|our|my|any)\s+", "", m.group(1).strip(" ?.!"), flags=re.IGNORECASE)
        return Question("find", sku=skus[0] if skus else None, query=query)
    if skus:
        return Question("missing", sku=skus[0])
    return Question("catalog", query=text.strip(" ?.!"))


@dataclass
class PlanEdit:
    drop_roles: list[Role] = field(default_factory=list)
    add: list[dict] = field(default_factory=list)  # {"role", "count", "aspect", "mood"}
    mood: str = ""
    season: str = ""
    channels: list = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.drop_roles or self.add or self.mood or self.season or self.channels)


def parse_plan_edit(text: str) -> PlanEdit:
    """'drop the lifestyle, add two 9:16 campaign shots with a winter mood' -> PlanEdit."""
    low = text.lower()
    edit = PlanEdit()
    mood, season = find_mood(low)
    edit.mood, edit.season = mood, season
    edit.channels = find_channels(low)
    for clause in re.split(r"[,;.]|\band then\b|\bthen\b|\bplus\b|\balso\b|(?=\badd\b)|(?=\bdrop\b)|(?=\bremove\b)", low):
        clause = clause.strip()
        if not clause:
            continue
        asked, declined = find_roles(clause)
        for role in declined:
            if role not in edit.drop_roles:
                edit.drop_roles.append(role)
        if re.search(r"\b(?:add|more|another|extra|plus|include|also|want|need|make)\b", clause) or re.match(rf"{_NUM}\s", clause):
            m = re.search(rf"\b{_NUM}\s+(?:(?:more|new|extra|additional)\s+)?(?:[\w:'-]+\s+){{0,3}}?(?:shots?|images?|photos?|variants?|versions?|visuals?)\b", clause)
            count = _number(m.group(1)) if m else 1
            aspects = find_aspects(clause)
            roles = asked or ([Role.campaign] if aspects else [])
            for role in roles:
                for aspect in (aspects if role is Role.campaign and aspects else [aspects[0] if aspects else None]):
                    edit.add.append({"role": role, "count": max(1, min(count, 12)), "aspect": aspect,
                                     "mood": ", ".join(x for x in (mood, season) if x)})
    return edit


_CHANGE_CUES = re.compile(
    r"\b(?:make|change|more|less|warmer|cooler|brighter|darker|softer|bigger|smaller|instead|redo|regenerate|"
    r"re-render|rerender|try again|another|different|closer|wider|tighter|move|remove|add|without|replace)\b")


@dataclass
class WordDecisions:
    approve: list[str] = field(default_factory=list)
    reject: list[str] = field(default_factory=list)
    change: dict[str, str] = field(default_factory=dict)  # candidate id -> request in words
    approve_passing: bool = False
    reject_all: bool = False


def parse_review_words(text: str, candidate_ids: list[str], shots_by_role: dict[str, list[str]] | None = None) -> WordDecisions:
    """Decisions typed in the chat while a review is pending: 'approve all', 'reject cand_x', 'make the lifestyle warmer'."""
    low = text.lower().strip()
    out = WordDecisions()
    mentioned = [cid for cid in candidate_ids if cid.lower() in low]
    if re.search(r"\b(?:approve|accept|ok|looks good|lgtm|go ahead|publish)\b", low) and not mentioned:
        if re.search(r"\ball\b|\beverything\b|\bthem\b|\bpassing\b|\bgood ones\b|^(?:ok|approve|looks good|lgtm)\W*$", low):
            out.approve_passing = True
            return out
    if re.search(r"\breject (?:all|everything|them)\b|\bnone of them\b", low):
        out.reject_all = True
        return out
    for cid in mentioned:
        window = low[max(0, low.find(cid.lower()) - 30):low.find(cid.lower())]
        if re.search(r"reject|remove|drop|no\b|not\b", window):
            out.reject.append(cid)
        elif re.search(r"approve|accept|keep|yes|ok\b", window):
            out.approve.append(cid)
        else:
            out.change[cid] = text
    if not mentioned:
        roles, _ = find_roles(low)
        if not (roles or _CHANGE_CUES.search(low) or find_mood(low) != ("", "")):
            return out  # not a decision: a question or small talk while the review waits
        targets = []
        for role in roles:
            targets += (shots_by_role or {}).get(role.value, [])
        for cid in targets or candidate_ids:
            out.change[cid] = text
    return out
