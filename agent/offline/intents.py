"""Offline intent routing and chat edits: what a message asks for, plan edits, decisions in words.

Intent is decided by what a message asks for, not by its punctuation: word rules (with negation scope:
"don't publish yet" is not a publish) score each intent; when they do not settle it, the message is
compared by meaning (the shipped MiniLM model) with labelled examples in prompts/chat/intents.toml, and
when two intents stay close the reader asks one short question. The brief's content is read by
`agent.offline.reader`; the word mechanisms live in `agent.offline.words`.
"""

from __future__ import annotations

import re
import threading
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Literal

from agent.offline.reader import (
    aspect_mentions,
    find_mood,
    find_product_type,
    find_roles,
    find_skus,
    role_mentions,
)
from agent.offline.words import clause_end, clause_start, find_counts, negated, normalize, only_spans
from prompts import load
from tools.models import GalleryPlan, Role
from tools.plan import PlanEdit, ShotAdd, ShotRef

Intent = Literal["gallery", "change_plan", "campaign", "question", "status", "publish"]
ROUTES = {"gallery": "gallery", "change_plan": "edit", "campaign": "edit", "question": "question", "status": "status",
          "publish": "publish"}  # intents that take the same path through the graph
SETTLED = 2.0      # a rule score this high settles the intent without the similarity model
CLOSE = 0.04       # two intents this close make the reader ask; inside the margins the dev half leaves equal (bench_agent --calibrate)
MIN_SIMILARITY = 0.4  # below this the nearest examples say nothing ("hello there" is near no intent)

_STATUS = re.compile(r"\b(?:status|progress|where are we|how far(?: along)?|how(?:'s| is) it going|done yet|are (?:we|you) done|"
                     r"ready yet|still working|eta|what's happening)\b")
_PUBLISH = re.compile(r"\b(?:publish|export|push (?:it|them|the \w+(?: ones)?|everything|these|those)\b.*\bto|"
                      r"send (?:it|them|the \w+|everything|these|those)\b.*\bto|go(?:es)? live|upload (?:it |them )?to|"
                      r"(?:put|make|set|get|take) (?:it|them|this|these|those|everything|the \w+(?: ones)?) live|"
                      r"(?:put|list) (?:it|them|this|these|those|everything) (?:up )?on (?=\w)|"
                      r"make the packs?|channel packs?|ship it)\b")
_QUESTION = re.compile(r"\b(?:missing|still need|still needs|still lack|lacks?|lacking|what's left|left to (?:shoot|do|make)|"
                       r"coverage|outstanding|which (?:skus?|products?|items?|listings?)|any (?:products?|skus?|items?|listings?)|"
                       r"how many|find|search|look up|lookup|do we have|do i have|is there|are there|show me|list (?:the )?"
                       r"(?:skus?|products?|items?)|what (?:images|photos|shots) does|ready to go live|ready for|complete\?|"
                       r"is \S+ complete|in the catalog|if we have|have we got|do we stock|do we sell|do we carry|"
                       r"have (?:we|you) (?:already )?(?:shot|photographed|done|made|got|listed))\b")
_STATE_QUESTION = re.compile(r"^\s*(?:is|are|does|do|has|have|what|which|how)\b")
_EDIT_VERBS = re.compile(r"\b(?:add|drop|remove|delete|skip|lose|cut|scrap|get rid of|ditch|swap|replace|switch|instead|"
                         r"more|fewer|less|another|extra|make (?:it|them|the|those|these)|give me|let's not|no more|"
                         r"change|redo|re-?render|can we (?:get|see|have|do)|i want|we want|we need|i need|do a|want a|"
                         r"take out|take off|take away|leave out|"
                         r"(?:can|could|should) (?:the|it|they|these|those|we) (?:[\w:-]+ ){0,3}(?:be|go|have|look)|"
                         r"x\d|\d ?x)\b")


@lru_cache(maxsize=1)
def _surfaces() -> dict[str, str]:
    """Surface words a person types -> the renderer's surface (prompts/chat/vocabulary.toml [surfaces])."""
    from agent.offline.words import vocabulary

    return dict(vocabulary().get("surfaces", {}))


def surface_asked(low: str) -> str | None:
    """The surface a message puts a shot on ("on a marble surface", "against wood"), as the renderer names it."""
    words = _surfaces()
    if not words:
        return None
    alternation = "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))
    m = re.search(rf"\b(?:on|onto|against|over)\s+(?:an?\s+|the\s+|some\s+)?(?:[\w-]+\s+)?({alternation})\b", low)
    return words[m.group(1)] if m else None


def look_change(low: str) -> tuple[list[str], dict]:
    """(change requests of tools.looks read in the words, look overrides such as a surface) of one message."""
    from tools.looks import read_change

    surface = surface_asked(low)
    return read_change(low).changes, ({"surfaces": [surface]} if surface else {})


@lru_cache(maxsize=1)
def intent_examples() -> dict:
    """prompts/chat/intents.toml, parsed once."""
    return tomllib.loads(load("chat/intents.toml"))


@dataclass
class IntentReading:
    intent: Intent
    scores: dict[str, float]
    source: Literal["rules", "meaning"] = "rules"
    question: str | None = None      # one short question when two intents are close


def rule_scores(low: str, *, has_plan: bool, has_images: bool, names_sku: bool = False) -> dict[str, float]:
    """Evidence for each intent from the words (0 = none). A cue governed by a negator counts against it."""
    scores = dict.fromkeys(ROUTES, 0.0)

    def cue(pattern: re.Pattern) -> float:
        hits = list(pattern.finditer(low))
        if not hits:
            return 0.0
        return 0.0 if all(negated(low, m.start()) or re.search(r"\b(?:don't|do not|not)\s+(?:\w+\s+)?$",
                                                              low[:m.start()]) for m in hits) else 2.0

    refs = role_mentions(low) or aspect_mentions(low)
    changes, look = look_change(low)
    mood = find_mood(low) != ("", "") or bool(changes) or bool(look)
    counts = find_counts(low)
    scores["status"] = cue(_STATUS)
    scores["publish"] = cue(_PUBLISH)
    scores["question"] = cue(_QUESTION)
    if scores["publish"] and scores["question"] and _STATE_QUESTION.search(low):
        scores["publish"] = 0.5  # "is EAR-7 ready to go live on amazon?" asks about the catalog
    if scores["question"] and _STATE_QUESTION.search(low):
        scores["question"] += 1.0  # "which SKUs have no try-on?" asks, even with a role in it
    if names_sku and not refs:
        scores["question"] += 0.5
    if has_plan:
        edit = _EDIT_VERBS.search(low) is not None or any(negated(low, a) for a, *_ in refs)
        if edit and (refs or mood or counts):
            scores["change_plan"] = 2.5 if refs else 2.0
        elif refs and (mood or counts):
            scores["change_plan"] = 2.0
        elif mood and re.search(r"\b(?:make|more|less|feel|vibe|look|mood|version|style)\b", low):
            scores["change_plan"] = 1.5
        if (re.search(r"\bcampaign|\bvariants?\b|\bads?\b|\bsocial\b", low) and (aspect_mentions(low) or mood or counts)
                and not re.search(r"\b(?:add|drop|remove|delete|skip|swap|replace|lose|cut|scrap)\b", low)):
            scores["campaign"] = max(scores["change_plan"], 2.0) + 0.1
        if scores["campaign"] or scores["change_plan"]:
            scores["question"] = max(0.0, scores["question"] - 1.0) if not _STATE_QUESTION.search(low) else scores["question"]
    if has_images:
        scores["gallery"] = 3.0
    elif not has_plan:
        product = bool(find_product_type(low)) or bool(re.search(r"\b(?:ring|necklace|earrings|bracelet|watch|bag|dress)\b", low))
        if product and not scores["question"] and not scores["status"] and not scores["publish"]:
            scores["gallery"] = 1.0
    return scores


class _Similarity:
    """Message-to-example similarity per intent with the MiniLM sentence model (loaded on first use)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._examples = None

    def scores(self, text: str, exclude: str | None = None) -> dict[str, float] | None:
        """Per intent, the mean similarity of its 3 nearest examples; `exclude` leaves one example text out
        (for measuring the examples themselves)."""
        try:
            from tools.index import _load_model

            model = _load_model("cpu")
        except Exception:  # the model is an aid: without it the rules decide alone
            return None
        import numpy as np

        with self._lock:
            if self._examples is None:
                examples = intent_examples()["examples"]
                labels = [k for k, texts in examples.items() for _ in texts]
                texts = [t for texts in examples.values() for t in texts]
                vectors = model.encode(texts, normalize_embeddings=True)
                self._examples = (labels, np.asarray(vectors), texts)
        labels, vectors, texts = self._examples
        query = model.encode([text], normalize_embeddings=True)[0]
        sims = vectors @ query
        out: dict[str, float] = {}
        for label in dict.fromkeys(labels):
            mine = sorted((float(s) for lab, s, t in zip(labels, sims, texts, strict=True) if lab == label and t != exclude),
                      reverse=True)
            out[label] = sum(mine[:3]) / len(mine[:3])
        return out


_similarity = _Similarity()


def read_intent(text: str, *, has_plan: bool = False, has_images: bool = False) -> IntentReading:
    """The intent of one message, with the scores that decided it and, when two routes stay close, one short question."""
    # 1. Rules (a photo with a message always means building a gallery)
    text = normalize(text)
    low = text.lower().strip()
    scores = rule_scores(low, has_plan=has_plan, has_images=has_images, names_sku=bool(find_skus(text)))
    if has_images:
        return IntentReading("gallery", scores)
    best = max(scores, key=scores.get)
    top = sorted(scores.values(), reverse=True)
    if top[0] >= SETTLED and (top[1] < top[0] or ROUTES[best] == ROUTES[_second(scores, best)]):
        return IntentReading(_edit_kind(best, scores), scores)

    # 2. Meaning: similarity to the labelled examples, added to the rules' evidence
    sims = _similarity.scores(text)
    if sims is None or max(sims.values()) < MIN_SIMILARITY:
        return IntentReading(_fallback(best, scores), scores)
    first, second, combined = combine(scores, sims, has_plan=has_plan)
    question = None
    if combined[first] - combined[second] < CLOSE and max(scores.values()) < SETTLED:
        phrases = intent_examples()["phrases"]
        question = intent_examples()["question"].format(a=phrases[first], b=phrases[second])
    return IntentReading(_edit_kind(first, combined), combined, "meaning", question)


def combine(scores: dict[str, float], sims: dict[str, float], *, has_plan: bool) -> tuple[str, str, dict[str, float]]:
    """The rules' evidence and the examples' similarity combined: (best intent, the best one of another route,
    the combined scores). CLOSE is the margin between the two below which the reader asks."""
    if not has_plan:
        sims = {k: (v - 0.3 if k in ("change_plan", "campaign") else v) for k, v in sims.items()}
    combined = {k: scores[k] * 0.25 + sims.get(k, 0.0) for k in scores}
    ranked = sorted(combined, key=combined.get, reverse=True)
    return ranked[0], next(k for k in ranked[1:] if ROUTES[k] != ROUTES[ranked[0]]), combined


def _second(scores: dict[str, float], best: str) -> str:
    return sorted((k for k in scores if k != best), key=scores.get, reverse=True)[0]


def _edit_kind(intent: str, scores: dict[str, float]) -> Intent:
    if intent == "change_plan" and scores.get("campaign", 0) >= scores["change_plan"]:
        return "campaign"
    return intent  # type: ignore[return-value]


def _fallback(best: str, scores: dict[str, float]) -> Intent:
    """Without the similarity model (or with nothing near): the rules' best, else a gallery (the nodes ask)."""
    return _edit_kind(best, scores) if scores[best] > 0 else "gallery"


def classify_intent(text: str, *, has_plan: bool = False, has_images: bool = False) -> Intent:
    """Route one user message (see `read_intent`)."""
    return read_intent(text, has_plan=has_plan, has_images=has_images).intent


@dataclass
class Question:
    kind: Literal["missing", "lacking_role", "find", "catalog"]
    sku: str | None = None
    role: Role | None = None
    query: str = ""


def parse_question(text: str) -> Question:
    """'what's missing for SKU-123?', 'which SKUs have no try-on?', 'find the blue sapphire ring', 'BAG-19 coverage'."""
    text = normalize(text)
    low = text.lower()
    skus = find_skus(text)
    m = re.search(r"\b(?:no|without|don't have|do not have|lack(?:ing|s)?|missing|not got|no approved)\s+(?:an?\s+|any\s+)?"
                  r"(?:approved\s+)?([\w-]+(?:\s[\w-]+)?)", low)
    if m and re.search(r"\bskus?\b|\bproducts?\b|\bitems?\b|\blistings?\b", low) and not skus:
        roles = [r for _, _, r in role_mentions(m.group(1))]
        if not roles:
            roles = [r for r in Role if r.value.replace("_", " ") in m.group(1) or r.value in m.group(1)]
        if roles:
            return Question("lacking_role", role=roles[0])
    if skus and not re.search(r"\b(?:find|search|look up|lookup)\b", low):
        return Question("missing", sku=skus[0])
    if re.search(r"\bmissing\b|\black|\bstill need|\bwhat(?:'s| is) left\b|\bcoverage\b|\boutstanding\b", low):
        return Question("missing", sku=skus[0] if skus else None)
    if re.search(r"\bhow many\b", low):
        return Question("catalog", query=text.strip(" ?.!"))
    m = re.search(r"\b(?:find(?: me)?|search(?: for)?|look up|lookup|look(?:ing)? for|show me|where is|do we have|do i have|"
                  r"is there|if we have|have we got|do we (?:stock|sell|carry)|got any|"
                  r"have (?:we|you) (?:already )?(?:shot|photographed|done|made|listed))\s+(.+)", text, flags=re.IGNORECASE)
    if m:
        query = re.split(r"[,;]|\bin the catalog\b|\bcan you\b|\bcan u\b|\bplease\b", m.group(1), flags=re.IGNORECASE)[0]
        query = re.sub(r"^(?:the|a|an|our|my|any|a version of the|a version of)\s+", "", query.strip(" ?.!"),
                       flags=re.IGNORECASE)
        return Question("find", sku=skus[0] if skus else None, query=query.strip(" ?.!"))
    m = re.match(r"\s*(?:is|are)\s+(?:the|a|an|our|my)\s+(.+?)\s+(?:in (?:the |our )?(?:catalog|system|shop|store|stock)|listed)\b", low)
    if m:  # "is the blue silk scarf in the catalog", "are the gold hoops listed"
        return Question("find", sku=skus[0] if skus else None, query=m.group(1))
    return Question("catalog", query=text.strip(" ?.!"))


# -- plan edits ----------------------------------------------------------------------------------------

_ADD_CUES = re.compile(r"\b(?:add|another|extra|second|include|also|too|plus|new|one more|as well)\b")
_MORE_BEFORE = re.compile(r"\bmore\s+(?:[\w'-]+\s+)?$")  # "more close-ups", "2 more detail shots"; not "more romantic"
_DEFINITE = re.compile(r"\b(?:the|that|those|these|this|existing|current|our)\s+(?:[\w:.'-]+\s+){0,2}$")
_ALL_EXCEPT = re.compile(r"\b(?:remove|drop|delete|cut|lose|scrap|get rid of|ditch|skip|no)\s+(?:of\s+)?(?:everything|"
                         r"all(?: the)?(?: other)?(?: shots| images)?|the rest)\s+(?:except|but|apart from|other than|besides|save)\b")
_SWAP = re.compile(r"\b(?:swap|replace|switch|trade|exchange|change)\s+(?P<old>.+?)\s+(?:for|with|to|into)\s+(?P<new>.+)")


@dataclass
class _Ref:
    start: int
    end: int
    role: Role
    aspect: str | None
    negated: bool


def _refs(low: str) -> list[_Ref]:
    """Every shot a message points at: role words and formats, a format word that is also a role word
    ("stories", "banner") counted once, and a bare "campaign" absorbed by the formats named beside it."""
    shots = tuple((a, e) for a, e, _ in role_mentions(low)) + tuple((a, e) for a, e, _, _ in aspect_mentions(low))
    aspects = [_Ref(a, e, Role.campaign, ratio, neg and negated(low, a, shots))
               for a, e, ratio, neg in aspect_mentions(low)]
    refs = list(aspects)
    for a, e, role in role_mentions(low):
        if any(x.start < e and a < x.end for x in aspects):
            continue
        refs.append(_Ref(a, e, role, None, negated(low, a, shots)))
    refs.sort(key=lambda r: r.start)
    for polarity in (True, False):
        if any(r.aspect for r in refs if r.negated is polarity):
            refs = [r for r in refs if not (r.negated is polarity and r.role is Role.campaign and r.aspect is None)]
    out: list[_Ref] = []
    for r in refs:
        if not any((o.role, o.aspect, o.negated) == (r.role, r.aspect, r.negated) for o in out):
            out.append(r)
    return out


def _exists(plan: GalleryPlan | None, ref: _Ref) -> bool:
    if plan is None:
        return False
    target = ShotRef(role=ref.role, aspect=ref.aspect)
    return any(target.matches(s) for s in plan.shots)


def parse_plan_edit(text: str, plan: GalleryPlan | None = None) -> PlanEdit:
    """'drop the lifestyle, add two 9:16 campaign shots with a winter mood' -> PlanEdit. With the current plan, a
    shot it already has is re-styled when the message points at it ("make the campaign ones darker",
    "3 versions of the 4:5 in a halloween mood"), and added when it asks for a new one ("add a 16:9 banner")."""
    low = normalize(text).lower()
    mood, season = find_mood(low)
    mood_words = ", ".join(x for x in (mood, season) if x)
    counts = find_counts(low)
    count = counts[0].value if counts else None
    changes, look = look_change(low)
    edit = PlanEdit(mood=mood_words, count=count, changes=changes, look=look)
    refs = _refs(low)

    # 1. "swap X for Y" / "replace X with Y": X goes (or is re-styled when Y only names a mood), Y comes; not a
    # "don't change anything else but add ..." (negated, or a clause break inside X)
    swap = _SWAP.search(low)
    if swap and (negated(low, swap.start()) or re.search(r"\b(?:don't|do not|not)\s+$", low[:swap.start()])
                 or clause_end(low, swap.start("old")) < swap.end("old")):
        swap = None
    swapped_new: list[_Ref] = []
    if swap:
        old = [r for r in refs if swap.start("old") <= r.start < swap.end("old")]
        new = [r for r in refs if r.start >= swap.start("new")]
        if old and new:
            edit.drop += [ShotRef(role=r.role, aspect=r.aspect) for r in old]
            swapped_new = new
        elif old:
            edit.restyle += [ShotRef(role=r.role, aspect=r.aspect) for r in old]
        refs = [r for r in refs if r not in old]

    # 2. Declined shots go; "drop the rest of the campaign" keeps only what is named positively
    for r in refs:
        if not r.negated:
            continue
        rest = re.search(r"\bthe rest\b(?:\s+of)?", low[clause_start(low, r.start):r.start])
        if rest and r.aspect is None:
            edit.drop_rest_of.append(r.role)
        else:
            edit.drop.append(ShotRef(role=r.role, aspect=r.aspect))
    if re.search(r"\b(?:drop|remove|skip|cut|lose|get rid of|scrap)\s+(?:all\s+)?the rest\b", low) and not edit.drop_rest_of:
        edit.drop_rest_of = [r.role for r in refs if r.negated and r.aspect is None]
        if not edit.drop_rest_of and not re.search(r"\bthe rest\s+of\b", low):
            # "keep the packshot and the campaign, drop the rest": all but the named go
            edit.drop_rest_of = _plan_roles(plan)

    # 2a. "remove everything except the packshot and the close-up": every other shot goes
    if _ALL_EXCEPT.search(low):
        named = [r for r in refs if not r.negated]
        edit.drop_rest_of = _plan_roles(plan)
        edit.keep += [ShotRef(role=r.role, aspect=r.aspect) for r in named]
        return edit

    # 2b. "1:1 only", "only the 9:16": the campaign keeps just the formats named, when the plan has them (not
    # "just add a 16:9"; "a campaign, 9:16 only" for a format the plan lacks says what the new shots are)
    only = [r for r in refs if not r.negated and r.aspect and _in_only_scope(low, r)]
    if only and all(_exists(plan, r) for r in only) and not edit.drop_rest_of and not _ADD_CUES.search(low):
        edit.drop_rest_of = [Role.campaign]
        edit.keep += [ShotRef(role=r.role, aspect=r.aspect) for r in only]
        refs = [r for r in refs if r not in only]

    # 2c. "only keep the packshot and the campaign", "just the packshot and the lifestyle": the plan keeps just the
    # shots named, when it has them and nothing is to be added
    only_roles = [r for r in refs if not r.negated and r.aspect is None and _in_only_scope(low, r)]
    if (only_roles and all(_exists(plan, r) for r in only_roles) and not edit.drop_rest_of and not edit.drop
            and not swapped_new and not _ADD_CUES.search(low) and not counts):
        edit.drop_rest_of = _plan_roles(plan)

    # 3. Shots named positively: added, re-styled, or kept
    for r in refs:
        if r.negated:
            continue
        if edit.drop_rest_of and r.role in edit.drop_rest_of:
            edit.keep.append(ShotRef(role=r.role, aspect=r.aspect))
            continue
        clause = low[clause_start(low, r.start):clause_end(low, r.end)]
        part = re.split(r"[,;.!?]", low[:r.start])[-1] + re.split(r"[,;.!?]", low[r.start:])[0]
        before = low[max(0, r.start - 30):r.start]
        add_cue = r in swapped_new or _ADD_CUES.search(part) is not None or _MORE_BEFORE.search(before) is not None
        definite = _DEFINITE.search(before) is not None or any(c.definite for c in counts)
        setting = re.search(r"\bin an?\s+(?:[\w'-]+\s+){0,2}$", before) is not None
        exists = _exists(plan, r)
        restyle_words = mood_words or changes or look
        if add_cue or not exists:
            edit.add.append(ShotAdd(role=r.role, aspect=r.aspect, count=count, mood=mood_words))
        elif definite or setting or (not counts and restyle_words):
            if restyle_words or count:
                edit.restyle.append(ShotRef(role=r.role, aspect=r.aspect))
            else:
                edit.keep.append(ShotRef(role=r.role, aspect=r.aspect))
        elif counts or mood_words or _EDIT_VERBS.search(clause):
            edit.add.append(ShotAdd(role=r.role, aspect=r.aspect, count=count, mood=mood_words))
    if edit.add or edit.restyle:
        edit.mood = mood_words  # applied to what was named, not to every scene
    return edit


def _plan_roles(plan) -> list[Role]:
    return list(dict.fromkeys(s.role for s in (plan.shots if plan else [])) or Role)


def _in_only_scope(low: str, ref: _Ref) -> bool:
    """Whether "only"/"just" restricts this shot word: inside an only-span, or right before "only"."""
    if any(a <= ref.start < b for a, b in only_spans(low)):
        return True
    return re.match(r"\s*(?:only|just)\b", low[ref.end:]) is not None and re.match(
        r"\s*(?:only|just)\s*(?:$|[,;.!?]|in\b|for\b|please\b)", low[ref.end:]) is not None


def campaign_additions(text: str, edit: PlanEdit, default_aspects=("1:1", "4:5", "9:16")) -> PlanEdit:
    """A campaign request that names no shot: one campaign shot per format named, else per default format."""
    if edit.add or edit.restyle or edit.drop or edit.drop_rest_of:
        return edit
    low = normalize(text).lower()
    aspects = [ratio for _, _, ratio, neg in aspect_mentions(low) if not neg] or list(default_aspects)
    adds = [ShotAdd(role=Role.campaign, aspect=a, count=edit.count, mood=edit.mood) for a in dict.fromkeys(aspects)]
    return edit.model_copy(update={"add": adds, "restyle": []})


def review_plan_edit(text: str, plan: GalleryPlan) -> PlanEdit | None:
    """A message typed while a review waits that adds or removes shots ("add a 16:9 banner", "no 9:16") rather
    than changing how a candidate looks ("no reflection on the hero", "make the background darker"): its edit,
    else None."""
    from tools.looks import read_change

    if read_change(text).understood:
        return None
    edit = parse_plan_edit(text, plan)
    if not (edit.add or edit.drop or edit.drop_rest_of):
        return None
    return edit if classify_intent(text, has_plan=True) in ("change_plan", "campaign") else None


# -- decisions typed while a review waits --------------------------------------------------------------

_CHANGE_CUES = re.compile(
    r"\b(?:make|change|more|less|warmer|cooler|brighter|darker|lighter|softer|harder|bigger|smaller|instead|redo|regenerate|"
    r"re-render|rerender|try again|another|different|closer|wider|tighter|move|remove|add|without|replace|no reflection|"
    r"reflection|shadow|backdrop|background|space|room|zoom|crop|needs?|should)\b")
_APPROVE = re.compile(r"\b(?:approve|accept|ok|okay|looks good|look good|lgtm|go ahead|perfect|great|love (?:it|them)|"
                      r"ship it|all good)\b")


@dataclass
class WordDecisions:
    approve: list[str] = field(default_factory=list)
    reject: list[str] = field(default_factory=list)
    change: dict[str, str] = field(default_factory=dict)  # candidate id -> request in words
    approve_passing: bool = False
    reject_all: bool = False


def parse_review_words(text: str, candidate_ids: list[str], shots_by_role: dict[str, list[str]] | None = None) -> WordDecisions:
    """Decisions typed in the chat while a review is pending: 'approve all', 'reject cand_x', 'make the lifestyle warmer'.
    "don't approve anything yet, make the campaign warmer" is a change request, not an approval."""
    low = normalize(text).lower().strip()
    out = WordDecisions()
    mentioned = [cid for cid in candidate_ids if cid.lower() in low]
    approvals = [m for m in _APPROVE.finditer(low) if not negated(low, m.start())
                 and not re.search(r"\b(?:don't|do not|not|never)\s+(?:\w+\s+)?$", low[:m.start()])]
    if approvals and not mentioned and not _CHANGE_CUES.search(low):
        out.approve_passing = True
        return out
    if re.search(r"\breject (?:all|everything|them|these|those|the lot|every one|each one)\b|\bnone of (?:them|these|those)\b|\breject them all\b|"
                 r"^\W*reject\W*$|,\s*reject\W*$", low) and not mentioned:
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
        if _QUESTION.search(low) and not _CHANGE_CUES.search(low):
            return out  # a question while the review waits
        mentions = role_mentions(low)
        if not (mentions or _CHANGE_CUES.search(low) or find_mood(low) != ("", "")):
            return out  # not a decision: small talk while the review waits
        # "the packshot's fine but the lifestyle needs a lighter background": only the lifestyle changes
        roles = [r for start, _, r in mentions if not _praised(low, start)]
        if mentions and not roles:
            if not _CHANGE_CUES.search(low):
                return out  # "the lifestyle is fine": praise is not a change request
            roles = [r for _, _, r in mentions]
        targets = []
        for role in roles:
            targets += (shots_by_role or {}).get(role.value, [])
        for cid in targets or candidate_ids:
            out.change[cid] = text
    return out


_CONTRAST = re.compile(r"[,;.!?]|\bbut\b|\bwhile\b|\bhowever\b|\bthough\b")  # where a part of a message ends
_PRAISE = re.compile(r"\b(?:fine|good|great|ok|okay|perfect|love(?:ly)?|nice|spot on|approved?|keep)\b")


def _praised(low: str, start: int) -> bool:
    """Whether the part of the message that names a shot at `start` says it is fine as it is."""
    clause = _CONTRAST.split(low[:start])[-1] + _CONTRAST.split(low[start:])[0]
    return _PRAISE.search(clause) is not None and not _CHANGE_CUES.search(clause)


__all__ = ["classify_intent", "read_intent", "parse_question", "parse_plan_edit", "parse_review_words", "review_plan_edit",
           "campaign_additions", "find_roles", "PlanEdit"]
