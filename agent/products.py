"""Which product a message is about: the SKU of the conversation, or a new one. A photo that does not
look like the conversation's product (pipelines.appearance against its stored photos) asks one short
question; words that name another product ("now the matching earrings", a different category) start a
new SKU; words that say it is the same product ("another angle") keep it. An existing product is never
renamed by a later message without saying so.

Used by the intake node (agent.intake); the similarity limit was chosen on half of the real packshots
(augmented views of one photo against photos of other products) and confirmed on the other half.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from tools.models import Brief, Category

SAME_PRODUCT_SIMILARITY = 0.65
QUESTION_MARK = "does not look like"   # how intake recognises its own question when the answer comes back

_NEW = re.compile(r"\b(?:new|another|next|different|second|other|separate)\s+(?:product|item|sku|listing|piece|article)\b|"
                  r"\bnew one\b|\bnot the same\b|\bnow (?:the|a|an|my|our|these|this)\b|\bmatching\b|\bnext up\b|"
                  r"\bstart (?:a )?new\b")
_SAME = re.compile(r"\bsame (?:product|item|one|ring|piece|sku)\b|\banother (?:angle|view|photo|shot|pic|picture)\b|"
                   r"\b(?:other|back|side|front) (?:side|view)\b|\bthe back\b|\bmore (?:photos?|pics?|angles?) of (?:it|this|the same)\b|"
                   r"\bof the same\b|\bsame as before\b")
_YES = re.compile(r"^\W*(?:yes|yep|yeah|y|new|new product|it's new|a new one)\W*$")
_NO = re.compile(r"^\W*(?:no|nope|n|same|same product|same one|it's the same)\W*$")


@dataclass
class ProductChoice:
    new: bool = False
    ask: str | None = None
    notice: str | None = None
    similarity: float | None = None


def photo_similarity(ws, sku: str, images: list[str]) -> float | None:
    """How alike the new photos look to the SKU's stored photos (the best pair), or None when there is nothing
    to compare or a photo cannot be read (the loader reports unreadable photos later)."""
    from PIL import Image

    from pipelines.appearance import describe, similarity
    from tools.assets import load_image

    stored = []
    for photo in ws.catalog.photos(sku)[:6]:
        try:
            stored.append(describe(Image.open(ws.assets.path(photo.asset_id))))
        except Exception:  # an unreadable stored asset gives no evidence either way
            continue
    if not stored:
        return None
    best = None
    for path in images:
        try:
            new = describe(load_image(path).image)
        except Exception:
            return None
        score = max(similarity(new, s) for s in stored)
        best = score if best is None else max(best, score)
    return best


def choose_product(ws, sku: str | None, brief: Brief, text: str, images: list[str], previous_ask: str | None,
                   *, limit: float = SAME_PRODUCT_SIMILARITY) -> ProductChoice:
    """Same product, new product, or one short question (see the module docstring). `brief` is this message's
    reading alone; `previous_ask` the question this turn asked before (its answer ends `text`)."""
    # 1. Nothing to compare with: the conversation has no stored product yet
    if not sku or not ws.catalog.has_product(sku):
        return ProductChoice()
    product = ws.catalog.get_product(sku)
    low = text.lower()
    last = low.strip().splitlines()[-1] if low.strip() else ""

    # 2. The answer to our own question, then what the words say
    if previous_ask and QUESTION_MARK in previous_ask:
        if _YES.match(last) or _NEW.search(last):
            return ProductChoice(new=True, notice=f"started a new product for this photo; {sku} keeps its photos")
        if _NO.match(last) or _SAME.search(last):
            return ProductChoice()
    if _SAME.search(low):
        return ProductChoice()
    named = brief.category is not None and brief.category is not product.category and brief.category is not Category.other
    if _NEW.search(low) or named:
        what = f" ({brief.category.value.replace('_', ' ')})" if named else ""
        return ProductChoice(new=True, notice=f"your message names another product{what}, so I started a new product; "
                                              f"{sku} ({product.title or product.category.value}) keeps its photos and title")

    # 3. A photo that does not look like the product: ask once
    if images:
        score = photo_similarity(ws, sku, images)
        if score is not None and score < limit:
            title = f" ({product.title})" if product.title else ""
            return ProductChoice(similarity=score, ask=(
                f"This photo {QUESTION_MARK} {sku}{title}. Is it a new product? Answer \"new product\" or "
                "\"same product\"."))
        return ProductChoice(similarity=score)
    return ProductChoice()


def keep_title(existing_title: str, brief: Brief, sku: str) -> tuple[Brief, str | None]:
    """A later message never renames a product silently: its title is kept, and the notice says so."""
    if existing_title and brief.title and brief.title.strip().lower() != existing_title.strip().lower():
        return brief.model_copy(update={"title": ""}), f"kept the name of {sku} (\"{existing_title}\")"
    return brief, None
