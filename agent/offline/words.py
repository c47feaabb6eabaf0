"""The word-level mechanisms of the offline reader: the vocabulary from `prompts/chat/vocabulary.toml`,
typo and run-together-word correction with a bounded edit distance, clause and negation scope, the
"only / just / that's it" scope, and the one count grammar every reader of counts uses.

Nothing here knows about briefs or plans; `agent.offline.reader` and `agent.offline.intents` build on it.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from functools import lru_cache

from prompts import load
from tools.models import CATEGORY_SYNONYMS, CHANNEL_SYNONYMS, Category, Channel


@lru_cache(maxsize=1)
def vocabulary() -> dict:
    """prompts/chat/vocabulary.toml, parsed once per process."""
    return tomllib.loads(load("chat/vocabulary.toml"))


# -- typo and abbreviation correction -------------------------------------------------------------------

def edit_distance(a: str, b: str, bound: int) -> int:
    """Optimal string alignment distance (insert, delete, substitute, swap two neighbours), or bound + 1
    as soon as it must exceed `bound`."""
    if abs(len(a) - len(b)) > bound:
        return bound + 1
    previous2: list[int] = []
    previous = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        current = [i] + [0] * len(b)
        for j, cb in enumerate(b, 1):
            cost = 0 if ca == cb else 1
            current[j] = min(previous[j] + 1, current[j - 1] + 1, previous[j - 1] + cost)
            if i > 1 and j > 1 and ca == b[j - 2] and a[i - 2] == cb:
                current[j] = min(current[j], previous2[j - 2] + 1)
        if min(current) > bound:
            return bound + 1
        previous2, previous = previous, current
    return previous[-1]


def distance_bound(word: str) -> int:
    """How many edits a word of this length may carry and still be recognised: none below 5 letters
    (ring / rings / rung are different words), one up to 7, two from 8."""
    if len(word) < 5:
        return 0
    return 1 if len(word) < 8 else 2


@lru_cache(maxsize=1)
def _targets() -> tuple[dict[str, str], frozenset[str]]:
    """Single vocabulary words a typo may be corrected to (their run-together forms included), and the words
    that are never corrected (the vocabulary itself and the protected ordinary words)."""
    vocab = vocabulary()
    phrases: set[str] = set()
    phrases |= {c.value.replace("_", " ") for c in Category if c is not Category.other}
    phrases |= set(CATEGORY_SYNONYMS) | {c.value for c in Channel} | set(CHANNEL_SYNONYMS)
    phrases |= {"necklace", "earrings", "bracelet", "sweatshirt", "trousers", "sneakers", "trainers", "lip gloss",
                "eyeshadow", "moisturizer", "fragrance", "sapphire", "diamond", "emerald", "sterling silver",
                "platinum", "titanium", "stainless steel", "leather", "cashmere", "variants", "variations",
                "versions", "lifestyle", "packshot", "campaign", "background", "publish", "missing", "coverage"}
    for table in ("moods", "seasons", "roles", "aspects"):
        for words in vocab[table].values():
            phrases |= set(words)
    phrases |= set(vocab["products"]["nouns"])
    targets: dict[str, str] = {}
    for phrase in phrases:
        if not re.fullmatch(r"[a-z][a-z' -]*", phrase):
            continue
        if " " in phrase or "-" in phrase:
            targets.setdefault(phrase.replace(" ", "").replace("-", ""), phrase)
        else:
            targets.setdefault(phrase, phrase)
    known = frozenset(targets) | frozenset(vocab["fuzzy"]["protect"]) | frozenset(vocab["abbreviations"])
    return targets, known


@lru_cache(maxsize=4096)
def correct_word(word: str) -> str:
    """The vocabulary word a typed word most likely means ('braclet' -> 'bracelet', 'shopfy' -> 'shopify',
    'lipgloss' -> 'lip gloss'), or the word itself. Same first letter, within `distance_bound`; a tie between
    two different words keeps the word as typed."""
    low = word.lower()
    abbreviations = vocabulary()["abbreviations"]
    if low in abbreviations:
        return abbreviations[low]
    targets, known = _targets()
    if low in targets:
        return targets[low]
    if low in known:
        return word
    bound = distance_bound(low)
    if bound == 0:
        return word
    best: list[tuple[int, str]] = []
    for key, phrase in targets.items():
        if key[0] != low[0] or abs(len(key) - len(low)) > bound or len(key) < 4:
            continue
        d = edit_distance(low, key, bound)
        if d <= bound:
            best.append((d, phrase))
    if not best:
        return split_compound(low) or word
    best.sort()
    tied = {phrase for d, phrase in best if d == best[0][0]}
    if len({_stem(phrase) for phrase in tied}) > 1:
        return word
    return min(tied, key=len)  # "bracelett" is a bracelet, not bracelets


def _stem(phrase: str) -> str:
    """The form a tie between candidates is judged by: singular and plural are one word."""
    return phrase[:-1] if phrase.endswith("s") and not phrase.endswith("ss") else phrase


@lru_cache(maxsize=1)
def _compound_parts() -> tuple[frozenset[str], frozenset[str]]:
    """(words that may start a run-together word, product words that may end one): 'silverring',
    'goldnecklace', 'smartwatch'. The heads are the category and product nouns, the modifiers the materials,
    colours and the [fuzzy] modifiers of prompts/chat/vocabulary.toml."""
    from tools.models import CATEGORY_SYNONYMS

    vocab = vocabulary()
    heads = {c.value for c in Category if "_" not in c.value and c is not Category.other}
    heads |= {w for w in CATEGORY_SYNONYMS if " " not in w} | set(vocab["products"]["nouns"])
    heads |= {"necklace", "earrings", "earring", "bracelet", "sneakers", "trainers"}
    modifiers = set(vocab["fuzzy"].get("modifiers", []))
    return frozenset(modifiers), frozenset(h for h in heads if len(h) >= 3 and " " not in h)


def split_compound(low: str) -> str | None:
    """'silverring' -> 'silver ring', 'goldnecklace' -> 'gold necklace': a known modifier run into a known
    product noun (each part at least 3 letters), else None."""
    if len(low) < 7:
        return None
    modifiers, heads = _compound_parts()
    for cut in range(3, len(low) - 2):
        left, right = low[:cut], low[cut:]
        if left in modifiers and right in heads:
            return f"{left} {right}"
    return None


_WORD = re.compile(r"(?<![\w#/-])([A-Za-z][A-Za-z']*(?:/[A-Za-z]?)?)(?![\w-])")


@lru_cache(maxsize=512)
def normalize(text: str) -> str:
    """The message with abbreviations spelled out and typos corrected word by word; everything else
    (SKU ids, numbers, punctuation, case of untouched words) is kept as typed."""
    def fix(m: re.Match) -> str:
        word = m.group(1)
        if word.isupper() and len(word) > 1 and word.lower() not in vocabulary()["abbreviations"]:
            return word  # an id or an acronym
        fixed = correct_word(word)
        return word if fixed.lower() == word.lower() else fixed

    text = text.replace("’", "'").replace("‘", "'")
    return _WORD.sub(fix, text)


# -- clauses, negation and "only" ----------------------------------------------------------------------

def _alternation(words) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


@lru_cache(maxsize=1)
def _patterns() -> tuple[re.Pattern, re.Pattern, re.Pattern]:
    neg = vocabulary()["negation"]
    punct = [w for w in neg["clause_breaks"] if not w[0].isalpha()]
    words = [w for w in neg["clause_breaks"] if w[0].isalpha()]
    # a break word that ends a negator ("everything but", "don't bother with") does not end that negator's clause
    guarded = []
    for w in sorted(words, key=len, reverse=True):
        guards = "".join(f"(?<!{re.escape(n[:-len(w)])})" for n in neg["negators"] if n.endswith(" " + w))
        guarded.append(guards + re.escape(w))
    breaks = re.compile("|".join([*(re.escape(p) for p in punct), r"(?<!\d):(?!\d)", r"\n",
                                  rf"\b(?:{'|'.join(guarded)})\b"]))
    negators = re.compile(rf"(?<![\w'-])(?:{_alternation(neg['negators'])})(?![\w'-])")
    only = re.compile(rf"(?<![\w'-])(?:{_alternation(neg['only'])})(?![\w'-])")
    return breaks, negators, only


# a verb like "drop" or "cut" after one of these is a noun ("our new drop", "the cut")
_NOUN_BEFORE = re.compile(r"\b(?:our|the|a|an|this|that|next|new|latest|upcoming|product|summer|winter|autumn|fall|"
                          r"spring|holiday|christmas|first|big|weekly|monthly)\s+$")


def clause_start(low: str, pos: int) -> int:
    """Where the clause holding `pos` starts (after the last clause break before it)."""
    breaks, _, _ = _patterns()
    start = 0
    for m in breaks.finditer(low, 0, pos):
        if m.end() <= pos:
            start = m.end()
    return start


def clause_end(low: str, pos: int) -> int:
    breaks, _, _ = _patterns()
    m = breaks.search(low, pos)
    return m.start() if m else len(low)


_PLACE = re.compile(r"\b(?:on|in|of|from|around|behind|under|at|off)\s")
_FUNCTION_WORDS = frozenset({"the", "a", "an", "any", "all", "that", "this", "those", "these", "more", "some", "of",
                             "for", "with", "me", "us", "it", "them", "please", "pls", "really"})


def negated(low: str, pos: int, shots: tuple[tuple[int, int], ...] = ()) -> bool:
    """Whether a negator governs the word at `pos`: one stands earlier in the same clause ("no 9:16 this time",
    "not for ebay", "everything except the campaign", "w/o the detail shot"). With `shots` (the spans of the
    message's shot words) a negator whose object is something else is not the shot's: in "drop the reflection on
    the lifestyle" the reflection goes, the lifestyle stays (its name follows a place word after that object)."""
    _, negators, _ = _patterns()
    start = clause_start(low, pos)
    governing = []
    for m in negators.finditer(low, start, pos):
        if _NOUN_BEFORE.search(low[max(0, m.start() - 20):m.start()]):
            continue
        if shots and _object_between(low, m.end(), pos, shots):
            continue
        governing.append(m)
    # two negators cancel: "remove everything except the packshot", "no need to drop the detail"
    return len(governing) % 2 == 1


def _object_between(low: str, start: int, pos: int, shots: tuple[tuple[int, int], ...]) -> bool:
    """Whether the words between a negator and `pos` hold the negator's own object: a content word that is
    not a shot word, followed by a place word ("the reflection on the ...")."""
    between = low[start:pos]
    places = list(_PLACE.finditer(between))
    if not places:
        return False
    place = places[-1]
    for w in re.finditer(r"[a-z0-9:.'-]+", between[:place.start()]):
        a = start + w.start()
        if w.group(0) in _FUNCTION_WORDS or any(x <= a < y for x, y in shots):
            continue
        return True
    return False


def only_spans(low: str) -> list[tuple[int, int]]:
    """The parts of a message that an "only" restricts: "just white bg + on the ear" (to the clause end,
    '+' and 'and' do not end it), "main image and detail only" (the clause before), "..., that's it" (the
    whole message before it)."""
    breaks, _, only = _patterns()
    spans = []
    for m in only.finditer(low):
        word = m.group(0)
        if word.startswith(("that's", "and nothing", "nothing else")):
            spans.append((0, m.start()))
            continue
        after = low[m.end():]
        end = m.end() + (re.search(r"[,;.!?\n]|$", after).start())
        if after.strip(" ") == "" or re.match(r"\s*[,;.!?]|\s*$", after):
            spans.append((clause_start(low, m.start()), m.start()))  # "detail only"
        elif re.match(r"\s*(?:have|got|own|shot|took|sell|make)\b", after):
            continue  # "we only have flat lays": what the seller has, not what they want
        else:
            spans.append((m.end(), end))
    return spans


# -- counts --------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Count:
    value: int
    start: int
    end: int
    per_shot: bool      # "3 variants each", "x2", "three of each", "5 versions": candidates per shot
    definite: bool      # "3 versions of the 4:5": a count of an existing shot


_PER_SHOT_NOUNS = r"(?:variants?|variations?|versions?|takes?|options?|candidates?|alternatives?|alts?|copies|looks?|renders?|tries)"
_THING_NOUNS = (r"(?:shots?|images?|photos?|pictures?|posts?|pins?|visuals?|creatives?|banners?|ones?|stories|reels?|frames?|"
                r"close[- ]?ups?|details?|packshots?|lifestyles?|try-?ons?|scenes?|macros?)")


@lru_cache(maxsize=1)
def _number_pattern() -> str:
    words = vocabulary()["numbers"]
    return rf"(\d{{1,2}}|{_alternation(words)})"


def number_value(token: str) -> int:
    token = token.strip().lower()
    if token.isdigit():
        return int(token)
    return int(vocabulary()["numbers"][token])


def _masked(low: str) -> str:
    """The message with aspect ratios, sizes, units, ids and 'set of N' blanked (same length), so their
    digits are never read as counts."""
    def blank(m: re.Match) -> str:
        return " " * len(m.group(0))

    out = re.sub(r"\d+(?:\.\d+)?\s*[:×]\s*\d+(?:\.\d+)?", blank, low)
    out = re.sub(r"\d+(?:\.\d+)?\s*x\s*\d+(?:\.\d+)?", blank, out)
    out = re.sub(r"\d+(?:[.,]\d+)?\s*(?:mm|cm|m|in|inch(?:es)?|oz|ml|l|g|kg|k|ct|carat|\"|')(?![a-z])", blank, out)
    out = re.sub(r"\b(?:set|pack|box|bundle|lot|size|sz|uk|us|eu|au|no\.?|number|#)\s*(?:of\s*)?\d+(?:[.,]\d+)?", blank, out)
    out = re.sub(r"[a-z]+-\d[\w-]*|\d+-[a-z][\w-]*", blank, out)
    out = re.sub(r"\d{3,}", blank, out)
    return out


_PRONOUN_ONE = re.compile(r"\b(?:a|an|the|this|that|another|which|any|each|every|new)\s+(?:[\w:.'-]+\s+){0,2}$")


@lru_cache(maxsize=512)
def find_counts(text: str) -> tuple[Count, ...]:
    """Every count a message states, in order: '3 variants each', 'x2', '2x', 'three of each', '6 variations',
    'maybe 4 takes', 'two 9:16 campaign shots', '4 instagram posts', '3 versions of the 4:5'. Numbers in sizes,
    units, aspect ratios, ids and 'set of 4' are not counts."""
    low = _masked(text.lower())
    num = _number_pattern()
    found: list[Count] = []
    patterns = [
        (r"(?<![\w.])x\s?(\d{1,2})\b", True),
        (r"\b(\d{1,2})\s?x(?![\w])", True),
        (rf"\b{num}\s+(?:of\s+)?(?:each|per\s+(?:shot|image|photo|look|format|aspect|one))\b", True),
        (rf"\b{num}\s+(?:(?:more|new|extra|additional|different|fresh|alternative|other)\s+)?{_PER_SHOT_NOUNS}\b", True),
        (rf"\b{num}\s+(?:(?:more|new|extra|additional|different)\s+)?(?:[\w:.'-]+\s+){{0,3}}?{_THING_NOUNS}\b", False),
        (rf"\b{num}\s+of\s+(?:the|those|these|them)\b", False),
    ]
    for pattern, per_shot in patterns:
        for m in re.finditer(pattern, low):
            value = number_value(m.group(1))
            if not 1 <= value <= 12 or any(c.start <= m.start(1) < c.end for c in found):
                continue
            if m.group(1) == "one" and _PRONOUN_ONE.search(low[:m.start(1)]):
                continue  # "a vertical one", "the square one": a shot, not a count
            tail = low[m.end(1):m.end(1) + 40]
            definite = re.match(rf"\s+(?:{_PER_SHOT_NOUNS}\s+)?of\s+(?:the|those|these|that|this)\b", tail) is not None
            found.append(Count(value, m.start(1), m.end(), per_shot, definite))
    return tuple(sorted(found, key=lambda c: c.start))
