"""The offline brief reader: plain seller language to a `Brief` with rules and word lists, no LLM.

Handles categories and their synonyms, channels, moods and seasons, counts, aspect ratios, SKU ids,
real dimensions ("18 mm", "1.5 cm", "18 inch chain") and ring sizes (US / EU / UK to inner diameter
in mm). It only extracts known vocabulary: free text never becomes a path, a flag or an instruction.
Intent routing and plan edits by chat live in `agent.offline.intents`.
"""

from __future__ import annotations

import re
from functools import lru_cache

from agent.offline.words import clause_end, clause_start, negated, normalize, only_spans
from agent.offline.words import find_counts as word_counts
from tools.errors import BadInput
from tools.models import (
    CATEGORY_SYNONYMS,
    CHANNEL_SYNONYMS,
    Brief,
    Category,
    Channel,
    Dimensions,
    Role,
    check_sku,
    normalize_category,
    normalize_channel,
)
from tools.text import strip_control

NUMBER_WORDS = {
    "a": 1, "an": 1, "one": 1, "single": 1, "two": 2, "a couple of": 2, "couple of": 2, "pair of": 2,
    "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10,
    "eleven": 11, "twelve": 12, "a few": 3, "few": 3, "several": 3,
}
_NUM = r"(\d{1,2}|a couple of|couple of|pair of|a few|few|several|one|two|three|four|five|six|seven|eight|nine|ten|eleven|twelve|single|an|a)"

# Longest phrases first so "rose gold" wins over "gold" and "wedding band" over "band".
MATERIALS = sorted([
    "yellow gold", "white gold", "rose gold", "gold", "sterling silver", "silver", "platinum", "titanium",
    "stainless steel", "steel", "brass", "copper", "leather", "vegan leather", "cotton", "organic cotton",
    "linen", "silk", "wool", "merino", "cashmere", "denim", "polyester", "nylon", "canvas", "suede",
    "sapphire", "diamond", "diamonds", "emerald", "ruby", "pearl", "pearls", "opal", "amethyst", "topaz",
    "moissanite", "cubic zirconia", "zirconia", "enamel", "crystal", "crystals", "turquoise", "onyx",
    "jade", "garnet", "aquamarine", "ceramic", "wood", "glass", "resin",
], key=len, reverse=True)
_MATERIAL_CANON = {"diamonds": "diamond", "pearls": "pearl", "crystals": "crystal", "zirconia": "cubic zirconia"}

COLORS = sorted([
    "red", "blue", "green", "black", "white", "navy", "pink", "purple", "yellow", "orange", "brown", "beige",
    "grey", "gray", "cream", "ivory", "teal", "burgundy", "olive", "khaki", "lavender", "mint", "coral",
    "turquoise blue", "light blue", "dark blue", "sky blue", "emerald green", "charcoal", "tan", "camel",
], key=len, reverse=True)
_COLOR_CANON = {"gray": "grey"}


def _vocab_table(name: str) -> list[tuple[str, tuple[str, ...]]]:
    from agent.offline.words import vocabulary

    return [(key, tuple(words)) for key, words in vocabulary()[name].items()]


# Moods, seasons, role words and format words are data: prompts/chat/vocabulary.toml.
MOODS = _vocab_table("moods")
SEASONS = _vocab_table("seasons")
ROLE_WORDS: list[tuple[Role, tuple[str, ...]]] = [(Role(role), words) for role, words in _vocab_table("roles")]
ASPECT_WORDS = _vocab_table("aspects")
PRODUCT_NOUNS = tuple(sorted(dict(_vocab_table("products"))["nouns"], key=len, reverse=True))
EXACT_NOUNS = tuple(sorted(dict(_vocab_table("products")).get("exact_nouns", ()), key=len, reverse=True))

CHANNEL_WORDS: list[tuple[str, Channel]] = sorted(
    [(c.value, c) for c in Channel] + list(CHANNEL_SYNONYMS.items()),
    key=lambda kv: len(kv[0]), reverse=True,
)
CATEGORY_WORDS: list[tuple[str, Category]] = sorted(
    [(c.value.replace("_", " "), c) for c in Category if c is not Category.other]
    + [(c.value, c) for c in Category if "_" in c.value]
    + list(CATEGORY_SYNONYMS.items())
    + [("necklace", Category.necklace), ("earrings", Category.earrings), ("sweatshirt", Category.apparel_top),
       ("polo", Category.apparel_top), ("jumper", Category.apparel_top), ("pullover", Category.apparel_top),
       ("coat", Category.apparel_top), ("trouser", Category.apparel_bottom), ("jean", Category.apparel_bottom),
       ("chinos", Category.apparel_bottom), ("maxi dress", Category.dress), ("sundress", Category.dress),
       ("loafers", Category.shoes), ("trainers", Category.shoes), ("clutch", Category.bag),
       ("wallet", Category.bag), ("serum", Category.beauty), ("moisturizer", Category.beauty),
       ("moisturiser", Category.beauty), ("lip gloss", Category.beauty), ("eyeshadow", Category.beauty),
       ("fragrance", Category.beauty), ("cologne", Category.beauty), ("ring", Category.ring)],
    key=lambda kv: len(kv[0]), reverse=True,
)

def ring_size_to_mm(system: str, size: str | float) -> float:
    """Inner diameter in mm of a ring size, from the one size table the try-on uses too (tools/sizing.py over
    tools/ring_sizes.csv): US/CA quarter sizes, UK/AU letters with halves, EU/ISO inner circumference."""
    from tools.sizing import inner_diameter_mm

    return inner_diameter_mm(system, size)


def _has(text: str, phrase: str) -> bool:
    return re.search(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text) is not None


def _find_all(text: str, phrases) -> list[tuple[int, str]]:
    hits = []
    for phrase in phrases:
        for m in re.finditer(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", text):
            hits.append((m.start(), phrase))
    return sorted(hits)


def _number(word: str) -> int:
    word = word.strip().lower()
    return int(word) if word.isdigit() else NUMBER_WORDS[word]


def find_category(text: str) -> Category | None:
    """The product category named in the text (first mention wins; longer phrases beat their parts); a product
    noun outside the list (candle, brooch, coasters, scarf: prompts/chat/vocabulary.toml) is `other`."""
    low = text.lower()
    taken: list[tuple[int, int]] = []
    hits: list[tuple[int, Category]] = []
    for phrase, category in CATEGORY_WORDS:
        for m in re.finditer(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", low):
            if any(a <= m.start() < b for a, b in taken):
                continue
            taken.append((m.start(), m.end()))
            hits.append((m.start(), category))
    if not hits:
        return Category.other if find_product_type(low) else None
    # "watch band" is a watch, "ring box" is a ring; the earliest product noun wins.
    return sorted(hits)[0][1]


def find_product_type(text: str) -> str:
    """The noun of a product outside the category list, as typed ("candle", "coasters"), or ''."""
    low = text.lower()
    hits = [(m.start(), noun) for noun in PRODUCT_NOUNS
            for m in re.finditer(rf"(?<![\w-]){re.escape(noun)}(?![\w-])", low)]
    hits += [(m.start(), m.group(0)) for noun in EXACT_NOUNS
             for m in re.finditer(rf"(?<![\w-]){_plural_forms(noun)}(?![\w-])", low)]
    # a product noun run into a container word is its own product: "pillowcase", "candleholder"
    suffixes = "|".join(re.escape(w) for w in dict(_vocab_table("fuzzy")).get("noun_suffixes", ()))
    if suffixes:
        for noun in PRODUCT_NOUNS:
            if " " not in noun and len(noun) >= 3:
                for m in re.finditer(rf"(?<![\w-]){re.escape(noun)}(?:{suffixes})(?:e?s)?(?![\w-])", low):
                    hits.append((m.start(), m.group(0)))
    return sorted(hits, key=lambda h: (h[0], -len(h[1])))[0][1] if hits else ""


def _plural_forms(noun: str) -> str:
    """A pattern for a noun and its plural: tray(s), box(es), tapestr(y|ies)."""
    if noun.endswith("y") and noun[-2:-1] not in "aeiou":
        return re.escape(noun[:-1]) + "(?:y|ies)"
    return re.escape(noun) + "(?:s|es)?"


def find_channels(text: str) -> list[Channel]:
    """Channels asked for in order of mention; a declined one ("not for ebay", "no etsy this time") is left out."""
    low = text.lower()
    found: list[tuple[int, Channel]] = []
    taken: list[tuple[int, int]] = []
    for phrase, channel in CHANNEL_WORDS:
        for m in re.finditer(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", low):
            if any(a < m.end() and m.start() < b for a, b in taken) or negated(low, m.start()):
                continue
            taken.append(m.span())
            found.append((m.start(), channel))
    if "all channels" in low or "every channel" in low or "all marketplaces" in low:
        found += [(10_000 + i, c) for i, c in enumerate(Channel)]
    out: list[Channel] = []
    for _, channel in sorted(found):
        if channel not in out:
            out.append(channel)
    return out


def find_skus(text: str) -> list[str]:
    """SKU ids: 'SKU 123', 'sku: AB-1', or tokens like RING-001 / SKU-123 (upper case with a dash or digits)."""
    out: list[str] = []
    for m in re.finditer(r"\b(?:sku|item|article|product id)\s*(?:id|number|no\.?|#)?\s*[:#]?\s*([A-Za-z0-9][A-Za-z0-9._-]{0,63})",
                         text, flags=re.IGNORECASE):
        token = m.group(1).rstrip(".-_")
        if re.search(r"\d", token) or (token.isupper() and len(token) > 1):
            out.append(token)
    for m in re.finditer(r"(?<![\w.-])([A-Z][A-Z0-9]*(?:[-_.][A-Z0-9]+)+)(?![\w-])", text):
        token = m.group(1)
        if re.fullmatch(r"[A-Z]-[A-Z]+", token):  # "T-SHIRT" style words, not ids
            continue
        if "SKU" == token.split("-")[0] and m.start() > 0 and text[max(0, m.start() - 4):m.start()].lower().strip() == "sku":
            continue
        out.append(token)
    seen: list[str] = []
    for token in out:
        try:
            check_sku(token)
        except BadInput:
            continue
        if token not in seen and not any(token != s and token in s for s in out):
            seen.append(token)
    return seen


_UNIT_MM = {"mm": 1.0, "millimeter": 1.0, "millimetre": 1.0, "millimeters": 1.0, "millimetres": 1.0,
            "cm": 10.0, "centimeter": 10.0, "centimetre": 10.0, "centimeters": 10.0, "centimetres": 10.0,
            "in": 25.4, "inch": 25.4, "inches": 25.4, '"': 25.4, "m": 1000.0}
_UNIT = r"(mm|millimet(?:er|re)s?|cm|centimet(?:er|re)s?|inch(?:es)?|in\b|\"|m\b)"
_VAL = r"(\d+(?:[.,]\d+)?)"


def find_dimensions(text: str, category: Category | None = None, notes: list[str] | None = None) -> Dimensions:
    """Real sizes in mm: 'W x H mm', '18 mm wide', '1.5 cm', '45 cm chain', ring sizes 'size 7' / 'EU 52'."""
    low = text.lower()
    dims: dict[str, float] = {}
    notes = [] if notes is None else notes

    def mm(value: str, unit: str) -> float:
        return round(float(value.replace(",", ".")) * _UNIT_MM[unit.strip()], 2)

    # 1. "20 x 30 mm" / "20x30x5 mm"
    spans = []
    for m in re.finditer(rf"{_VAL}\s*(?:{_UNIT})?\s*(?:x|×|by)\s*{_VAL}\s*(?:(?:x|×|by)\s*{_VAL}\s*)?{_UNIT}", low):
        unit = m.group(5)
        dims.setdefault("width_mm", mm(m.group(1), unit))
        dims.setdefault("height_mm", mm(m.group(3), unit))
        if m.group(4):
            dims.setdefault("depth_mm", mm(m.group(4), unit))
        spans.append(m.span())

    # 2. single values with an optional word that says which side
    for m in re.finditer(rf"{_VAL}\s*-?\s*{_UNIT}(?:\s+(wide|width|across|tall|high|height|long|length|drop|deep|depth|thick|diameter|dia|inner|inside))?", low):
        if any(a <= m.start() < b for a, b in spans):
            continue
        value = mm(m.group(1), m.group(2))
        if value <= 0:
            continue
        before = low[max(0, m.start() - 20):m.start()]
        if re.match(r"\s*(?:long\s+)?(?:chain|strap|cord)", low[m.end():]):
            notes.append(f"chain length {value:g} mm")
            continue
        word = m.group(3) or ""
        named = re.search(r"\b(inseam|inside leg|waist|chest|bust|hips?|sleeve|rise|shoulders?|strap|heel|sole)\W*(?:of|is|:)?\s*$",
                          before)
        if named and named.group(1) != "waist":
            notes.append(f"{named.group(1)} {value:g} mm")  # a garment measure, not the product's outline
            continue
        if not word:
            w = re.search(r"(width|wide|height|tall|length|long|drop|depth|thick(?:ness)?|diameter)\W*(?:of|is|:)?\s*$", before)
            word = w.group(1) if w else ""
        if word in ("inner", "inside") and category in (Category.ring, Category.bracelet):
            key = "inner_diameter_mm"
        elif word in ("wide", "width", "across", "diameter", "dia"):
            key = "inner_diameter_mm" if "inner" in before and category is Category.ring else "width_mm"
        elif word in ("tall", "high", "height", "long", "length", "drop"):
            key = "height_mm"
        elif word.startswith(("deep", "depth", "thick")):
            key = "depth_mm"
        elif category is Category.necklace or (category in (Category.bracelet,) and value > 100):
            key = "height_mm"  # a chain or strap length
        elif category is Category.earrings and re.search(r"\b(?:drops?|dangles?|dangly|danglers?|chandeliers?|tassels?|"
                                                          r"threaders?|long)\b", low):
            key = "height_mm"  # a hanging earring is measured by its drop
        else:
            key = "width_mm"
        dims.setdefault(key, value)

    # 3. trouser sizes "W30 L32": waist and inside leg in inches
    fit = re.search(r"\bw\s?(\d{2})\s*[/x]?\s*l\s?(\d{2})\b", low)
    if fit and category in (Category.apparel_bottom, None):
        dims.setdefault("width_mm", mm(fit.group(1), "in"))
        notes.append(f"inseam {mm(fit.group(2), 'in'):g} mm")

    # 4. ring sizes
    if category in (Category.ring, None):
        m = re.search(r"\b(?:ring\s+)?size\s*(us|eu|uk|au|iso|ca)?\s*([a-z](?:\s*(?:1/2|½|and a half))?|\d{1,2}(?:[.,]5|\s*1/2|½)?)(?![\w½])(?:\s*\((us|eu|uk)\))?", low)
        m2 = re.search(r"\b(us|eu|uk|iso)\s*(?:ring\s*)?size\s*([a-z]|\d{1,2}(?:[.,]5)?)\b", low)
        m3 = re.search(r"\b(?:size\s+)?(us|eu|uk)\s*(\d{1,2}(?:[.,]5)?|[a-z])\b(?!\s*(?:mm|cm))", low)
        system = size = None
        if m2:
            system, size = m2.group(1), m2.group(2)
        elif m:
            size = m.group(2)
            if size[0].isalpha():
                size = size[0] + ("½" if len(size) > 1 else "")  # a UK letter, maybe with a half
            else:
                size = size.replace("½", ".5").replace(" 1/2", ".5").replace("1/2", ".5").replace(",", ".")
            system = m.group(1) or m.group(3)
            if system is None:
                system = "uk" if size[0].isalpha() else ("eu" if float(size) >= 38 else "us")
        elif m3 and category is Category.ring:
            system, size = m3.group(1), m3.group(2).replace(",", ".")
        if system and size:
            if system in ("uk", "au") or size[0].isalpha():
                dims["inner_diameter_mm"] = ring_size_to_mm("UK", size.upper())
            else:
                dims["inner_diameter_mm"] = ring_size_to_mm(system, size)
    return Dimensions(**{key: value for key, value in dims.items() if value > 0})  # "0 mm" says no size


def find_roles(text: str) -> tuple[list[Role], list[Role]]:
    """(roles asked for, roles declined) in order of mention. A role is declined when a negator governs it in
    its clause (`agent.offline.words.negated`): "no try-on", "w/o the detail shot", "everything except the
    campaign", "don't need the lifestyle or campaign"."""
    low = text.lower()
    asked: list[Role] = []
    declined: list[Role] = []
    for start, _, role in role_mentions(low):
        target = declined if negated(low, start) else asked
        if role not in target:
            target.append(role)
    asked = [r for r in asked if r not in declined]
    return asked, declined


@lru_cache(maxsize=512)
def role_mentions(low: str) -> tuple[tuple[int, int, Role], ...]:
    """(start, end, role) of every role phrase, longest phrase first where two overlap, in order of mention."""
    hits: list[tuple[int, int, Role]] = []
    taken: list[tuple[int, int]] = []
    phrases = sorted(((p, role) for role, words in ROLE_WORDS for p in words), key=lambda pr: len(pr[0]), reverse=True)
    for phrase, role in phrases:
        for m in re.finditer(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", low):
            if any(a < m.end() and m.start() < b for a, b in taken):
                continue
            taken.append(m.span())
            hits.append((m.start(), m.end(), role))
    return tuple(sorted(hits))


def find_aspects(text: str, *, include_negated: bool = False) -> list[str]:
    """Aspect ratios asked for, in order of mention: '9:16', '4 x 5', '1.91:1', 'stories', 'square'. A declined one
    ("no 9:16 this time") is left out unless `include_negated`."""
    out: list[str] = []
    for _, _, ratio, neg in aspect_mentions(text.lower()):
        if (include_negated or not neg) and ratio not in out:
            out.append(ratio)
    return out


@lru_cache(maxsize=512)
def aspect_mentions(low: str) -> tuple[tuple[int, int, str, bool], ...]:
    """(start, end, ratio, negated) of every aspect ratio named, in order, one per place."""
    found: list[tuple[int, int, str]] = []
    for m in re.finditer(r"(?<![\d:.])(\d{1,2}(?:\.\d{1,2})?)\s*([:x×])\s*(\d{1,2})(?![\d:])", low):
        if m.group(2) != ":" and re.match(r"\s*(?:mm|cm|in\b|inch|\")", low[m.end():]):
            continue  # "4 x 5 in" is a size
        a, b = float(m.group(1)), int(m.group(3))
        if 0 < a <= 21 and 0 < b <= 21 and max(a, b) / min(a, b) <= 4 and not re.match(r"\s*(?:am|pm)", low[m.end():]):
            if re.search(r"\b(?:at|by)\s*$", low[:m.start()]):  # "at 10:30"
                continue
            found.append((m.start(), m.end(), f"{m.group(1)}:{b}"))
    numbers = list(found)
    for ratio, words in ASPECT_WORDS:
        for phrase in words:
            for m in re.finditer(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", low):
                if any(a < m.end() and m.start() < e for a, e, _ in found):
                    continue
                if any(_names_the_format(low, (a, e), m.span()) for a, e, _ in numbers):
                    continue  # "a 1.91:1 banner", "stories in 4:5": the word is the noun of the ratio named
                found.append((m.start(), m.end(), ratio))
    return tuple((a, e, ratio, negated(low, a)) for a, e, ratio in sorted(found))


def _names_the_format(low: str, ratio: tuple[int, int], word: tuple[int, int]) -> bool:
    """A format word right next to an explicit ratio ("1.91:1 banner", "banner in 1.91:1") names that ratio's shot."""
    if ratio[1] <= word[0]:
        return re.fullmatch(r"\s*(?:-\s*)?", low[ratio[1]:word[0]]) is not None
    return re.fullmatch(r"\s*(?:in|at|as)?\s*", low[word[1]:ratio[0]]) is not None


def find_counts(text: str) -> tuple[int | None, int | None]:
    """(candidates per shot, campaign images per format), read from `agent.offline.words.find_counts`: a count in a
    clause that names a campaign or a format counts campaign images ("2 campaign images in 1.91:1"); a
    per-shot count ("3 variants each", "x2", "three of each", "maybe 4 takes") counts candidates per shot."""
    low = text.lower()
    count = campaign = None
    for c in word_counts(low):
        start, end = clause_start(low, c.start), clause_end(low, c.end)
        clause = low[start:end]
        campaign_clause = any(r is Role.campaign for _, _, r in role_mentions(clause)) or bool(aspect_mentions(clause))
        listed = False
        if not campaign_clause and c.per_shot and re.search(r"\beach\b", clause) and start > 0:
            # "16:9 and 4:5, 2 each": "each" of the formats the clause before lists
            before = low[clause_start(low, max(0, start - 1)):start]
            listed = len(aspect_mentions(before)) >= 2 and not role_mentions(clause)
        if listed and campaign is None:
            campaign = c.value
            continue
        if campaign_clause and campaign is None and (not c.per_shot or not re.search(r"\beach\b|\bper\b", clause)
                                                    or re.search(r"campaign|format|aspect", clause)):
            campaign = c.value
        elif c.per_shot and count is None:
            count = c.value
    return _clamp(count), _clamp(campaign)


def _clamp(value: int | None) -> int | None:
    return None if value is None else max(1, min(12, value))


def find_words(text: str, words, canon: dict[str, str]) -> list[str]:
    low = text.lower()
    taken: list[tuple[int, int]] = []
    hits: list[tuple[int, str]] = []
    for phrase in words:
        for m in re.finditer(rf"(?<![\w-]){re.escape(phrase)}(?![\w-])", low):
            if any(a <= m.start() < b or a < m.end() <= b for a, b in taken):
                continue
            taken.append(m.span())
            hits.append((m.start(), canon.get(phrase, phrase)))
    out: list[str] = []
    for _, word in sorted(hits):
        if word not in out:
            out.append(word)
    return out


def find_mood(text: str) -> tuple[str, str]:
    """(mood words joined by ', ', season)."""
    low = text.lower()
    moods = [(min(p for p, _ in hits), mood) for mood, words in MOODS if (hits := _find_all(low, words))]
    seasons = [(min(p for p, _ in hits), season) for season, words in SEASONS if (hits := _find_all(low, words))]
    mood = ", ".join(m for _, m in sorted(moods))
    season = sorted(seasons)[0][1] if seasons else ""
    return mood, season


def find_use_case(text: str, category: Category | None, roles: list[Role] | None = None) -> str:
    low = text.lower()
    if re.search(r"digital twin|twin of (?:the|our|my)? ?(?:model|talent)", low):
        return "digital_twin"
    if re.search(r"model swap|swap (?:the )?model|replace the model|different model|another model", low):
        return "model_swap"
    if re.search(r"flat ?lay|ghost mannequin|create a model|generate a model|on a model from|ai model", low):
        return "model_creation"
    if Role.campaign in (roles or []) and re.search(r"\bcampaign|\bvariants? for (?:marketing|social)|marketing (?:shots|images|variants)", low) and not re.search(
            r"\bgallery|listing|product page|packshot|main image", low):
        return "campaign"
    return "gallery"


def find_brand(text: str) -> tuple[list[str], str]:
    low = text.lower()
    colors = [h.upper() for h in re.findall(r"#[0-9a-fA-F]{6}\b|#[0-9a-fA-F]{3}\b", text)]
    m = re.search(r"brand colou?rs?\s*(?:are|:)?\s*([^.;\n]+)", low)
    if m:
        colors += [c for c in find_words(m.group(1), COLORS, _COLOR_CANON) if c not in colors]
    style = ""
    m = re.search(r"brand (?:style|look|aesthetic|vibe)\s*(?:is|:)?\s*([a-z ,'-]{3,60})", low)
    if m:
        style = m.group(1).strip(" ,")
    return colors, style


def find_talent(text: str) -> str | None:
    m = re.search(r"\b(?:talent|model named|with model|model:)\s*[:]?\s*([A-Z][a-zA-Z-]{1,30})", text)
    return m.group(1) if m else None


def _mask_quoted(text: str) -> str:
    """`text` with its "quoted" and (bracketed) spans blanked out, same length: marks inside them don't cut."""
    return re.sub(r'"[^"\n]*"|\([^()\n]*\)', lambda m: "_" * len(m.group()), text)


def _title_clauses(text: str) -> list[str]:
    """The brief cut at clause marks, except inside "quoted" or (bracketed) spans, which stay whole
    (`=HYPERLINK("http://x.example","click") gold ring` is one clause, not `"click") gold ring`)."""
    masked = _mask_quoted(text)
    cuts = [(m.start(), m.end()) for m in re.finditer(r"[,;.!?\n]| - ", masked)]
    starts, ends = [0, *(e for _, e in cuts)], [*(s for s, _ in cuts), len(text)]
    return [text[a:b] for a, b in zip(starts, ends, strict=True)]


def find_title(text: str, category: Category | None) -> str:
    if category is None:
        return ""
    for part in _title_clauses(text):
        part = part.strip()
        for sku in find_skus(part):
            part = part.replace(sku, "")
        part = re.sub(r"\bsku\b[:#]?", "", part, flags=re.IGNORECASE).strip()
        if part and find_category(part) is category:
            label_end = _mask_quoted(part).rfind(":") + 1  # "Product: gold ring" -> "gold ring"
            part = re.sub(r"\s+", " ", part[label_end:] if find_category(part[label_end:]) else part).strip()
            part = re.sub(r"^(?:hi|hello|hey)\b[\s,!]*", "", part, flags=re.IGNORECASE)
            part = re.sub(r"^(?:the )?(?:item|product) is\s+", "", part, flags=re.IGNORECASE)
            part = re.sub(r"^(?:please\s+)?(?:i (?:need|want|have|sell)|we (?:need|have|sell)|make|create|build|shoot|do|this is|here is|here's)\s+(?:some\s+)?(?:images|photos|a gallery|listing images)?\s*(?:for\s+)?(?:my|our|a|an|the)?\s*",
                          "", part, flags=re.IGNORECASE)
            return part[:80].strip()
    return ""


def read_brief(text: str, *, sku: str | None = None, category: str | Category | None = None,
               channels=()) -> Brief:
    """Read a brief in plain words. Explicit arguments (form fields, CLI flags) win over the text."""
    # 1. Check inputs
    if not isinstance(text, str):
        raise BadInput(f"brief must be text, got {type(text).__name__}")
    text = typed = strip_control(text[:4000], one_line=False)  # escape sequences and control characters out
    explicit_category = normalize_category(category) if category else None
    explicit_channels = [normalize_channel(c) for c in channels]

    # 2. Spell out abbreviations and correct typos against the vocabulary ("braclet", "shopfy", "w/o", "amzn")
    text = normalize(text)
    low = text.lower()

    # 3. Vocabulary
    found_category = explicit_category or find_category(text)
    skus = find_skus(text)
    asked, declined = find_roles(text)
    mood, season = find_mood(text)
    count, campaign_count = find_counts(text)
    aspects = find_aspects(text)
    brand_colors, brand_style = find_brand(text)
    materials = find_words(text, MATERIALS, _MATERIAL_CANON)
    colors = [c for c in find_words(text, COLORS, _COLOR_CANON)
              if c not in brand_colors and not any(m.startswith(c + " ") for m in materials)]

    # 4. "only / just / that's it": a restriction to the roles it names, or to the formats it names
    only_roles: list[Role] = []
    only_aspects: list[str] = []
    for a, b in only_spans(low):
        segment = low[a:b]
        roles = [r for _, _, r in role_mentions(segment)]
        right_before = [r for _, e, r in role_mentions(low) if e <= a and re.fullmatch(r"\s*(?:only|just)\s*", low[e:a])]
        if right_before:  # "campaign only in 9:16 and 1:1": only that role, in those formats
            only_roles += right_before
        formats = find_aspects(segment)
        if formats and set(roles) <= {Role.campaign}:
            only_aspects += formats
        else:
            only_roles += roles
    if only_roles:
        # "only the main image and try-on": every other page role is declined
        declined += [r for r in (Role.packshot, Role.try_on, Role.detail, Role.lifestyle, Role.campaign, Role.on_model)
                     if r not in only_roles and r not in declined and r not in asked]
    if only_aspects:
        aspects = [a for a in aspects if a in only_aspects]
    if aspects and Role.campaign not in asked and Role.campaign not in declined:
        asked.append(Role.campaign)
    if campaign_count and Role.campaign not in asked and Role.campaign not in declined:
        asked.append(Role.campaign)
    use_case = find_use_case(text, found_category, asked)
    if use_case == "campaign" and campaign_count is None:
        campaign_count = count

    # 5. Assemble
    notes: list[str] = []
    dimensions = find_dimensions(text, found_category, notes)
    return Brief(
        sku=check_sku(sku) if sku else (skus[0] if skus else None),
        category=found_category,
        # the title is the seller's own words; the corrected text only when the typed one names no product
        title=find_title(typed, found_category) or find_title(text, found_category),
        product_type=find_product_type(text) if found_category is Category.other else "",
        materials=materials,
        colors=colors,
        dimensions=dimensions,
        channels=explicit_channels or find_channels(text),
        mood=mood,
        season=season,
        brand_colors=brand_colors,
        brand_style=brand_style,
        talent=find_talent(text),
        roles=asked,
        exclude_roles=declined,
        aspect_ratios=aspects,
        count=count,
        campaign_count=campaign_count,
        use_case=use_case,
        notes="; ".join(notes),
    )
