"""Intake nodes: route each message to an intent, read the brief, take in photos, check the assets the
use case needs, and ask (interrupt) when the category or a usable photo is missing.

Planning lives in `agent.planning`, production and review in `agent.production`.
"""

from __future__ import annotations

from langgraph.runtime import Runtime
from langgraph.types import interrupt

from agent.context import StudioContext
from agent.events import progress, reply_event
from agent.offline.intents import read_intent
from agent.products import choose_product, keep_title
from agent.state import StudioState
from tools.errors import BadInput, ListingError
from tools.models import APPAREL, Brief, Photo, PhotoKind, check_sku

# What each use case needs from the seller's photos (DESIGN: intake).
USE_CASE_NEEDS = {
    "model_creation": ({PhotoKind.flat_lay, PhotoKind.ghost_mannequin, PhotoKind.packshot}, 1, 5,
                       "1-5 flat lay or ghost mannequin photos of the garment"),
    "model_swap": ({PhotoKind.on_model}, 1, 5, "1-5 on-model photos"),
    "digital_twin": (set(PhotoKind), 5, 5, "5 garment images: front, back, side and detail"),
}
TWIN_VIEWS = ("front", "back", "side", "detail")


def understand(state: StudioState, runtime: Runtime[StudioContext]) -> dict:
    """Route the message: build/extend a gallery, change the plan, campaign variants, a question, status, publish."""
    text = state.get("text", "")
    reading = read_intent(text, has_plan=bool(state.get("plan")), has_images=bool(state.get("images")))
    if reading.question:  # two intents nearly as close: one short question instead of a guess
        return {"intent": "clarify", "messages": [{"role": "user", "text": text}], "notices": [], "ask": None,
                "answer": reading.question, "asks": 0, "decisions": None}
    return {"intent": reading.intent, "messages": [{"role": "user", "text": text}], "notices": [], "ask": None,
            "answer": "", "asks": 0, "decisions": None}


def intake(state: StudioState, runtime: Runtime[StudioContext]) -> dict:
    """Read the brief, decide which product it is about, store the photos, and decide whether to ask or to plan."""
    ws = runtime.context.ws
    catalog = ws.catalog
    notices = list(state.get("notices") or [])

    # 1. Read the brief (LLM or offline)
    progress("Reading the brief", "running")
    conversation_sku = state.get("conversation_sku")
    explicit_sku = state.get("sku") if state.get("sku") != conversation_sku else None
    result = runtime.context.reader.read(state.get("text", ""), sku=explicit_sku, category=state.get("category"),
                                         channels=state.get("channels") or ())
    notices += result.notices

    # 2. The same product or a new one: a photo that does not look like it asks, words naming another start one
    previous = Brief.model_validate(state["brief"]) if state.get("brief") else None
    if conversation_sku and not explicit_sku and not result.brief.sku:
        choice = choose_product(ws, conversation_sku, result.brief, state.get("text", ""), state.get("images") or [],
                                state.get("ask"))
        if choice.ask:
            return {"ask": choice.ask, "images": state.get("images") or [], "notices": notices,
                    "gave_up": state.get("asks", 0) >= runtime.context.max_asks}
        if choice.new:
            previous = None
            notices.append(choice.notice)
            reply_event(choice.notice[0].upper() + choice.notice[1:] + ".")  # said now: the turn may stop at review
            state = {**state, "sku": None, "plan": None}
    brief = _merge_briefs(previous, result.brief)
    progress("Reading the brief", "done", f"read the brief ({result.source}): " + _brief_summary(brief))

    # 3. Which SKU: the explicit one, the one in the brief, the one of this conversation, or a new one
    sku = brief.sku or state.get("sku")
    if sku is None and state.get("images"):
        sku = _new_sku(ws, brief)
        notices.append(f"no product code given; using {sku}")
    if sku is not None:
        check_sku(sku)
        brief = brief.model_copy(update={"sku": sku})
    if brief.category is None and sku and catalog.has_product(sku):
        brief = brief.model_copy(update={"category": catalog.get_product(sku).category})
    ingest_brief = brief
    if sku and catalog.has_product(sku):
        ingest_brief, kept = keep_title(catalog.get_product(sku).title, brief, sku)
        if kept:
            notices.append(kept)
            reply_event(kept[0].upper() + kept[1:] + ".")

    # 4. Ask for the category before storing anything that needs it
    update = {"brief": brief.model_dump(mode="json"), "sku": sku, "notices": notices, "images": [], "ask": None,
              "gave_up": state.get("asks", 0) >= runtime.context.max_asks, "conversation_sku": sku}
    if sku != conversation_sku and conversation_sku:
        update["plan"] = None  # another product: its own plan
    if brief.category is None:
        update["images"] = state.get("images") or []
        return update | {"ask": "What kind of product is it (ring, necklace, earrings, bracelet, watch, top, "
                                "bottoms, dress, shoes, bag, beauty)?"}

    # 5. Take in the photos (each is validated by the loader; a bad one is reported, not fatal)
    images = state.get("images") or []
    if images:
        from tools.prepare import ingest_product

        progress("Preparing the photos", "running", f"cutting out the product in {len(images)} photo(s)")
        good = []
        declared = _declared_kind(brief, state.get("text", ""))
        for path in images:
            try:
                _, photos = ingest_product(ws, sku, [path], category=brief.category.value, brief=ingest_brief)
            except ListingError as exc:
                notices.append(f"photo {_name(path)} is not usable: {exc}")
                continue
            good.append(path)
            notices += photo_notices(photos)
            for photo in photos:
                if declared is not None and photo.kind is not declared:
                    catalog.add_photo(photo.model_copy(update={"kind": declared}))
        progress("Preparing the photos", "done" if good else "failed",
                 f"{len(good)} of {len(images)} photo(s) ready")
    elif sku and catalog.has_product(sku):
        product = catalog.get_product(sku)
        if brief.dimensions != product.dimensions and any(brief.dimensions.model_dump().values()):
            catalog.upsert_product(product.model_copy(update={"dimensions": brief.dimensions}))

    # 6. A usable photo is required; then check what the use case needs
    photos = catalog.photos(sku) if sku and catalog.has_product(sku) else []
    if not photos:
        return update | {"ask": f"Please upload a photo of the product{f' {sku}' if sku else ''}: a sharp photo on a "
                                "plain background works best."}
    notices += missing_assets(brief, photos)
    return update | {"notices": notices}


def ask(state: StudioState, runtime: Runtime[StudioContext]) -> dict:
    """Ask the user for what is missing (interrupt); the answer continues the brief."""
    answer = interrupt({"kind": "question", "question": state["ask"]})
    answer = answer if isinstance(answer, dict) else {"text": str(answer)}
    text = f"{state.get('text', '')}\n{answer.get('text', '')}".strip()
    images = list(state.get("images") or []) + list(answer.get("images") or [])
    return {"text": text, "images": images, "asks": state.get("asks", 0) + 1,
            "messages": [{"role": "user", "text": answer.get("text", "")}]}


def photo_notices(photos: list[Photo], min_side: int = 800, min_confidence: float = 0.6) -> list[str]:
    """What the seller should know about a stored photo: small, or a product hard to separate from its background."""
    import re

    notices = []
    for photo in photos:
        name = photo.original_name or photo.asset_id[:12]
        if min(photo.width, photo.height) < min_side:
            notices.append(f"photo {name} is small ({photo.width}x{photo.height}): details may look soft; "
                           f"{min_side} px or more on the short side works best")
        for note in photo.notes:
            m = re.search(r"confidence (\d(?:\.\d+)?)", note)
            if note.startswith("cutout") and m and float(m.group(1)) < min_confidence:
                notices.append(f"the product in {name} was hard to separate from its background ({note}); "
                               "a photo on a plain background works best")
    return notices


def missing_assets(brief: Brief, photos: list[Photo]) -> list[str]:
    """What the requested use case still needs from the seller, in words (empty when all is there)."""
    notices = []
    if brief.use_case in USE_CASE_NEEDS:
        kinds, low, high, words = USE_CASE_NEEDS[brief.use_case]
        usable = [p for p in photos if p.kind in kinds]
        if brief.use_case == "digital_twin":
            named = " ".join(p.original_name.lower() for p in photos)
            lacking = [v for v in TWIN_VIEWS if v not in named]
            if len(photos) < low or lacking:
                notices.append(f"a digital twin needs {words}; I have {len(photos)} photo(s)"
                               + (f", missing views: {', '.join(lacking)}" if lacking else ""))
        elif len(usable) < low:
            notices.append(f"{brief.use_case.replace('_', ' ')} needs {words}; I have {len(usable)}")
        elif len(usable) > high:
            notices.append(f"{brief.use_case.replace('_', ' ')} uses at most {high} photos; I will use the first {high}")
    if brief.category in APPAREL and brief.use_case == "gallery" and not any(
            p.kind in (PhotoKind.flat_lay, PhotoKind.ghost_mannequin, PhotoKind.on_model) for p in photos):
        notices.append("for on-model apparel shots a flat lay or ghost mannequin photo works best")
    return notices


def _merge_briefs(old: Brief | None, new: Brief) -> Brief:
    """Later words refine earlier ones: non-empty new values win, lists are united."""
    if old is None:
        return new
    merged = old.model_dump()
    for key, value in new.model_dump().items():
        if key == "dimensions":
            merged[key] = {k: v if v is not None else merged[key].get(k) for k, v in value.items()}
        elif isinstance(value, list):
            merged[key] = list(dict.fromkeys([*merged[key], *value])) if value else merged[key]
        elif value not in (None, "", "gallery"):
            merged[key] = value
    merged["exclude_roles"] = [r for r in merged["exclude_roles"] if r not in new.roles]
    merged["roles"] = [r for r in merged["roles"] if r not in new.exclude_roles]
    return Brief.model_validate(merged)


def _declared_kind(brief: Brief, text: str) -> PhotoKind | None:
    """What the seller says the photos are, by use case (the cutout does not tell on-model from flat lay)."""
    if brief.use_case == "model_swap":
        return PhotoKind.on_model
    if brief.use_case == "model_creation":
        return PhotoKind.ghost_mannequin if "ghost" in text.lower() else PhotoKind.flat_lay
    return None


def _brief_summary(brief: Brief) -> str:
    parts = [brief.category.value if brief.category else "category unknown"]
    if brief.channels:
        parts.append("for " + ", ".join(c.value for c in brief.channels))
    if brief.mood or brief.season:
        parts.append("mood: " + ", ".join(x for x in (brief.mood, brief.season) if x))
    return "; ".join(parts)


def _new_sku(ws, brief: Brief) -> str:
    base = (brief.category.value if brief.category else "item").upper().replace("_", "-")
    n = 1
    while ws.catalog.has_product(f"{base}-{n:03d}"):
        n += 1
    return f"{base}-{n:03d}"


def _name(path) -> str:
    from pathlib import Path

    return Path(str(path)).name if not isinstance(path, bytes) else "upload"


__all__ = ["understand", "intake", "ask", "missing_assets", "BadInput"]
