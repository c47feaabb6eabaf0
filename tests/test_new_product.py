"""A new product is a new SKU: a second real product's photo in the same conversation asks one short
question (it does not look like the SKU being worked on) and the answer starts a new SKU; words naming
another product start one without asking; words saying it is the same product keep it; the first
product's title and photos are never changed by the later message."""

from __future__ import annotations

import pytest
from PIL import Image, ImageOps

from agent.products import SAME_PRODUCT_SIMILARITY, photo_similarity
from agent.runner import StudioAgent
from tools.settings import Settings
from tools.workspace import Workspace

SMALL = "1 variant each, no lifestyle, no campaign, no try-on, no detail"


@pytest.fixture
def ws(tmp_path):
    ws = Workspace.open(Settings.from_env({}, home=tmp_path / "home", max_rerenders=0))
    yield ws
    ws.close()


@pytest.fixture
def two_products(realdata, tmp_path):
    ring = realdata / "jewelry_packshot" / "myntra_48927_ring.jpg"
    earrings = realdata / "jewelry_packshot" / "myntra_35312_earrings.jpg"
    if not (ring.is_file() and earrings.is_file()):
        pytest.skip("the two real packshots are not in ../shared/realdata")
    mirrored = tmp_path / "ring-other-side.jpg"
    ImageOps.mirror(Image.open(ring).convert("RGB")).save(mirrored, quality=92)
    return ring, earrings, mirrored


def _send(agent, thread, text, images=()):
    events = list(agent.send(thread, text, images=list(images)))
    assert not [e for e in events if e["type"] == "error"], events
    return " ".join(e.get("text", "") for e in events if e["type"] == "reply")


@pytest.mark.slow
def test_a_second_products_photo_asks_then_keeps_two_skus(ws, two_products):
    ring, earrings, mirrored = two_products
    agent = StudioAgent(ws)
    _send(agent, "t", f"gold ring with a red stone for etsy, {SMALL}", [ring])
    first = agent.state("t")["sku"]
    title = ws.catalog.get_product(first).title
    assert photo_similarity(ws, first, [str(mirrored)]) >= SAME_PRODUCT_SIMILARITY
    assert photo_similarity(ws, first, [str(earrings)]) < SAME_PRODUCT_SIMILARITY

    # 1. an unrelated photo with neutral words: one short question, nothing stored yet
    reply = _send(agent, "t", f"and this one please, {SMALL}", [earrings])
    assert "does not look like" in reply and first in reply
    assert len(ws.catalog.photos(first)) == 1 and len(ws.catalog.list_products()) == 1

    # 2. the answer starts a new product; its kind is asked (the words never said it), then it is stored
    reply = _send(agent, "t", "new product")
    assert "What kind of product" in reply and len(ws.catalog.list_products()) == 1
    _send(agent, "t", "earrings")
    second = agent.state("t")["sku"]
    assert second != first and len(ws.catalog.list_products()) == 2
    assert ws.catalog.get_product(first).title == title and len(ws.catalog.photos(first)) == 1
    assert len(ws.catalog.photos(second)) == 1


@pytest.mark.slow
def test_words_decide_without_a_question(ws, two_products):
    ring, earrings, mirrored = two_products
    agent = StudioAgent(ws)
    _send(agent, "t", f"gold ring with a red stone for etsy, {SMALL}", [ring])
    first = agent.state("t")["sku"]
    title = ws.catalog.get_product(first).title
    # another view of the same ring, renamed in passing: same SKU, title kept and the reply says so
    reply = _send(agent, "t", f"another angle of the same ring, lovely vintage band, {SMALL}", [mirrored])
    assert agent.state("t")["sku"] == first and len(ws.catalog.photos(first)) == 2
    assert ws.catalog.get_product(first).title == title and "kept the name" in reply.lower()
    # words that name another product start one at once
    reply = _send(agent, "t", f"now the matching earrings, {SMALL}", [earrings])
    second = agent.state("t")["sku"]
    assert second != first and "new product" in reply.lower() and ws.catalog.get_product(second).category.value == "earrings"
    assert ws.catalog.get_product(first).title == title
