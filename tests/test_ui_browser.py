"""The served chat app in headless Chromium (Debian's /usr/bin/chromium through Playwright).

Screenshots of every stage land in test-artifacts/ui/ (git-ignored), at 1280x800 and at 420 px wide.
The end-to-end test runs the real agent and the studio engine (no LLM): upload a photo, brief, plan,
candidates with verdicts, approve one, reject one with a change request, restart, publish, find the files.
"""

from __future__ import annotations

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
        page.wait_for_selector("#chat >> text=None of the files could be used")
        text = chat_text(page)
        assert "broken.jpg" in text and "truncated or corrupt" in text
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


@pytest.fixture
def product_photo(tmp_path):
    """(photo, SKU, brief): a real ring photo from ../shared/realdata, or the demo ring where it is absent."""
    from tests.conftest import REALDATA

    real = REALDATA / "masks" / "samlora_ring2.jpg"  # 1920x1080 studio photo: large enough for a 2000 px pack
    if real.is_file():
        return real, "RING-SOLITAIRE", ("silver solitaire ring with a diamond, 18 mm wide, for Google Shopping, "
                                         "warm holiday mood")
    from tools.demo import demo_photo_bytes

    path = tmp_path / "demo-ring.jpg"
    path.write_bytes(demo_photo_bytes("DEMO-RING"))
    return path, "DEMO-RING", "gold ring with a sapphire, 21 mm wide, for Google Shopping, warm holiday mood"


def _card_ids(page) -> list[str]:
    return [card.get_attribute("id").removeprefix("card-") for card in page.locator(".ls-card").all()]


def _scroll_through(page) -> None:
    """Bring every card into view once so lazy images load before a full-page screenshot."""
    for card in page.locator(".ls-card img").all():
        card.scroll_into_view_if_needed()
    page.wait_for_function("[...document.querySelectorAll('.ls-card img')].every(i => i.complete)")


@pytest.mark.slow
def test_end_to_end_brief_to_published_pack_with_the_real_agent(browser, tmp_path, product_photo):
    import zipfile

    from tools.settings import Settings
    from tools.workspace import Workspace

    photo, sku, brief = product_photo
    # No re-renders of failing candidates: the review shows what the first renders got (keeps the test short).
    served = Served(tmp_path / "home", max_rerenders=0).start()
    outside: list[str] = []
    context, page = _page(browser, served, outside)
    page.set_default_timeout(120_000)
    try:
        # 1. A new product: SKU, photo and brief in one message.
        page.fill("#new-sku input", sku)
        attach(page, [photo])
        page.fill("#brief textarea", brief)
        page.locator("#brief textarea").press("Enter")

        # 2. The agent's steps stream into the chat, then the plan appears as a list.
        page.wait_for_selector("#chat >> text=Plan for")
        assert f"Plan for {sku}" in page.locator("#plan").inner_text()
        shoot(page, "10-plan")

        # 3. Candidates arrive grouped by shot, each with its verdict badge and the critique's reasons.
        page.wait_for_selector(".ls-card")
        first_round = _card_ids(page)
        assert len(first_round) >= 2
        assert page.locator(".ls-card .ls-badge").count() == len(first_round)
        assert page.locator(".ls-shot-title").count() >= 2
        passing = [cid for cid in first_round if page.locator(f"#card-{cid} .ls-pass").count()]
        flagged = [cid for cid in first_round if cid not in passing]
        assert passing, "no candidate passed the vision check"
        for cid in flagged:
            assert page.locator(f"#card-{cid} .ls-reasons li").count() >= 1
        _scroll_through(page)
        shoot(page, "11-candidates")

        # 4. Approve a main image (a packshot: Google's first image is the product alone), reject another
        #    candidate with a change request, send.
        packshots = [cid for cid in passing if page.locator(f"#card-{cid}.ls-role-packshot").count()]
        assert packshots, "no packshot passed the vision check"
        approved = packshots[0]
        rejected = [cid for cid in first_round if cid != approved][0]
        page.click(f"#approve-{approved}")
        page.wait_for_selector(f"#card-{approved}.ls-card-approve")
        page.click(f"#reject-{rejected}")
        page.wait_for_selector(f"#card-{rejected}.ls-card-reject")
        page.fill("#change-text textarea", "warmer background")
        shoot(page, "12-marked")
        page.click("#send-decisions")
        page.wait_for_selector("#chat >> text=change request: “warmer background”")

        # 5. The rejected shot is re-planned with the request and rendered again for review.
        page.wait_for_function(
            "ids => { const cards = [...document.querySelectorAll('.ls-card')];"
            " return cards.length > 0 && cards.every(c => !ids.includes(c.id.slice(5))); }", arg=first_round)
        second_round = _card_ids(page)
        assert "warmer background" in page.locator("#plan").inner_text()
        _scroll_through(page)
        shoot(page, "13-second-review")

        ws = Workspace.open(Settings.from_env({}, home=served.home))
        try:
            assert [c.id for c in ws.catalog.approved(sku)] == [approved]
            decision = ws.catalog.latest_decision(rejected)
            assert (decision.action, decision.note) == ("change", "warmer background")
        finally:
            ws.close()

        # 6. A restart: the same browser reopens the conversation and the pending review from the checkpoint.
        served.stop()
        served.start()
        page.reload()
        page.wait_for_selector("#chat >> text=Welcome back")
        page.wait_for_selector(".ls-card")
        assert sorted(_card_ids(page)) == sorted(second_round)
        assert sku in page.locator("#sku-pick input").input_value()
        shoot(page, "14-resumed")

        # Another browser session is its own conversation: it lists the SKU but has no review waiting.
        other = browser.new_context(viewport=WIDE)
        try:
            other_page = other.new_page()
            other_page.goto(served.url)
            other_page.wait_for_selector("#brief textarea")
            other_page.wait_for_timeout(1000)
            assert "Welcome back" not in chat_text(other_page)
            assert other_page.locator(".ls-card").count() == 0
            other_page.locator("#sku-pick input").click()
            assert other_page.get_by_role("option", name=sku).count() == 1
        finally:
            other.close()

        # 7. Publish for Google Shopping and download the pack.
        page.locator("#channel-pick input").click()
        page.get_by_role("option", name="google", exact=True).click()
        before = chat_text(page)
        page.click("#publish-btn")
        page.wait_for_function("before => document.querySelector('#chat').innerText.length > before.length",
                               arg=before)
        page.wait_for_timeout(500)
        assert "Published" in chat_text(page), chat_text(page)[len(before):]
        link = page.locator("#download a").first
        with page.expect_download() as download_info:
            link.click()
        zipped = tmp_path / "pack.zip"
        download_info.value.save_as(zipped)
        assert download_info.value.suggested_filename == f"{sku}-google.zip"
        names = zipfile.ZipFile(zipped).namelist()
        folder = served.home / "exports" / sku / "google"
        on_disk = sorted(p.name for p in folder.iterdir() if p.is_file())
        assert on_disk and sorted(Path(n).name for n in names if not n.endswith("/")) == on_disk
        assert any(name.lower().endswith((".jpg", ".jpeg", ".png")) for name in on_disk)
        shoot(page, "15-published")

        # 8. "New conversation" starts afresh: empty chat, no review, no plan; a reload stays fresh, and the
        #    SKU made so far is still in the catalog to pick.
        page.click("#new-chat")
        page.wait_for_function("document.querySelectorAll('.ls-card').length === 0")
        page.wait_for_selector("#plan >> text=No plan yet")
        assert "Published" not in chat_text(page)
        page.reload()
        page.wait_for_selector("#brief textarea")
        page.wait_for_timeout(1000)
        assert "Welcome back" not in chat_text(page) and page.locator(".ls-card").count() == 0
        page.locator("#sku-pick input").click()
        assert page.get_by_role("option", name=sku).count() == 1
        shoot(page, "16-new-conversation")
    finally:
        context.close()
        served.stop()
    assert outside == []
