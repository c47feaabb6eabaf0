"""The served chat app in headless Chromium (Debian's /usr/bin/chromium through Playwright).

Screenshots of every stage land in test-artifacts/ui/ (git-ignored), at 1280x800 and at 420 px wide.
The seller scenario runs the real agent and the studio engine (no LLM) on two real products from
../shared/realdata: a ring (brief, plan, review in view, large view beside the photo, approve and change,
before/after, strokes that fix its see-through band and re-make the waiting images, the approved page, publish),
a support question, a reload, another browser, a second product (a new SKU, its photo attached twice through the
file dialog), and the 420 px layout. A second scenario adds a model photo for try-ons in its panel (a watermarked
photo refused, a clean one painted and stored) and asks for a try-on in the chat. Visible text never shows command
lines, ids or paths.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "ui"
WIDE = {"width": 1280, "height": 800}
NARROW = {"width": 420, "height": 800}

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian chromium (/usr/bin/chromium) is not installed"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Served:
    """The app served in this process on a loopback port, restartable on the same port and home."""

    def __init__(self, home: Path, **settings):
        self.home = home
        self.settings = settings
        self.port = _free_port()
        self.app = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/"

    def start(self) -> Served:
        from tools.settings import Settings
        from ui.app import serve

        self.app = serve(Settings.from_env({}, home=self.home, **self.settings), "127.0.0.1", self.port, block=False)
        return self

    def stop(self) -> None:
        if self.app is not None:
            self.app.close()
            self.app.listing_studio_workspace.close()
            self.app = None


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM),
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run"],
        )
        yield chromium
        chromium.close()


@pytest.fixture
def served(tmp_path):
    app = Served(tmp_path / "home").start()
    yield app
    app.stop()


def _page(browser, served: Served, outside: list[str]):
    context = browser.new_context(viewport=WIDE)
    page = context.new_page()
    page.set_default_timeout(30_000)
    base = served.url.rstrip("/")

    def watch(request):
        if not request.url.startswith((base, "data:", "blob:")):
            outside.append(request.url)

    page.on("request", watch)
    page.goto(served.url)
    page.wait_for_selector("#brief textarea")
    page.wait_for_load_state("load")
    page.wait_for_timeout(1000)  # the page's load event (thread id, pending review) runs right after
    return context, page


def shoot(page, name: str) -> None:
    """A 1280x800 full-page and a 420 px screenshot of the current stage."""
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / f"{name}-wide.png"), full_page=True)
    page.set_viewport_size(NARROW)
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / f"{name}-narrow.png"), full_page=True)
    page.set_viewport_size(WIDE)


def attach(page, paths) -> None:
    """Drop files on the chat box (its file input) and wait until they are uploaded."""
    page.locator("#brief input[type=file]").set_input_files([str(p) for p in paths])
    page.wait_for_selector("#brief .thumbnail-item")
    page.wait_for_selector('#brief [aria-label="Uploading"]', state="detached")


def chat_text(page) -> str:
    return page.locator("#chat").inner_text()


def test_shell_refuses_a_bad_upload_and_offers_a_demo_product(browser, served, tmp_path, demo_photo):
    outside: list[str] = []
    context, page = _page(browser, served, outside)
    try:
        # 1. The page is the studio, with nothing made yet.
        assert page.title() == "Listing Studio"
        assert page.get_by_text("No plan yet").is_visible()
        shoot(page, "01-start")

        # 2. A truncated photo is refused in the chat, with its name and what to do; nothing is sent.
        broken = tmp_path / "broken.jpg"
        broken.write_bytes(demo_photo.read_bytes()[:3000])
        attach(page, [broken])
        page.locator("#brief textarea").press("Enter")
        page.wait_for_selector("#chat >> text=None of these files could be used")
        text = chat_text(page)
        assert "broken.jpg" in text and "truncated or corrupt" in text
        assert "still in the box" not in text  # nothing was typed, so nothing is said to wait there
        shoot(page, "02-bad-upload")

        # 3. "Try a demo product" fills the SKU, the brief and the photo, ready to send.
        page.click("#demo-btn")
        page.wait_for_function("document.querySelector('#new-sku input, #new-sku textarea').value === 'DEMO-RING'")
        brief = page.locator("#brief textarea").input_value()
        assert "gold ring with a sapphire" in brief
        assert page.locator("#brief img").count() >= 1
        assert "DEMO-RING" in page.locator("#missing").inner_text()
        shoot(page, "03-demo-ready")
    finally:
        context.close()
    # 4. No analytics, fonts or anything else from outside this machine.
    assert outside == []


FORBIDDEN = ("listing-studio ", "cand_", "candidate(s)", "/tmp/", "/home/", "/root/", "exports/", "assets/", "Traceback")


def visible_text(page) -> str:
    return page.locator("body").inner_text()


def assert_seller_words(page, where: str) -> None:
    text = visible_text(page)
    for word in FORBIDDEN:
        assert word not in text, f"{where}: {word!r} is visible: …{text[max(0, text.find(word) - 80):text.find(word) + 80]}…"


def in_viewport(page, selector: str) -> bool:
    return page.evaluate(
        "sel => { const e = document.querySelector(sel); if (!e) return false; const r = e.getBoundingClientRect();"
        " return r.height > 0 && r.top < window.innerHeight && r.bottom > 0; }", selector)


def no_horizontal_overflow(page) -> list[str]:
    """Elements wider than the viewport or sticking out of it (420 px layout)."""
    return page.evaluate(
        "() => { const w = document.documentElement.clientWidth; const bad = [];"
        " if (document.documentElement.scrollWidth > w + 1) bad.push('page ' + document.documentElement.scrollWidth);"
        " for (const e of document.querySelectorAll('#brief, #sku-pick, #chat, .ls-card, #send-decisions, #publish-btn,"
        " #channel-pick, #approved-gallery')) { const r = e.getBoundingClientRect();"
        " if (r.width && (r.right > w + 1 || r.left < -1)) bad.push((e.id || e.className) + ' ' + r.left + '-' + r.right); }"
        " return bad; }")


def _wait_ready(page, before: int) -> None:
    """Wait until the turn finished: a new assistant message after `before` and the box usable again."""
    page.wait_for_function("n => document.querySelectorAll('#chat .message-row, #chat .message').length > n", arg=before)
    page.wait_for_selector("#brief textarea:not([disabled])")
    page.wait_for_function("() => !document.querySelector('#chat .pending, #chat [data-status=pending]')")


def _wait_replaced(page, ids: list[str], before: int) -> None:
    """Wait until every card of `ids` left the review, new ones came, and the turn finished: its last update,
    the one that names a card as ready, reached the page (the cards appear one update earlier)."""
    page.wait_for_function("ids => { const c = [...document.querySelectorAll('#review .ls-card')];"
                           " return c.length > 0 && c.every(x => !ids.includes(x.id.slice(5))); }", arg=ids)
    _wait_cards_ready(page, before)


def _wait_cards_ready(page, before: int) -> None:
    """Wait until a turn that made images finished: its last update, which names a card as ready, reached the page."""
    page.wait_for_function("() => { const t = document.querySelector('#ready-token textarea, #ready-token input');"
                           " return t && t.value && [...document.querySelectorAll('#review .ls-card')]"
                           ".some(c => c.id.slice(5) === t.value); }")
    _wait_ready(page, before)


class Traffic:
    """The page's queue traffic (events joining, the event stream opening and closing) and console errors,
    kept to explain a wait that timed out: an event that joined while the stream was closing and got no new
    stream shows as a join with no `queue/data` after the stream's abort."""

    def __init__(self, page):
        import time

        self.start, self.clock, self.lines = time.monotonic(), time.monotonic, []
        page.on("request", lambda r: self._log(f"→ {r.method} {self._path(r.url)}", r.url))
        page.on("response", lambda r: self._log(f"← {r.status} {self._path(r.url)}", r.url))
        page.on("requestfailed", lambda r: self._log(f"✗ {self._path(r.url)} {r.failure}", r.url))
        page.on("console", lambda m: m.type in ("error", "warning") and self._log(f"console {m.type}: {m.text[:200]}"))

    @staticmethod
    def _path(url: str) -> str:
        return url.split("/", 3)[-1][:90]

    def _log(self, line: str, url: str = "queue/") -> None:
        if "queue/" in url:
            self.lines.append(f"{self.clock() - self.start:7.1f}s {line}")


def page_state(page, traffic: Traffic | None = None) -> str:
    """What the page shows when a wait timed out: the ready token, the cards, the busy markers, the last
    messages and the last requests (printed by the test that failed)."""
    state = page.evaluate(
        "() => { const t = document.querySelector('#ready-token textarea, #ready-token input');"
        " const busy = [...document.querySelectorAll('[data-testid=status-tracker]:not(.hide)')]"
        "   .map(e => (e.closest('[id]') || {}).id + ' ' + e.className + ' ' + e.innerText.slice(0, 60));"
        " const rows = [...document.querySelectorAll('#chat .message-row, #chat .message')];"
        " return {token: t ? t.value : null, cards: [...document.querySelectorAll('#review .ls-card')].map(c => c.id),"
        "   box_disabled: !!document.querySelector('#brief textarea[disabled]'),"
        "   pending: document.querySelectorAll('#chat .pending, #chat [data-status=pending]').length,"
        "   busy, messages: rows.length, last: rows.slice(-3).map(r => r.innerText.slice(0, 300))}; }")
    lines = [f"{key}: {value}" for key, value in state.items()]
    return "\n".join(lines + (traffic.lines[-40:] if traffic else []))


def _messages(page) -> int:
    return page.locator("#chat .message-row, #chat .message").count()


def _card_ids(page) -> list[str]:
    return [card.get_attribute("id").removeprefix("card-") for card in page.locator("#review .ls-card").all()]


def _decide(page, cid: str, action: str, note: str = "") -> None:
    page.locator(f"#decide-{cid} label", has_text=action.capitalize()).click()
    if note:
        page.locator(f"#note-{cid} textarea").fill(note)
        page.locator(f"#note-{cid} textarea").press("Tab")


def _send(page, text: str, photos=()) -> float:
    import time

    if photos:
        attach(page, photos)
    page.fill("#brief textarea", text)
    started = time.monotonic()
    page.locator("#brief textarea").press("Enter")
    return started


def readme_picture(page) -> None:
    """What the seller sees when the images are ready (1280x800), as a small PNG."""
    from PIL import Image

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.evaluate("() => window.scrollBy(0, -260)")  # the end of the chat above the first cards
    page.wait_for_timeout(300)
    page.screenshot(path=str(ARTIFACTS / "readme-full.png"))
    with Image.open(ARTIFACTS / "readme-full.png") as shot:
        small = shot.convert("RGB").resize((960, 600), Image.LANCZOS)
        small.quantize(colors=128, method=Image.Quantize.MEDIANCUT).save(ARTIFACTS / "readme.png", optimize=True)
    page.evaluate("() => document.getElementById('review').scrollIntoView({block: 'start'})")


def _scroll_through(page) -> None:
    """Bring every card image into view once so lazy images load before a full-page screenshot."""
    for image in page.locator("#review .ls-card img").all():
        image.scroll_into_view_if_needed()
    page.wait_for_function("[...document.querySelectorAll('#review .ls-card img')].every(i => i.complete)")


def attach_by_dialog(page, path) -> None:
    """Attach a file the way a person does, through the upload button's file dialog. The dialog must open on an
    empty file input: one still holding the last file fires no change when that same file is chosen again."""
    with page.expect_file_chooser() as chooser:
        page.locator("#brief button.upload-button:visible").first.click()
    assert page.evaluate("() => document.querySelector('#brief input[type=file]').value") == "", \
        "the file input still holds the last file: choosing it again would do nothing"
    chooser.value.set_files(str(path))
    page.wait_for_selector("#brief .thumbnail-item")
    page.wait_for_selector('#brief [aria-label="Uploading"]', state="detached")


def page_height(page, viewport: dict) -> int:
    """The page's full height at a viewport size (px)."""
    page.set_viewport_size(viewport)
    page.wait_for_timeout(400)
    return page.evaluate("() => document.documentElement.scrollHeight")


def stroke_spots(mask, count: int, erode: int = 6) -> list[tuple[int, int]]:
    """Points deep inside the `count` largest regions of a mask: where a person would dab a stroke."""
    import cv2
    import numpy as np

    core = cv2.erode(mask.astype(np.uint8), np.ones((2 * erode + 1, 2 * erode + 1), np.uint8))
    n, labels, stats, _ = cv2.connectedComponentsWithStats(core)
    spots = []
    for i in sorted(range(1, n), key=lambda i: -stats[i, cv2.CC_STAT_AREA])[:count]:
        depth = cv2.distanceTransform((labels == i).astype(np.uint8), cv2.DIST_L2, 5)
        y, x = np.unravel_index(depth.argmax(), depth.shape)
        spots.append((int(x), int(y)))
    return spots


def paint(page, spots, photo_size: tuple[int, int], *, colour: int | None, editor: str = "#cutout-strokes",
          shown: float | None = None, reach: float | None = None, steps: int | None = None) -> None:
    """Dab an editor's brush at photo coordinates: a stroke 4 screen px (or `reach` photo px) either side of each
    spot, drawn in `steps` moves (default: one per screen px), colour 0 green keep, 1 red remove (None: the
    editor's one colour). The cutout editor shows the photo at 1024 px (`shown` None); an uploaded photo is shown
    at its own size (`shown` 1). Either is centred in its canvas at the zoom the editor displays."""
    box_of = page.locator(editor)
    box_of.scroll_into_view_if_needed()
    if colour is not None:
        page.locator(f"{editor} button[aria-label=Color]").click()
        page.locator(f"{editor} .swatch button.color").nth(colour).click()
    box = box_of.locator("canvas").first.bounding_box()
    zoom = float(box_of.locator(".zoom-number").inner_text().strip(" %\n")) / 100
    shown = 1024 / max(photo_size) if shown is None else shown
    for x, y in spots:
        sx = box["x"] + box["width"] / 2 + (x - photo_size[0] / 2) * shown * zoom
        sy = box["y"] + box["height"] / 2 + (y - photo_size[1] / 2) * shown * zoom
        half = 4 if reach is None else reach * shown * zoom
        page.mouse.move(sx - half, sy)
        page.mouse.down()
        page.mouse.move(sx + half, sy, steps=steps or max(4, int(half)))
        page.mouse.up()


# Intermittent: about one run in five on a loaded two-core machine, the turn after a re-cut never marks a card
# as ready within the wait (no server error logged). Run again once; a second failure fails the suite.
@pytest.mark.flaky(reruns=1)
@pytest.mark.slow
def test_a_seller_with_two_real_products(browser, tmp_path, realdata, caplog):
    import json
    import logging
    import time
    import urllib.error
    import urllib.request
    import zipfile

    import numpy as np
    from PIL import Image

    from tools.review import product_cutout
    from tools.settings import Settings
    from tools.workspace import Workspace

    ring = realdata / "masks" / "samlora_ring2.jpg"
    necklace = realdata / "jewelry_packshot" / "myntra_48345_necklace.jpg"
    served = Served(tmp_path / "home", max_rerenders=0).start()
    outside: list[str] = []
    caplog.set_level(logging.DEBUG, logger="listing_studio.ui")
    context, page = _page(browser, served, outside)
    traffic = Traffic(page)
    page.set_default_timeout(120_000)
    timings: dict[str, float] = {}
    try:
        # 1. A ring photo and a brief; the HTML in it is shown as text.
        shoot(page, "01-start")
        started = _send(page, "silver solitaire ring <img src=x onerror=alert(1)> with a diamond, 18 mm wide, "
                              "for Amazon, warm holiday mood", [ring])

        # 2. When the images are ready they are in view, with the plan in its panel (once).
        page.wait_for_selector("#review .ls-card img", state="visible")
        page.wait_for_function("() => { const e = document.querySelector('#review .ls-card img');"
                               " const r = e.getBoundingClientRect(); return r.top < window.innerHeight && r.bottom > 0; }")
        timings["enter_to_first_candidate_s"] = round(time.monotonic() - started, 1)
        page.wait_for_selector("#chat >> text=ready for review")
        assert in_viewport(page, "#review .ls-card img")
        assert "<img src=x onerror=alert(1)>" in chat_text(page)
        assert page.locator("#chat img[src='x']").count() == 0
        assert "Plan for" in page.locator("#plan").inner_text() and "Plan for" not in chat_text(page)
        sku = page.locator("#sku-pick input").input_value().split(" ")[0]
        assert sku and sku != "+", page.locator("#sku-pick input").input_value()
        assert_seller_words(page, "first review")
        steps = page.locator("#chat").inner_text()
        for agent_word in ("packshot", "candidate(s)", "2000x2000", "for amazon"):
            assert agent_word not in steps, f"progress in the agent's words: {agent_word!r}"
        assert "Making the main image (Amazon, 2000×2000)" in steps
        timings["narrow_height_at_review_px"] = page_height(page, NARROW)
        page.set_viewport_size(WIDE)
        page.evaluate("() => document.getElementById('review').scrollIntoView({block: 'start'})")
        readme_picture(page)
        shoot(page, "02-review-in-view")

        # 3. A candidate opens large beside the source photo, with its checks in words.
        cards = _card_ids(page)
        assert len(cards) >= 4
        packshots = [c for c in cards if page.locator(f"#card-{c}.ls-role-packshot").count()]
        assert packshots, "no main image was made"
        flagged = page.locator(f"#card-{packshots[0]} .ls-fail").count() > 0
        # Send decisions looks secondary until a card has a choice: then it is the screen's primary action.
        idle = page.evaluate("() => getComputedStyle(document.getElementById('send-decisions')).backgroundColor")
        page.click(f"#view-{packshots[0]}")
        page.wait_for_selector("#viewer #view-source img")
        page.wait_for_selector("#viewer #view-image img")
        assert in_viewport(page, "#viewer")
        assert page.locator("#view-checks li").count() >= 3
        assert page.locator("#view-other img").count() == 1  # the other version of the same shot, to compare
        # a decision made in the large view is the card's own (sent with the others by Send decisions)
        page.click("#view-decide button[data-action=reject]")
        assert page.locator(f"#decide-{packshots[0]} input[value=reject]").is_checked()
        assert "ls-chosen" in page.locator("#view-decide button[data-action=reject]").get_attribute("class")
        assert_seller_words(page, "large view")
        shoot(page, "03-large-view")
        page.click("#close-view")

        # 4. Approve the main image; ask for a change on another image with its own words; send.
        # the change goes to a scene: its set takes "warmer" (a main image or close-up is not made again for it)
        scenes = [c for c in cards if page.locator(f"#card-{c}.ls-role-lifestyle").count()]
        assert scenes, "the ring's gallery was expected to plan a lifestyle scene"
        changed = scenes[0]
        untouched = next(c for c in cards if c not in (packshots[0], changed))
        # A flagged image is approved only with the seller's reason, typed on its card.
        _decide(page, packshots[0], "approve", "I checked it against my photo: the ring is whole" if flagged else "")
        # "Change" with no words: the card opens its box and asks; Send sends nothing until it is filled.
        _decide(page, changed, "change")
        ready = page.evaluate("() => getComputedStyle(document.getElementById('send-decisions')).backgroundColor")
        assert idle != ready, (idle, ready)
        assert page.locator(f"#note-{changed} textarea").is_visible()
        asked = page.evaluate("id => getComputedStyle(document.getElementById('card-' + id), '::after').content",
                              changed)
        assert "Say what to change" in asked, asked
        # each card says its decision in words (not by its border colour alone), and its box asks for what that
        # decision needs: the reason to approve an image that differs, or what to change
        badge = "id => getComputedStyle(document.getElementById('card-' + id), '::before').content"
        assert "Approved" in page.evaluate(badge, packshots[0]) and "To change" in page.evaluate(badge, changed)
        assert page.locator(f"#note-{changed} textarea").get_attribute("placeholder") == "What to change?"
        ask = page.locator(f"#note-{packshots[0]} textarea").get_attribute("placeholder")
        assert ask.startswith("Why approve it anyway" if flagged else "Why approve it"), ask
        page.click("#send-decisions")
        page.wait_for_selector("#chat >> text=Nothing was sent yet")
        assert _card_ids(page) == cards
        assert page.locator(f"#decide-{packshots[0]} input[value=approve]").is_checked()  # the choices stay
        assert page.locator(f"#decide-{changed} input[value=change]").is_checked()
        page.locator(f"#note-{changed} textarea").fill("warmer background")
        page.locator(f"#note-{changed} textarea").press("Tab")
        shoot(page, "04-decided")
        before = _messages(page)
        page.click("#send-decisions")
        page.wait_for_selector("#chat >> text=change: “warmer background”")
        _wait_replaced(page, [packshots[0], changed], before)
        second = _card_ids(page)
        fresh = [c for c in second if c not in cards]
        # the images not decided on stay in the review beside the changed shot's new ones
        assert fresh and untouched in second and packshots[0] not in second, (cards, second)

        # 5. The change request shows before and after.
        page.click(f"#view-{fresh[0]}")
        page.wait_for_selector("#viewer #view-other img")
        assert "Before your change" in page.locator("#viewer").inner_text()
        assert "warmer background" in page.locator("#view-title").inner_text()
        shoot(page, "05-before-after")
        page.click("#close-view")

        # 5b. The ring's band came out partly see-through: paint keep over it and remove over a kept shadow,
        #     re-cut, and the images waiting for review are made again from the corrected cutout.
        ws = Workspace.open(Settings.from_env({}, home=served.home))
        first = product_cutout(ws, sku)
        old_alpha = np.asarray(Image.open(first["cutout_path"]).convert("RGBA"))[..., 3]
        truth = np.asarray(Image.open(ring.with_suffix(".mask.png")).convert("L")) > 127
        keep_spots = stroke_spots(truth & (old_alpha < 128), 5)
        remove_spots = stroke_spots(~truth & (old_alpha > 127), 1, erode=3)
        assert len(keep_spots) == 5 and remove_spots, "the automatic cutout was expected to lose part of the band"
        lost = page.locator("#review .ls-card", has_text="Part of the product may be missing").count() > 0
        filled = page.locator("#review .ls-card", has_text="filled a hole or a gap").count() > 0
        assert page.locator("#cutout-hint").is_visible() == (lost or filled)  # the review points at the fix
        size = Image.open(ring).size
        assert not page.locator("#recut-btn").is_enabled()  # nothing painted yet: nothing to re-cut
        paint(page, keep_spots, size, colour=0)
        paint(page, remove_spots, size, colour=1)
        page.wait_for_selector("#recut-btn:not([disabled])")
        shoot(page, "05b-strokes")
        waiting = _card_ids(page)
        before = _messages(page)
        page.click("#recut-btn")
        page.wait_for_selector("#chat >> text=The cutout is corrected")
        _wait_replaced(page, waiting, before)
        fixed = product_cutout(ws, sku)
        new_alpha = np.asarray(Image.open(fixed["cutout_path"]).convert("RGBA"))[..., 3]
        assert fixed["cutout_path"] != first["cutout_path"] and fixed["earlier"] == 1
        assert Path(first["cutout_path"]).is_file()  # the first cutout is kept
        assert all(new_alpha[y, x] > 200 for x, y in keep_spots), [int(new_alpha[y, x]) for x, y in keep_spots]
        assert all(new_alpha[y, x] < 60 for x, y in remove_spots)
        photo = next(p for p in ws.catalog.photos(sku) if p.cutout_asset_id)
        assert str(ws.assets.path(photo.cutout_asset_id)) == fixed["cutout_path"]
        assert len(photo.previous_cutout_ids) == 1 and ws.assets.path(photo.previous_cutout_ids[0]).is_file()
        remade = _card_ids(page)
        assert remade and not set(remade) & set(waiting)  # every waiting image made again (each shot in full)
        assert {ws.catalog.get_candidate(c).source_asset_id for c in remade} == {photo.cutout_asset_id}
        ws.close()
        page.locator("#cutout-box").scroll_into_view_if_needed()
        shoot(page, "05c-recut")

        # 6. The approved page for the channel, in slot order, before Publish is enabled.
        page.wait_for_selector("#approved-gallery img")
        approved_notes = page.locator("#approved-notes").inner_text()
        assert "Amazon will get 1 image" in approved_notes
        # and what the page does not have yet, with why: the shots whose images still wait for review
        assert "Not on the page yet, the lifestyle scene" in approved_notes and "waiting for review" in approved_notes
        assert page.locator("#publish-btn").is_enabled()
        assert_seller_words(page, "approved view")
        shoot(page, "06-approved")
        # On a phone the approved page and Publish come before the cards still waiting for review.
        page.set_viewport_size(NARROW)
        page.wait_for_timeout(400)
        publish_y = page.locator("#publish-btn").bounding_box()["y"]
        assert publish_y < page.locator("#review .ls-card").first.bounding_box()["y"]
        timings["narrow_height_approved_and_review_px"] = page.evaluate("() => document.documentElement.scrollHeight")
        page.set_viewport_size(WIDE)

        # 7. A support question answered from the same coverage as the panel.
        _send(page, f"what's missing for {sku}?")
        page.wait_for_selector("#chat >> text=still lacks")
        answer = chat_text(page).split("what's missing for")[-1]
        assert f"{sku} still lacks" in answer and "waiting for review" in answer, answer
        assert answer.count("still lacks") == 1 and page.locator("#missing").inner_text().startswith(f"{sku} still lacks")
        assert_seller_words(page, "support answer")

        # 8. Publish and download the pack.
        page.click("#publish-btn")
        page.wait_for_selector("#chat >> text=Published")
        # published as it stands: Publish again is there, no longer the screen's action
        page.wait_for_selector("#publish-btn >> text=Publish again")
        assert "Amazon has this image published" in page.locator("#approved-notes").inner_text()
        with page.expect_download() as download_info:
            page.locator("#download a").first.click()
        zipped = tmp_path / "pack.zip"
        download_info.value.save_as(zipped)
        names = [Path(n).name for n in zipfile.ZipFile(zipped).namelist() if not n.endswith("/")]
        assert any(n.endswith(".jpg") for n in names) and "manifest.json" in names
        assert_seller_words(page, "published")
        shoot(page, "07-published")

        # 9. The exports and the image store are not served, even to someone who knows their paths.
        pack_file = next((served.home / "exports" / sku / "amazon").glob("*.jpg"))
        for path in (pack_file, next((served.home / "assets").rglob("*.png"))):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(f"{served.url}gradio_api/file={path}", timeout=10)
            assert refused.value.code in (403, 404)

        # 10. A reload keeps the conversation (no review is pending now); another browser sees nothing of it.
        said = chat_text(page)
        page.reload()
        page.wait_for_selector("#chat >> text=what's missing for")
        assert "warm holiday mood" in chat_text(page)
        assert sku in page.locator("#sku-pick input").input_value()
        # the pack published before the reload is offered for download again, and the photo to paint on is back
        page.wait_for_selector("#download a")
        assert f"{sku}-amazon.zip" in "".join(page.locator("#download").inner_text().split())
        page.wait_for_selector("#cutout-strokes canvas")
        shoot(page, "08-reloaded")
        other = browser.new_context(viewport=WIDE)
        try:
            other_page = other.new_page()
            other_page.goto(served.url)
            other_page.wait_for_selector("#brief textarea")
            other_page.wait_for_timeout(1500)
            assert "solitaire" not in other_page.locator("#chat").inner_text()
            assert other_page.locator("#review .ls-card").count() == 0
        finally:
            other.close()
        assert said

        # 11. A second product's photo makes a new SKU; the picker follows; the ring keeps its name.
        ring_title = page.locator("#sku-pick input").input_value()
        attach_by_dialog(page, necklace)
        page.locator("#brief .thumbnail-item button").first.click()  # removed again, then the same file once more
        page.wait_for_selector("#brief .thumbnail-item", state="detached")
        attach_by_dialog(page, necklace)
        _send(page, "now this one: silver pendant necklace for Etsy")
        page.wait_for_selector(f"#chat >> text=Is this a new product, or another photo of {sku}?")
        before = _messages(page)
        page.click("#new-product")
        page.wait_for_selector("#review .ls-card img", state="visible")
        _wait_cards_ready(page, before)
        page.wait_for_function("sku => !document.querySelector('#sku-pick input').value.startsWith(sku)", arg=sku)
        page.locator("#sku-pick input").click()
        assert page.get_by_role("option", name=ring_title).count() == 1
        page.keyboard.press("Escape")
        # the ring's pack is not offered for the necklace, which has none
        page.wait_for_selector("#download", state="hidden")
        ws = Workspace.open(Settings.from_env({}, home=served.home))
        try:
            skus = [p.sku for p in ws.catalog.list_products()]
            assert len(skus) == 2 and len(ws.catalog.photos(sku)) == 1, skus
        finally:
            ws.close()
        _scroll_through(page)
        timings["narrow_height_second_product_px"] = page_height(page, NARROW)
        page.set_viewport_size(WIDE)
        shoot(page, "09-second-product")

        # 12. 420 px: nothing sticks out; two cards side by side; the decision button stays reachable.
        page.set_viewport_size(NARROW)
        page.wait_for_timeout(500)
        page.wait_for_selector("#review .ls-card img", state="visible")
        assert no_horizontal_overflow(page) == []
        boxes = [page.locator(f"#card-{c}").bounding_box() for c in _card_ids(page)[:2]]
        assert len(boxes) == 2 and abs(boxes[0]["y"] - boxes[1]["y"]) < 5, boxes
        page.locator("#review .ls-card").first.scroll_into_view_if_needed()
        assert in_viewport(page, "#send-decisions")
        assert_seller_words(page, "narrow")
        page.screenshot(path=str(ARTIFACTS / "10-narrow-review.png"))
        page.set_viewport_size(WIDE)
    except Exception:
        print(page_state(page, traffic))
        print("\n".join(f"{r.relativeCreated / 1000:8.1f}s {r.threadName[:16]} {r.getMessage()[:400]}"
                        for r in caplog.records[-60:]))
        raise
    finally:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        timings["load_average_1_5_15"] = [round(x, 1) for x in os.getloadavg()]
        (ARTIFACTS / "timings.json").write_text(json.dumps(timings, indent=2))
        context.close()
        served.stop()
    assert outside == []


def upload_model_photo(page, path, editor: str = "#model-photo") -> None:
    """Put a photo into an upload editor (the model's photo, a set) through its file input and wait until it is
    drawn."""
    page.locator(f"{editor} input[type=file]").set_input_files(str(path))
    page.wait_for_function(f"() => {{ const z = document.querySelector('{editor} .zoom-number');"
                           " return z && parseFloat(z.innerText) > 0; }")
    page.wait_for_timeout(500)


def model_note(page, text: str) -> str:
    """Wait until the panel's note says `text`; return the note."""
    page.locator("#model-note", has_text=text).wait_for()
    return page.locator("#model-note").inner_text()


@pytest.mark.slow
def test_a_seller_adds_a_model_photo_and_a_try_on(browser, tmp_path, realdata):
    """The try-on advice points to the "Model photos for try-ons" panel; there a watermarked photo is refused in
    the seller's words with nothing typed lost, a clean one is stored with the painted spot as its anchor and the
    model's consent, and "add a try-on" in the chat puts a try-on in the review. Then a photo of the seller's own
    set, its surface painted and its width given, is stored at the scale the width gives."""
    import numpy as np
    from conftest import PLATE_CLEAN_ROWS
    from PIL import Image

    from tools.settings import Settings
    from tools.workspace import Workspace

    ring = realdata / "masks" / "samlora_ring2.jpg"
    marked = realdata / "model_plates" / "ringvton_plate_left.jpg"  # a faint stock-photo watermark on the palm
    spot = np.asarray(Image.open(marked.with_suffix(".mask.png")).convert("L")) > 127
    # the fingers without the watermark below them, framed as a seller would (not the empty white above them)
    left, top = 60, 150
    clean = tmp_path / "hand.png"
    Image.open(marked).crop((left, top, Image.open(marked).width - left, PLATE_CLEAN_ROWS)).save(clean)
    ys, xs = np.nonzero(spot)
    across = [(int(xs.mean()), int(ys.mean()))]  # one stroke across the ring finger, as wide as the finger
    reach = (xs.max() - xs.min()) / 2 - 12  # the brush is 24 px wide
    served = Served(tmp_path / "home", max_rerenders=0).start()
    outside: list[str] = []
    context, page = _page(browser, served, outside)
    traffic = Traffic(page)
    page.set_default_timeout(120_000)
    try:
        # 1. A ring's gallery for Amazon: the try-on is not made, and the advice points to the panel.
        _send(page, "silver solitaire ring with a diamond, 18 mm wide, for Amazon, no campaign", [ring])
        page.wait_for_selector("#review .ls-card img", state="visible")
        page.wait_for_selector("#chat >> text=ready for review")
        sku = page.locator("#sku-pick input").input_value().split(" ")[0]
        advice = " ".join(page.locator(s).inner_text() for s in ("#chat", "#plan", "#missing"))
        assert "Model photos for try-ons" in advice and "add a try-on" in advice, advice
        assert page.locator("#review .ls-card.ls-role-try_on").count() == 0

        # 2. The panel, closed until opened. A watermarked photo, painted, named and ticked, is refused with its
        #    reason in the seller's words; the name, the kind and the ticks stay; nothing is stored.
        assert not page.locator("#model-photo").is_visible()
        page.locator("#model-photos button.label-wrap").click()
        page.wait_for_selector("#model-photo", state="visible")
        assert not page.locator("#add-model-photo").is_enabled()  # nothing to add before a photo is there
        upload_model_photo(page, marked)
        page.wait_for_selector("#add-model-photo:not([disabled])")
        paint(page, across, Image.open(marked).size, colour=None, editor="#model-photo", shown=1, reach=reach)
        page.locator("#model-name input").fill("Ana")
        page.locator("#model-consent label", has_text="Amazon").click()
        page.click("#add-model-photo")
        refused = model_note(page, "watermark")
        assert refused.startswith("✗") and "use a photo without any text, logo or watermark" in refused, refused
        assert page.locator("#model-name input").input_value() == "Ana"
        assert page.locator("#model-consent").get_by_label("Amazon", exact=True).is_checked()
        assert page.locator("#model-kind").get_by_label("A hand (rings)").is_checked()
        assert_seller_words(page, "model photo refused")
        ws = Workspace.open(Settings.from_env({}, home=served.home))
        try:
            assert ws.catalog.plates() == []
        finally:
            ws.close()
        page.locator("#model-photos").scroll_into_view_if_needed()
        shoot(page, "11-model-photo-refused")

        # 3. The same hand without the watermark: painted across the ring finger, stored, said so.
        page.locator("#model-photo button[aria-label='Clear canvas']").click()
        upload_model_photo(page, clean)
        inside = [(x - left, y - top) for x, y in across]
        paint(page, inside, Image.open(clean).size, colour=None, editor="#model-photo", shown=1, reach=reach)
        page.click("#add-model-photo")
        stored = model_note(page, "Added the photo of a hand")
        assert stored.startswith("✓ Added the photo of a hand (Ana, agreed for Amazon).") and "add a try-on" in stored
        assert sku in stored, stored
        # stored: the editor is empty again and the button waits for the next photo
        page.wait_for_selector("#add-model-photo[disabled]")
        ws = Workspace.open(Settings.from_env({}, home=served.home))
        try:
            (plate,) = ws.catalog.plates("hand")
            talent = ws.catalog.get_talent(plate.talent_id)
            assert talent.name == "Ana" and [c.value for c in talent.consent.channels] == ["amazon"]
            # the painted stroke is the anchor: on the ring finger, about as wide as the finger
            assert abs(plate.anchor.center[0] + left - xs.mean()) < 12, plate.anchor
            assert abs(plate.anchor.center[1] + top - ys.mean()) < 12, plate.anchor
            assert 0.6 < plate.anchor.span_px / (xs.max() - xs.min() + 1) < 1.6, plate.anchor
        finally:
            ws.close()
        page.locator("#model-photos").scroll_into_view_if_needed()
        shoot(page, "12-model-photo-stored")

        # 4. "add a try-on" in the chat: a try-on joins the review.
        before = _messages(page)
        _send(page, "add a try-on")
        page.wait_for_selector("#review .ls-card.ls-role-try_on img", state="visible")
        _wait_ready(page, before)
        assert_seller_words(page, "try-on")
        # where the plan had it, and no longer listed as impossible beside the images made for it
        assert "Try-on (Amazon, gallery #2)" in page.locator("#review").inner_text()
        missing = page.locator("#missing").inner_text()
        # one model photo: one version (two on the same photo would differ only in their shadow)
        assert "try-on (gallery #2, Amazon): 1 image waiting for review" in missing and "a try-on needs" not in missing
        assert page.locator("#review .ls-card.ls-role-try_on").count() == 1
        assert page.locator("#model-note").inner_text().strip() == ""  # its "say add a try-on" is done: gone
        assert plate.id not in visible_text(page)
        page.evaluate("() => document.getElementById('review').scrollIntoView({block: 'start'})")
        shoot(page, "13-try-on")

        # 5. The seller's own set: a table top uploaded, its surface painted, its width given; stored at that scale.
        table = tmp_path / "table.png"
        Image.open(realdata / "product_lifestyle" / "unsplash_laptop_desk.jpg").convert("RGB").crop(
            (0, 780, 820, 1280)).save(table)
        page.locator("#set-photos button.label-wrap").click()
        page.wait_for_selector("#set-photo", state="visible")
        assert not page.locator("#add-set-photo").is_enabled()
        upload_model_photo(page, table, editor="#set-photo")
        page.wait_for_selector("#add-set-photo:not([disabled])")
        rows = [(630, y) for y in range(200, 420, 25)]  # strokes across the table top, x 480..780
        paint(page, rows, (820, 500), colour=None, editor="#set-photo", shown=1, reach=150, steps=12)
        page.locator("#set-width input").fill("40")
        page.click("#add-set-photo")
        page.locator("#set-note", has_text="Added your set").wait_for()
        assert "at its true size" in page.locator("#set-note").inner_text()
        page.wait_for_selector("#add-set-photo[disabled]")
        ws = Workspace.open(Settings.from_env({}, home=served.home))
        try:
            (scene,) = ws.catalog.plates("scene")
            painted = np.asarray(ws.assets.open(scene.mask_asset_id).convert("L")) > 127
            cols = np.nonzero(painted.any(axis=0))[0]
            assert 400 < cols.min() < 480 and 780 < cols.max() <= 820, (cols.min(), cols.max())  # where it was painted
            assert 0.8 < scene.mm_per_px < 1.4, scene.mm_per_px  # 40 cm across the 300-400 px painted
        finally:
            ws.close()
        # on a phone the sets panel comes last, after the model photos, not between the plan and the review
        page.set_viewport_size(NARROW)
        page.wait_for_timeout(400)
        ys = {k: page.locator(k).bounding_box()["y"] for k in ("#review", "#model-photos", "#set-photos")}
        assert ys["#review"] < ys["#model-photos"] < ys["#set-photos"], ys
        page.set_viewport_size(WIDE)
        page.locator("#set-photos").scroll_into_view_if_needed()
        shoot(page, "14-set-stored")
    except Exception:
        print(page_state(page, traffic))
        raise
    finally:
        context.close()
        served.stop()
    assert outside == []
