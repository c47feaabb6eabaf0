"""The Gradio chat app: `build_app(settings)` lays out the Blocks and wires module-level handlers over one
`AppContext`; `serve(settings, host, port)` checks the bind address and launches it.

Thin: every turn goes to `agent.runner.StudioAgent` (send / resume / pending_review / state) and its events
become chat messages, the plan and the review cards (text from `ui.views`). The catalog is read only through
tool functions (`tools.review`, `tools.coverage`), publishing goes through `tools.publish.publish_to_exports`
(the same path as the agent's), and the browser only ever gets copies made for it in the app's own temporary
folder (the home folder itself is never served).
"""

from __future__ import annotations

import logging
import os
import re
import secrets
import shutil
import sys
import tempfile
import uuid
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

from tools.errors import BadInput, ListingError, OutOfSpace, Refused, storage_problem
from tools.settings import Settings
from ui.views import (
    PLATE_PARTS,
    approved_caption,
    approved_markdown,
    as_text,
    candidate_names,
    card_html,
    checks_markdown,
    close_pending,
    cutout_hint,
    decisions_summary,
    file_label,
    group_by_shot,
    plan_line,
    plan_markdown,
    progress_message,
    published_text,
    review_decisions,
    role_word,
    safe,
    view_decisions_html,
)

log = logging.getLogger("listing_studio.ui")

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
NEW_SKU = "__new__"
THREAD_KEY = "listing-studio-thread"
SAFE_THREAD = re.compile(r"[A-Za-z0-9_-]{1,64}")
DECIDE = [("Approve", "approve"), ("Reject", "reject"), ("Change", "change")]

CSS = """
.ls-header h1 { margin: 0 0 2px 0; font-size: 1.6rem; }
.ls-header p { margin: 0; color: var(--body-text-color-subdued); }
.ls-shot { min-width: min(300px, 100%) !important; }
.ls-shot-title h3 { margin: 6px 0 2px 0 !important; font-size: 1rem; }
.ls-cards { flex-wrap: wrap !important; gap: 8px !important; }
.ls-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 6px !important;
           flex: 1 1 140px !important; min-width: 140px !important; max-width: 300px;
           background: var(--block-background-fill); }
.ls-card:has(.ls-decide input[value=approve]:checked) { border: 2px solid #16a34a; }
.ls-card:has(.ls-decide input[value=reject]:checked) { border: 2px solid #dc2626; }
.ls-card:has(.ls-decide input[value=change]:checked) { border: 2px solid #d97706; }
.ls-card img { object-fit: contain; }
.ls-badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-weight: 600; font-size: 0.8rem;
            background: #e5e7eb; }
.ls-pass { background: #dcfce7; color: #166534; }
.ls-fail { background: #fee2e2; color: #991b1b; }
.ls-warning { margin-top: 4px; font-size: 0.8rem; color: #92400e; background: #fef3c7; border-radius: 6px;
              padding: 2px 6px; }
.ls-reason { margin-top: 4px; font-size: 0.8rem; color: #991b1b; }
.ls-card details summary { cursor: pointer; }
.ls-card details > div { margin-top: 2px; }
.ls-decide .wrap { flex-wrap: nowrap !important; gap: 4px !important; }
.ls-decide label { padding: 2px 6px !important; font-size: 0.8rem !important; flex: 1 1 0; justify-content: center;
                   min-width: 0; }
.ls-decide label input { display: none; }
.ls-decide label span { margin-left: 0 !important; }  /* the hidden radio's gap: the word centred in its button */
/* "Change" with an empty box, or approving a flagged image without a reason: the card asks for the words */
.ls-card:has(.ls-decide input[value=change]:checked) .ls-note textarea:placeholder-shown,
.ls-card:has(.ls-fail):has(.ls-decide input[value=approve]:checked) .ls-note textarea:placeholder-shown {
  outline: 2px solid #d97706; background: #fffbeb; }
.ls-card:has(.ls-decide input[value=change]:checked):has(.ls-note textarea:placeholder-shown)::after {
  content: "Say what to change in the box, e.g. “warmer”, “more space”."; font-size: 0.8rem; color: #92400e; }
.ls-card:has(.ls-fail):has(.ls-decide input[value=approve]:checked):has(.ls-note textarea:placeholder-shown)::after {
  content: "It differs from your photo: say in the box why you approve it."; font-size: 0.8rem; color: #92400e; }
/* A card's text box opens only when it needs words: "Change", or approving an image that differs */
.ls-plan-notes summary { cursor: pointer; color: var(--body-text-color-subdued); }
.ls-empty { color: var(--body-text-color-subdued); font-style: italic; }
#approved-gallery .caption-label { white-space: normal; max-width: 100%; }
/* the caption sits under the picture, not over the product's lower edge */
#approved-gallery .thumbnail-item img { height: calc(100% - 2.4em) !important; object-fit: contain; }
#viewer { border: 2px solid var(--color-accent); border-radius: 12px; padding: 8px; }
.ls-view-decide { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
.ls-view-pick { border: 1px solid var(--border-color-primary); border-radius: 8px; padding: 4px 14px;
                background: var(--button-secondary-background-fill); cursor: pointer; }
.ls-view-pick.ls-chosen { border: 2px solid var(--color-accent); font-weight: 600; }
#chat code, #plan code { white-space: pre-wrap; word-break: break-word; }
/* the chat's "scroll to the latest message" arrow: a solid round button in the corner, not a bare arrow over text */
#chat .scroll-down-button-container { left: auto !important; right: 12px; transform: none !important; }
#chat .scroll-down-button-container button { background: var(--background-fill-primary);
  border: 1px solid var(--border-color-primary); }
/* a card says its decision in words, not by border colour alone */
.ls-card { position: relative; }
.ls-card:has(.ls-decide input:checked)::before { position: absolute; top: 8px; left: 8px; z-index: 5;
  font-size: 0.8rem; font-weight: 600; border-radius: 6px; padding: 1px 8px; box-shadow: 0 1px 3px rgba(0,0,0,.2); }
.ls-card:has(.ls-decide input[value=approve]:checked)::before { content: "✓ Approved"; background: #dcfce7;
  color: #166534; }
.ls-card:has(.ls-decide input[value=reject]:checked)::before { content: "✗ Rejected"; background: #fee2e2;
  color: #991b1b; }
.ls-card:has(.ls-decide input[value=change]:checked)::before { content: "✎ To change"; background: #fef3c7;
  color: #92400e; }
/* Send decisions is the primary action only once a card has a choice or words: before, it looks secondary */
body:not(:has(.ls-decide input:checked)):not(:has(.ls-note textarea:not(:placeholder-shown))) #send-decisions {
  background: var(--button-secondary-background-fill) !important; color: var(--button-secondary-text-color) !important;
  border-color: var(--button-secondary-border-color) !important; box-shadow: none !important; }
#sku-pick input, #channel-pick input { text-overflow: ellipsis; min-width: 0; padding-right: 44px !important; }
#brief textarea::placeholder { white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
body, .gradio-container { overflow-x: clip; }
@media (max-width: 640px) {
  /* On a phone the review follows the chat (the product panels go below it) and the approved page with
     Publish comes before the cards, so no action sits below every card. */
  #top-row, #side { display: contents !important; }
  #product-box, #plan-box { order: 0; }  /* right after the chat: which product, and its plan */
  #approved { order: 1; } #review { order: 2; } #cutout-box { order: 3; }
  #demo-box, #missing-box, #new-chat { order: 4; }
  #model-photos { order: 5; }  /* right below "What's missing", whose try-on advice points to it */
  #set-photos { order: 6; }  /* then the seller's own sets, which scenes use */
  #cutout-checker, #cutout-backdrop { height: 200px !important; }
  #view-source, #view-image, #view-other { height: 260px !important; }
  #view-source img, #view-image img, #view-other img { max-height: 200px !important; object-fit: contain; }
  #cutout-strokes { height: 320px !important; }
  #approved-gallery .grid-container { grid-template-columns: repeat(2, minmax(0, 1fr)) !important; }
  #decide-bar { position: fixed; left: 8px; bottom: 8px; width: calc(100vw - 16px); max-width: calc(100vw - 16px);
                box-sizing: border-box; z-index: 20; background: transparent; pointer-events: none; }
  #decide-bar > *, #decide-bar button { min-width: 0 !important; width: 100% !important; box-sizing: border-box; }
  #decide-bar button { pointer-events: auto; box-shadow: 0 2px 10px rgba(0, 0, 0, 0.25); }
  .ls-card { flex: 1 1 calc(50% - 8px) !important; min-width: calc(50% - 8px) !important; max-width: calc(50% - 4px); }
  .ls-decide .wrap { gap: 2px !important; }
  .ls-decide label { padding: 2px 2px !important; font-size: 0.72rem !important; }
  .ls-card .ls-thumb, .ls-card .ls-thumb img { height: 140px !important; max-height: 140px; }
  #chat { height: 380px !important; }
}
"""

# Gradio scopes CSS to the page's content; the frame around it (its 32 px side padding) is styled here.
HEAD = """<style>
@media (max-width: 640px) { .gradio-container .main { padding: 6px 6px 72px 6px !important; } }
</style>"""

PAGE_JS = """
() => {
  // A file input keeps the last file chosen, and choosing the same file again fires no change event:
  // clear it each time it opens, so the same photo can be attached twice in a row.
  document.addEventListener('click', (event) => {
    const input = event.target;
    if (input instanceof HTMLInputElement && input.type === 'file' && input.closest('#brief')) input.value = '';
  }, true);
  // The large view's decision buttons set the image's own card (sent with the others by Send decisions); a
  // decision that needs words brings the card's box into view.
  document.addEventListener('click', (event) => {
    const pick = event.target.closest('#view-decide button[data-cid]');
    if (!pick) return;
    const card = document.getElementById('card-' + pick.dataset.cid);
    const input = card && card.querySelector('.ls-decide input[value="' + pick.dataset.action + '"]');
    if (!input) return;
    input.closest('label').click();
    document.querySelectorAll('#view-decide button').forEach((b) => b.classList.toggle('ls-chosen', b === pick));
    if (pick.dataset.action === 'change' || (pick.dataset.action === 'approve' && card.querySelector('.ls-fail'))) {
      card.scrollIntoView({block: 'center'});
      const box = card.querySelector('.ls-note textarea');
      if (box) box.focus();
    }
  });
  // A card's box asks for what its decision needs: what to change, or why an image that differs is approved.
  const asks = {approve: 'Why approve it? (optional)', reject: 'Why not? (optional)', change: 'What to change?'};
  document.addEventListener('change', (event) => {
    const input = event.target;
    if (!(input instanceof HTMLInputElement) || !input.closest('.ls-decide')) return;
    const card = input.closest('.ls-card');
    const box = card && card.querySelector('.ls-note textarea');
    if (!box) return;
    box.placeholder = input.value === 'approve' && card.querySelector('.ls-fail')
      ? 'Why approve it anyway? It differs from your photo' : (asks[input.value] || asks.change);
  }, true);
}
"""

SCROLL_TO_REVIEW = """
(token) => {
  if (!token) return [];
  const started = Date.now();
  const tick = () => {
    const card = document.querySelector('#review .ls-card');
    if (card) { document.getElementById('review').scrollIntoView({block: 'start'}); return; }
    if (Date.now() - started < 15000) setTimeout(tick, 100);
  };
  tick();
  return [];
}
"""

ASK_IN_VIEW = """
() => {
  // A card still asking for words (Change with an empty box) is brought into view: nothing was sent for it.
  const card = document.querySelector('#review .ls-card:has(.ls-decide input[value=change]:checked)'
                                      + ':has(.ls-note textarea:placeholder-shown)');
  if (card) { card.scrollIntoView({block: 'center'}); card.querySelector('.ls-note textarea').focus(); }
  return [];
}
"""


# -- bind and credentials --------------------------------------------------------------------------------


def parse_auth(auth: str | None) -> tuple[str, str] | None:
    """`user:password` -> (user, password); None stays None. Refuses an empty user or password."""
    if auth is None or auth == "":
        return None
    user, sep, password = auth.partition(":")
    if not sep or not user or not password:
        raise BadInput("auth must be user:password (LISTING_STUDIO_AUTH or --auth), with both parts non-empty")
    return user, password


def check_bind(settings: Settings, host: str) -> tuple[str, str] | None:
    """The credentials to require for `host`; refuses a non-loopback bind without them."""
    if not host:
        raise BadInput("host must not be empty; use 127.0.0.1 for this machine only")
    credentials = parse_auth(settings.auth)
    if host not in LOOPBACK and credentials is None:
        raise Refused(
            f"binding {host} exposes the app to the network; set LISTING_STUDIO_AUTH=user:password or pass "
            "--auth user:password (or bind 127.0.0.1)"
        )
    return credentials


def validate_uploads(paths) -> tuple[list[str], list[str]]:
    """Check each uploaded file with the shared loader: (usable paths, chat lines about every file)."""
    from tools.assets import load_image

    good, lines = [], []
    for path in paths or []:
        name = Path(path).name
        try:
            loaded = load_image(path, name=name)
        except ListingError as error:
            reason = str(error).removeprefix(f"{name}: ")  # the loader names the file too
            lines.append(f"✗ {safe(name)} cannot be used: {safe(reason)}")
            continue
        good.append(str(path))
        if loaded.notes:
            lines.append(f"⚠ {safe(name)}: {safe('; '.join(loaded.notes))}")
    return good, lines


def _checkerboard(size: tuple[int, int], tile: int = 16):
    """The grey checkerboard that shows where a cutout is transparent."""
    import numpy as np
    from PIL import Image

    yy, xx = np.mgrid[0:size[1], 0:size[0]]
    tiles = (((yy // tile) + (xx // tile)) % 2).astype(np.uint8)
    return Image.fromarray(np.where(tiles[..., None] == 1, 204, 245).astype(np.uint8).repeat(3, 2))


def _partial(target: Path) -> Path:
    """A temporary name beside `target` that no other handler uses: two events run at once (the queue runs
    two), and a shared name lets one move the other's half-written file away."""
    return target.with_name(f"{target.name}.{uuid.uuid4().hex}.part")


# -- the app context: what every handler shares ---------------------------------------------------------


@dataclass
class AppContext:
    """The open home folder, the conversation agent and the folder of copies the browser may fetch."""

    ws: object
    agent: object
    media: Path
    names: dict = field(default_factory=dict)

    def show(self, path: str | None, size: int = 640) -> str | None:
        """A JPEG copy of an image for the page (at most `size` px), made once in the media folder."""
        return self._copy(path, f"{size}", size, "white", quality=88)

    def show_cutout(self, path: str | None, backdrop: str, size: int = 640) -> str | None:
        """A cutout laid on a checkerboard (what is transparent shows) or on the white studio backdrop."""
        return self._copy(path, f"cutout-{backdrop}-{size}", size, backdrop, quality=90)

    def _copy(self, path: str | None, folder: str, size: int, ground: str, quality: int) -> str | None:
        if not path or not Path(path).is_file():
            return None
        target = self.media / folder / f"{Path(path).stem}.jpg"
        if not target.exists():
            from PIL import Image

            target.parent.mkdir(parents=True, exist_ok=True)
            with Image.open(path) as image:
                rgba = image.convert("RGBA")
                rgba.thumbnail((size, size))
            flat = _checkerboard(rgba.size) if ground == "checker" else Image.new("RGB", rgba.size, (255, 255, 255))
            flat.paste(rgba, mask=rgba.getchannel("A"))
            partial_file = _partial(target)
            flat.save(partial_file, "JPEG", quality=quality)
            os.replace(partial_file, target)
        return str(target)

    def sku_choices(self) -> list[tuple[str, str]]:
        from tools.review import products

        return [("+ New product", NEW_SKU)] + [
            (f"{p['sku']} — {p['title']}" if p["title"] else p["sku"], p["sku"]) for p in products(self.ws)]

    def save_transcript(self, thread_id: str, history: list) -> None:
        """Keep what this conversation's chat shows, so a reload of the same browser shows it again."""
        import json

        if not SAFE_THREAD.fullmatch(thread_id or ""):
            return
        folder = self.ws.home / "conversations"
        folder.mkdir(exist_ok=True)
        target = folder / f"{thread_id}.json"
        partial_file = _partial(target)
        partial_file.write_text(json.dumps(history, ensure_ascii=False, default=str))
        os.replace(partial_file, target)

    def transcript(self, thread_id: str) -> list | None:
        """The chat as this conversation last showed it (photos whose upload is gone are named instead)."""
        import json

        if not SAFE_THREAD.fullmatch(thread_id or ""):
            return None
        path = self.ws.home / "conversations" / f"{thread_id}.json"
        try:
            history = json.loads(path.read_text())
        except (OSError, ValueError):
            return None
        for message in history:
            content = message.get("content")
            if isinstance(content, dict) and not Path(str(content.get("path", ""))).is_file():
                message["content"] = file_label(str(content.get("path", "photo")))
        return history

    def known(self, sku: str | None) -> bool:
        return bool(sku) and any(value == sku for _, value in self.sku_choices())


class Turn:
    """What one handler call changes: the chat history, the plan, the pending review, the SKU, a published pack."""

    def __init__(self, thread_id, history, plan, review, sku=None):
        self.thread_id = thread_id or uuid.uuid4().hex
        self.history = list(history or [])
        self.plan, self.review, self.sku, self.published = plan, review, sku, None
        self.channel = "amazon"  # the Approved view's channel when the plan names none


def _say(history: list, text: str) -> None:
    history.append({"role": "assistant", "content": text})


def _ui_secret(home: Path) -> str:
    """A per-home secret that keeps the browser's stored thread id readable across restarts."""
    path = home / "ui-secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(16))
    return path.read_text().strip()


# -- turning agent events into the page ------------------------------------------------------------------


def apply_events(ctx: AppContext, events, turn: Turn):
    """Apply each agent event to the turn and yield, so the page follows the agent live."""
    try:
        for event in events:
            kind = event.get("type")
            names = candidate_names(turn.review, turn.plan)
            if kind == "progress":
                progress_message(turn.history, event, names)
            elif kind == "reply":
                _say(turn.history, safe(event.get("text", ""), names))
            elif kind == "plan":
                first = not turn.plan or turn.plan.get("sku") != (event.get("plan") or {}).get("sku")
                turn.plan = event.get("plan") or {}
                turn.sku = turn.plan.get("sku") or turn.sku
                if first:
                    _say(turn.history, plan_line(turn.plan))
            elif kind == "review":
                turn.review = event.get("payload") or {}
                turn.sku = turn.review.get("sku") or turn.sku
            elif kind == "published":
                turn.published = event.get("result") or {}
            elif kind == "error":
                _say(turn.history, f"✗ {safe(event.get('message', 'something went wrong'))}")
            yield turn
    except ListingError as error:
        _say(turn.history, f"✗ {safe(error)}")
    except Exception as error:  # the page must never hang on an unexpected failure
        log.exception("agent turn failed")
        _say(turn.history, f"✗ Something went wrong ({type(error).__name__}); nothing stored was lost. Try again.")
    close_pending(turn.history)
    # The checkpoint is the truth about what still waits for review (a typed answer may have settled it).
    try:
        turn.review = ctx.agent.pending_review(turn.thread_id)
    except ListingError:
        turn.review = None
    if turn.review and turn.review.get("candidates"):
        _say(turn.history, "**↓ The images are below.** Approve, reject or ask for a change on each one, then press "
                           "**Send decisions**.")
    yield turn


def _lazy(start):
    """Events from `start()`, raised errors included, so that apply_events reports them in the chat."""
    yield from start()


def turn_outputs(ctx: AppContext, turn: Turn, *, busy: bool = False, keep_box=None, clear_box: bool = False) -> tuple:
    """Values for TURN_OUTPUTS (send, decide, load and publish all end with these).

    The message box keeps what the seller is typing unless this turn consumed it (`clear_box`, only the
    turn that the box sent) or puts a refused message back (`keep_box`): a decision, a re-cut or a publish
    finishing while the seller types must not wipe the next message.
    """
    import gradio as gr

    sku = turn.sku if ctx.known(turn.sku) else None
    channel = plan_channel(turn.plan)
    if not busy and turn.history:
        ctx.save_transcript(turn.thread_id, turn.history)
    review = turn.review if turn.review and turn.review.get("candidates") else None
    token = review["candidates"][0]["id"] if review and not busy else ""
    log.debug("page update: busy=%s token=%s review=%s", busy, token or "-",
              [c["id"] for c in review["candidates"]] if review else [])
    return (
        turn.thread_id,
        turn.history,
        turn.plan,
        plan_markdown(turn.plan),
        turn.review,
        gr.update(choices=ctx.sku_choices(), value=sku) if sku else gr.update(choices=ctx.sku_choices()),
        missing_panel(ctx, sku),
        gr.update(interactive=not busy, value=keep_box) if keep_box is not None or clear_box
        else gr.update(interactive=not busy),
        gr.update(value="", visible=False) if sku else gr.update(),
        gr.update(visible=bool(review), interactive=not busy),
        token,
        gr.update(value=channel) if channel else gr.update(),
        *(approved_view(ctx, sku, channel or turn.channel, reviewing=bool(review)) if not busy
          else (gr.update(), gr.update(), gr.update(), gr.update(interactive=False))),  # no publish mid-turn
        "",  # the model-photo panel's note answered its button; once the chat moves on it would only go stale
    )


def channel_name(channel: str) -> str:
    """A channel as sellers write it ("eBay", "Amazon")."""
    return {"ebay": "eBay"}.get(channel, channel.capitalize())


def plan_channel(plan: dict | None) -> str | None:
    """The first channel a plan targets (the Approved view's default channel)."""
    for shot in (plan or {}).get("shots", []):
        if shot.get("channel"):
            return shot["channel"]
    return None


def missing_panel(ctx: AppContext, sku: str | None) -> str:
    """The "What's missing" panel: the same coverage answer the agent gives."""
    from tools.coverage import coverage_answer

    if not sku:
        return "<span class='ls-empty'>Pick a product to see what it still lacks.</span>"
    try:
        return safe(coverage_answer(ctx.ws, sku))
    except ListingError:
        return f"**{safe(sku)}** is new: nothing approved yet."


def _current_sku(choice: str | None, typed: str | None) -> str | None:
    from tools.models import check_sku

    if choice and choice != NEW_SKU:
        return choice
    typed = (typed or "").strip()
    return check_sku(typed) if typed else None


# -- handlers (module level; build_app binds the context with functools.partial) ------------------------


def on_load(ctx: AppContext, thread_id):
    """Reopen this browser's conversation from the checkpoint: its messages, plan and pending review."""
    thread_id = thread_id or uuid.uuid4().hex
    turn = Turn(thread_id, [], None, None)
    try:
        state = ctx.agent.state(thread_id)
        saved = ctx.transcript(thread_id)
        if saved is not None:
            turn.history = saved
        for message in (state.get("messages") or []) if saved is None else []:
            text = message.get("text") or ""
            if not text:
                continue
            if message.get("role") == "user":
                turn.history.append({"role": "user", "content": as_text(text)})
            else:
                _say(turn.history, safe(text))
        turn.plan, turn.sku = state.get("plan"), state.get("sku")
        turn.review = ctx.agent.pending_review(thread_id)
    except ListingError as error:
        _say(turn.history, f"✗ {safe(error)}")
    except Exception as error:
        log.exception("reopening the conversation failed")
        _say(turn.history, f"✗ Could not reopen the last conversation ({type(error).__name__}).")
    last = turn.history[-1].get("content") if turn.history else ""
    if turn.review and turn.review.get("candidates") and not str(last).startswith("Welcome back"):
        _say(turn.history, f"Welcome back. {len(turn.review['candidates'])} images for **{safe(turn.sku or '')}** are "
                           "still waiting for your review below.")
    return turn_outputs(ctx, turn)


def on_download_view(ctx: AppContext, choice, channel):
    """The download box follows the product and channel shown: the pack published last for them, or nothing
    (after a reload it comes back; another product never offers this one's pack)."""
    import gradio as gr

    from tools.publish import earlier_pack, exports_folder

    sku = choice if choice and choice != NEW_SKU else None
    if not ctx.known(sku) or not channel:
        return gr.update(value=None, visible=False)
    folder = exports_folder(ctx.ws, sku, channel)
    if earlier_pack(folder) is None:
        return gr.update(value=None, visible=False)
    return gr.update(value=zipped_pack(ctx, sku, channel, folder), visible=True)


def zipped_pack(ctx: AppContext, sku: str, channel: str, folder: Path) -> str:
    """A zip of a published pack in the media folder, for the browser to download: made once per pack (named by
    its manifest), so showing the same product again does not copy it again."""
    import hashlib

    manifest = folder / "manifest.json"
    key = hashlib.sha256(manifest.read_bytes()).hexdigest()[:16] if manifest.is_file() else uuid.uuid4().hex
    zipped = ctx.media / "downloads" / key / f"{sku}-{channel}.zip"  # a SKU may hold dots: no with_suffix
    if zipped.is_file():
        return str(zipped)
    zipped.parent.mkdir(parents=True, exist_ok=True)
    partial_name = _partial(zipped)  # two events may zip the same pack at once: each writes its own, then renames
    os.replace(shutil.make_archive(str(partial_name), "zip", root_dir=folder), zipped)
    return str(zipped)


def on_new_chat(ctx: AppContext):
    import gradio as gr

    turn = Turn(uuid.uuid4().hex, [], None, None)
    return (*turn_outputs(ctx, turn), gr.update(value=None, visible=False))


def on_pick(ctx: AppContext, choice):
    import gradio as gr

    from tools.review import latest_plan

    sku = choice if choice and choice != NEW_SKU else None
    plan = latest_plan(ctx.ws, sku)
    return gr.update(visible=sku is None), missing_panel(ctx, sku), plan, plan_markdown(plan), True


def on_demo(ctx: AppContext, demo_sku):
    import gradio as gr

    from tools.demo import DEMO_PRODUCTS, demo_photo_bytes

    product = DEMO_PRODUCTS[demo_sku]
    path = ctx.media / "demo" / f"{demo_sku.lower()}.jpg"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(demo_photo_bytes(demo_sku))
    exists = ctx.known(demo_sku)
    return (gr.update(choices=ctx.sku_choices(), value=demo_sku if exists else NEW_SKU),
            gr.update(value="" if exists else demo_sku, visible=not exists),
            {"text": product.brief, "files": [str(path)]}, missing_panel(ctx, demo_sku), True)


def on_send(ctx: AppContext, message, history, thread_id, choice, typed, picked, plan, review):
    """One message: check the photos, echo the turn, then stream the agent's work into the chat.

    A photo sent into a conversation that already has a product, without the seller picking that product,
    is held with one question: a new product, or another photo of this one (never a silent merge).
    """
    turn = Turn(thread_id, history, plan, review)
    text = (message or {}).get("text", "").strip()
    files = [f if isinstance(f, str) else f.get("path") for f in (message or {}).get("files", [])]
    hold_nothing = (None, gr_hidden())

    # 1. Check the photos, then echo the turn: the text as text, usable photos as images, the others by name.
    good, lines = validate_uploads(files)
    if text:
        turn.history.append({"role": "user", "content": as_text(text)})
    for path in files:
        turn.history.append({"role": "user", "content": {"path": path} if path in good else file_label(path)})
    for line in lines:
        _say(turn.history, line)
    if files and not good:
        retry = "attach a JPEG, PNG or WebP photo and send it again."
        _say(turn.history, "None of these files could be used, so nothing was sent. " + (
            f"Your message is still in the box: {retry}" if text else retry[:1].upper() + retry[1:]))
        yield (*turn_outputs(ctx, turn, keep_box={"text": text, "files": []}), picked, *hold_nothing)
        return
    if not text and not good:
        _say(turn.history, "Type what you need or attach a product photo.")
        yield (*turn_outputs(ctx, turn, clear_box=True), picked, *hold_nothing)
        return

    # 2. Which product: the one the seller picked or typed. A photo for a conversation that has a product
    #    the seller did not pick waits for one answer.
    try:
        sku = _current_sku(choice, typed)
    except ListingError as error:
        _say(turn.history, f"✗ {safe(error)}")
        yield (*turn_outputs(ctx, turn, keep_box=message), picked, *hold_nothing)
        return
    current = conversation_sku(ctx, turn.thread_id)
    if good and not picked and current:
        turn.sku = current
        _say(turn.history, f"Is this a new product, or another photo of **{safe(current)}**?")
        yield (*turn_outputs(ctx, turn, clear_box=True), False, {"text": text, "images": good, "sku": current},
               gr_shown(current))
        return

    # 3. Stream the agent's turn.
    for outputs in run_turn(ctx, turn, text, good, sku, clear_box=True):
        yield (*outputs, False, *hold_nothing)


def on_held(ctx: AppContext, new_product: bool, held, history, thread_id, plan, review):
    """The answer to "new product or another photo?": a new product starts its own conversation."""
    turn = Turn(thread_id, history, plan, review)
    if not held:
        yield (*turn_outputs(ctx, turn), None, gr_hidden())
        return
    if new_product:
        turn = Turn(uuid.uuid4().hex, history, None, None)
        turn.history.append({"role": "user", "content": "A new product"})
        sku = None
    else:
        turn.history.append({"role": "user", "content": f"Another photo of {as_text(held['sku'])}"})
        sku = held["sku"]
    for outputs in run_turn(ctx, turn, held["text"], held["images"], sku):
        yield (*outputs, None, gr_hidden())


def run_turn(ctx: AppContext, turn: Turn, text: str, images: list[str], sku: str | None, *,
             clear_box: bool = False):
    """Stream one agent turn into the page (yields TURN_OUTPUTS values); `clear_box` empties the message box
    once, at the start, when the box sent this turn."""
    turn.sku = sku or turn.sku
    yield turn_outputs(ctx, turn, busy=True, clear_box=clear_box)
    for _ in apply_events(ctx, _lazy(lambda: ctx.agent.send(turn.thread_id, text, images=images, sku=sku)), turn):
        yield turn_outputs(ctx, turn, busy=True)
    yield turn_outputs(ctx, turn)


def conversation_sku(ctx: AppContext, thread_id: str) -> str | None:
    """The product this conversation is about, when the catalog has it."""
    try:
        sku = ctx.agent.state(thread_id).get("sku")
    except ListingError:
        return None
    return sku if ctx.known(sku) else None


def gr_hidden():
    import gradio as gr

    return gr.update(visible=False)


def gr_shown(_sku: str = ""):
    import gradio as gr

    return gr.update(visible=True)


def on_decide(ctx: AppContext, candidate_ids: list[str], history, thread_id, review, plan, *choices_and_notes):
    """Send every card's decision (its choice and its own text); change requests come back for review."""
    turn = Turn(thread_id, history, plan, review)
    count = len(candidate_ids)
    marks = {cid: {"action": choice, "note": note} for cid, choice, note
             in zip(candidate_ids, choices_and_notes[:count], choices_and_notes[count:], strict=True)}
    if not review:
        _say(turn.history, "There is nothing to review right now.")
        yield turn_outputs(ctx, turn)
        return
    turn.sku = review.get("sku")
    decisions, problems = review_decisions(review, marks or {})
    if problems or not decisions:
        for problem in problems or ["Choose Approve, Reject or Change on at least one image first."]:
            _say(turn.history, problem)
        yield turn_outputs(ctx, turn)
        return
    turn.history.append({"role": "user", "content": as_text(decisions_summary(decisions))})
    turn.review = None
    yield turn_outputs(ctx, turn, busy=True)
    for _ in apply_events(ctx, _lazy(lambda: ctx.agent.resume(turn.thread_id, decisions)), turn):
        yield turn_outputs(ctx, turn, busy=True)
    yield turn_outputs(ctx, turn)


def on_view(ctx: AppContext, candidate_id: str, review, plan):
    """The large view: the source photo, this image, and the other version of the shot (or the one a
    change request replaced), the decision buttons (they set the image's card) and the checks in plain words."""
    import gradio as gr

    from tools.review import candidate_detail

    detail = candidate_detail(ctx.ws, candidate_id)
    names = candidate_names(review, plan)
    siblings = [c for c in (review or {}).get("candidates", []) if c["shot"] == detail["shot"] and c["id"] != candidate_id]
    if detail["before"]:
        other, other_label = detail["before"]["path"], f"Before your change “{as_text(detail['change'])}”"
    elif siblings:
        other, other_label = siblings[0]["path"], "The other version, to compare"
    else:
        other, other_label = None, ""
    title = names.get(candidate_id, f"the {role_word(detail['role'])}")
    heading = f"### {title[0].upper() + title[1:]}" + (f" (after your change “{as_text(detail['change'])}”)"
                                                       if detail["change"] else "")
    return (gr.update(visible=True), heading,
            gr.update(value=ctx.show(detail["source_path"], 1200), label="Your photo"),
            gr.update(value=ctx.show(detail["path"], 1200), label="This image"),
            gr.update(value=ctx.show(other, 1200), label=other_label or "Other version", visible=bool(other)),
            view_decisions_html(candidate_id), checks_markdown(detail))


def on_cutout_view(ctx: AppContext, choice):
    """The product's cutout on a checkerboard and on the backdrop, and its photo to paint strokes on."""
    import gradio as gr

    from tools.review import product_cutout

    cutout = product_cutout(ctx.ws, choice if choice and choice != NEW_SKU else None)
    if cutout is None:
        return gr.update(visible=False), None, None, None, "", gr.update(interactive=False)
    label = "your own cutout" if cutout["method"] == "your cutout" else "cut out by the studio"
    times = {1: "once", 2: "twice"}.get(cutout["earlier"], f"{cutout['earlier']} times")
    fixed = f"; corrected {times}, earlier versions kept" if cutout["earlier"] else ""
    return (gr.update(visible=True), ctx.show_cutout(cutout["cutout_path"], "checker"),
            ctx.show_cutout(cutout["cutout_path"], "white"),
            {"background": ctx.show(cutout["photo_path"], 1024), "layers": [], "composite": None},
            f"The images of **{safe(cutout['sku'])}** are made from this cutout ({label}{fixed}). Where the "
            "checkerboard shows through, the cutout is see-through.",
            gr.update(interactive=False))  # Re-cut waits for a stroke on the fresh photo


def on_strokes(editor_value):
    """Re-cut is offered once a green or red stroke is on the photo (and withdrawn when they are erased)."""
    import gradio as gr

    keep, remove = painted_strokes(editor_value)
    return gr.update(interactive=bool(keep is not None and keep.any() or remove is not None and remove.any()))


def painted_strokes(editor_value):
    """The painted layers of the editor -> (keep, remove) boolean masks at the editor's size (None: no layer).

    Green strokes keep, red strokes remove; anything else painted is ignored."""
    import numpy as np

    layers = [layer for layer in (editor_value or {}).get("layers") or [] if layer is not None]
    if not layers:
        return None, None
    keep = np.zeros(np.asarray(layers[0]).shape[:2], bool)
    remove = np.zeros(keep.shape, bool)
    for layer in layers:
        rgba = np.asarray(layer)
        if rgba.ndim != 3 or rgba.shape[2] < 4 or rgba.shape[:2] != keep.shape:
            continue
        painted = rgba[..., 3] > 32
        red, green = rgba[..., 0].astype(int), rgba[..., 1].astype(int)
        keep |= painted & (green > red + 40)
        remove |= painted & (red > green + 40)
    return keep, remove


def stroke_masks(editor_value, size: tuple[int, int]):
    """The editor's (keep, remove) strokes as boolean masks at the photo's size (None: not painted)."""
    import numpy as np
    from PIL import Image

    keep, remove = painted_strokes(editor_value)
    if keep is None:
        return None, None

    def scaled(mask):
        if not mask.any():
            return None
        return np.asarray(Image.fromarray(mask.astype(np.uint8) * 255).resize(size, Image.NEAREST)) > 127

    return scaled(keep), scaled(remove)


def on_recut(ctx: AppContext, choice, editor_value, history, thread_id, review, plan):
    """Re-solve the cutout with the seller's strokes, show it at once, and make the images waiting for review
    again from it (the earlier cutout and images are kept)."""
    from PIL import Image

    from tools.prepare import recut_photo
    from tools.review import product_cutout

    turn = Turn(thread_id, history, plan, review)
    cutout = product_cutout(ctx.ws, choice if choice and choice != NEW_SKU else None)
    view = on_cutout_view(ctx, choice)
    if cutout is None:
        _say(turn.history, "Pick a product first: its cutout appears here.")
        yield (*turn_outputs(ctx, turn), *view)
        return
    turn.sku = cutout["sku"]

    # 1. Strokes -> masks at the photo's size; re-solve with them as hard constraints.
    with Image.open(cutout["photo_path"]) as photo:
        size = photo.size
    keep, remove = stroke_masks(editor_value, size)
    if keep is None and remove is None:
        _say(turn.history, "Paint over the photo first: green where the product was cut away, red where "
                           "background was kept.")
        yield (*turn_outputs(ctx, turn), *view)
        return
    try:
        recut_photo(ctx.ws, cutout["sku"], cutout["photo_asset_id"], keep=keep, remove=remove)
    except ListingError as error:
        _say(turn.history, f"✗ {safe(error)}")
        yield (*turn_outputs(ctx, turn), *view)
        return
    view = on_cutout_view(ctx, choice)
    pending = [c for c in (review or {}).get("candidates", []) if review.get("sku") == cutout["sku"]]
    # each shot waiting is made again in full, so the count of new images can differ from the count waiting
    _say(turn.history, "The cutout is corrected (the earlier one is kept)." + (
        " Making the images waiting for review again from it." if pending else " The next images are made from it."))
    if not pending:
        yield (*turn_outputs(ctx, turn), *view)
        return

    # 2. The images waiting for review are made again from the corrected cutout, through the agent.
    decisions = [{"candidate_id": c["id"], "action": "change", "note": "made again from the corrected cutout"}
                 for c in pending]
    turn.review = None
    yield (*turn_outputs(ctx, turn, busy=True), *view)
    # The corrected cutout is on the page already: the progress updates leave its images (the editor's photo
    # among them, heavy to send and to redraw) as they are.
    import gradio as gr

    same = tuple(gr.update() for _ in view)
    for _ in apply_events(ctx, _lazy(lambda: ctx.agent.resume(turn.thread_id, decisions)), turn):
        yield (*turn_outputs(ctx, turn, busy=True), *same)
    yield (*turn_outputs(ctx, turn), *same)


MODEL_KINDS = [("A hand (rings)", "hand"), ("A neckline (necklaces)", "neck"), ("An ear (earrings)", "ear"),
               ("A wrist (bracelets, watches)", "wrist")]


def painted_photo(editor_value):
    """A photo editor (a model's photo, a set) -> (photo, spot): the uploaded photo (PIL RGB) and where it was
    painted (PIL L, white, at the photo's size); (None, None) without a photo, (photo, None) when nothing was
    painted."""
    import numpy as np
    from PIL import Image

    background = (editor_value or {}).get("background")
    if background is None:
        return None, None
    photo = Image.fromarray(np.asarray(background).astype(np.uint8)).convert("RGB")
    if np.ptp(np.asarray(photo)) == 0:  # the blank canvas of an editor painted on without an upload
        return None, None
    painted = None
    for layer in (editor_value or {}).get("layers") or []:
        if layer is None or np.asarray(layer).ndim != 3 or np.asarray(layer).shape[2] < 4:
            continue
        alpha = np.asarray(layer)[..., 3] > 32
        painted = alpha if painted is None else painted | alpha
    if painted is None or not painted.any():
        return photo, None
    spot = Image.fromarray(painted.astype(np.uint8) * 255, "L").resize(photo.size, Image.NEAREST)
    return photo, spot


def on_add_model_photo(ctx: AppContext, editor_value, kind, name, channels, choice):
    """Store a model's photo for try-ons (tools.plates.register_plate): the painted spot is where the jewelry
    sits, and the model's consent is recorded for the channels ticked. Returns the note, the editor (cleared
    once stored), the "What's missing" panel (its try-on advice follows the photo just added) and the button (off
    once the photo is stored, until the next one)."""
    import hashlib
    import io

    import gradio as gr

    from tools.plates import register_plate
    from tools.review import product_cutout

    # 1. Check what the seller gave, and say what is missing.
    photo, spot = painted_photo(editor_value)
    part = PLATE_PARTS.get(kind, "") if kind in dict(MODEL_KINDS).values() else ""
    problem = ("Upload the model's photo first." if photo is None else
               "Choose what the photo shows." if not part else
               "Paint over the spot where the jewelry sits (on a hand: across the ring finger)." if spot is None else
               "Write the model's name." if not (name or "").strip() else
               "Tick where the model agreed in writing that the photo may be used." if not channels else "")
    if problem:
        return f"✗ {problem}", gr.update(), gr.update(), gr.update()

    # 2. Store it (the photo is checked for text and watermarks; the spot gives the anchor).
    data, mask = io.BytesIO(), io.BytesIO()
    photo.save(data, "PNG")
    spot.save(mask, "PNG")
    plate_id = f"{kind}-{hashlib.sha256(data.getvalue()).hexdigest()[:12]}"
    try:
        register_plate(ctx.ws, data.getvalue(), kind=kind, mask=mask.getvalue(), plate_id=plate_id,
                       talent_name=name.strip()[:80], consent_channels=list(channels))
    except ListingError as error:
        reason = safe(error)
        return f"✗ {reason[:1].upper()}{reason[1:]}", gr.update(), gr.update(), gr.update()

    # 3. What the seller can do next.
    where = ", ".join(channel_name(c) for c in channels)
    cutout = product_cutout(ctx.ws, choice if choice and choice != NEW_SKU else None)
    nxt = (f"Say \"add a try-on\" in the chat to make one for **{safe(cutout['sku'])}**." if cutout else
           "The next gallery of a piece worn there includes a try-on.")
    return (f"✓ Added the photo of {part} ({safe(name.strip()[:80])}, agreed for {where}). {nxt}",
            gr.update(value=None), missing_panel(ctx, cutout["sku"]) if cutout else gr.update(),
            gr.update(interactive=False))  # stored: the button waits for the next photo


def on_add_set_photo(ctx: AppContext, editor_value, width_cm):
    """Store the seller's own set for lifestyle and campaign images (tools.plates.register_scene_plate): the painted
    area is where a product may stand; its width in cm, when given, sets the true scale. Returns the note, the
    editor and the width (cleared once stored) and the button (off once stored, until the next photo)."""
    import hashlib
    import io

    import gradio as gr

    from tools.plates import register_scene_plate

    photo, surface = painted_photo(editor_value)
    problem = ("Upload a photo of your set first." if photo is None else
               "Paint over the surface where a product may stand." if surface is None else "")
    if problem:
        return f"✗ {problem}", gr.update(), gr.update(), gr.update()
    data, mask = io.BytesIO(), io.BytesIO()
    photo.save(data, "PNG")
    surface.save(mask, "PNG")
    width_mm = float(width_cm) * 10 if width_cm else None
    try:
        register_scene_plate(ctx.ws, data.getvalue(), surface=mask.getvalue(), surface_width_mm=width_mm,
                             plate_id=f"set-{hashlib.sha256(data.getvalue()).hexdigest()[:12]}")
    except ListingError as error:
        reason = safe(error)
        return f"✗ {reason[:1].upper()}{reason[1:]}", gr.update(), gr.update(), gr.update()
    size = "at its true size" if width_mm else "at a typical size (give the surface's width for its true size)"
    return (f"✓ Added your set. Lifestyle and campaign images made from now on stand the product on it, {size}.",
            gr.update(value=None), gr.update(value=None), gr.update(interactive=False))


def paint_editor(label: str, elem_id: str, colours: list[str], *, brush_size: int = 24, upload: bool = True):
    """A photo editor to paint on with fixed brush colours (the first is the default): the cutout's strokes
    (over the product's own photo, no upload), a model's photo, a set."""
    import gradio as gr

    return gr.ImageEditor(label=label, type="numpy", elem_id=elem_id, sources=["upload"] if upload else [],
                          transforms=[], layers=False,
                          brush=gr.Brush(colors=colours, default_color=colours[0], color_mode="fixed",
                                         default_size=brush_size),
                          eraser=gr.Eraser(default_size=brush_size), height=420, format="png", image_mode="RGBA",
                          buttons=[])


def on_editor_photo(editor_value):
    """"Add model photo" and "Add set photo" are offered while their editor holds a photo."""
    import gradio as gr

    photo, _ = painted_photo(editor_value)
    return gr.update(interactive=photo is not None)


def on_close_view():
    import gradio as gr

    return gr.update(visible=False)


def on_approved(ctx: AppContext, choice, typed, channel):
    """The "Approved" view for the product picked and the channel chosen."""
    try:
        sku = _current_sku(choice, typed)
    except ListingError:
        sku = None
    return approved_view(ctx, sku, channel)


def approved_view(ctx: AppContext, sku: str | None, channel: str, *, reviewing: bool = False):
    """The page as it will be published for the channel, what it leaves out, and whether Publish can run.

    Publish is the screen's primary action only when no review waits (then Send decisions is) and the pack is not
    published as it stands.
    """
    import gradio as gr

    from tools.coverage import pending_images
    from tools.publish import pack_preview

    if not sku or not ctx.known(sku):
        return gr.update(visible=False), None, approved_markdown(None), gr.update(interactive=False)
    preview = pack_preview(ctx.ws, sku, channel)
    if not preview["ready"] and "no approved images" in (preview["problem"] or ""):
        return gr.update(visible=False), None, approved_markdown(None), gr.update(interactive=False)
    if preview["ready"]:
        preview["pending"] = pending_images(ctx.ws, sku, channel)
    images = [(ctx.show(image["path"], 480), approved_caption(image)) for image in preview["images"]]
    # once this pack is in the exports folder, publishing it again would change nothing: no longer the action
    published = bool(preview.get("published"))
    return (gr.update(visible=True), images, approved_markdown(preview),
            gr.update(interactive=preview["ready"], value="Publish again" if published else "Publish",
                      variant="secondary" if reviewing or published else "primary"))


DISK_FULL = ("✗ The disk is full, so the pack could not be written. Free some space on this computer and "
             "publish again; nothing was lost.")


def on_publish(ctx: AppContext, thread_id, history, choice, typed, channel, plan, review):
    """Publish through the same tool the agent uses, and offer the pack as a zip for download."""
    import gradio as gr

    from tools.publish import publish_to_exports

    turn = Turn(thread_id, history, plan, review)
    zipped = None
    try:
        turn.sku = _current_sku(choice, typed) or (plan or {}).get("sku")
        if not turn.sku:
            raise BadInput("pick a product to publish first")
        result = publish_to_exports(ctx.ws, turn.sku, channel)
        roles = {f["candidate_id"]: f["role"] for f in result["files"]}
        result["skipped"] = [{**s, "role": roles.get(s["candidate_id"], "")} for s in result.get("skipped") or []]
        _say(turn.history, published_text(result))
        zipped = zipped_pack(ctx, turn.sku, result["channel"], Path(result["folder"]))
    except OutOfSpace:
        _say(turn.history, DISK_FULL)
    except ListingError as error:
        _say(turn.history, f"✗ {safe(error)}")
    except Exception as error:
        if isinstance(storage_problem(error, ctx.ws.home), OutOfSpace):
            _say(turn.history, DISK_FULL)
        else:
            log.exception("publish failed")
            _say(turn.history, f"✗ Publishing failed ({type(error).__name__}); nothing stored was lost. Try again.")
    return (*turn_outputs(ctx, turn),
            gr.update(value=zipped, visible=True) if zipped else gr.update())


SCROLL_TO_VIEWER = "() => { document.getElementById('viewer').scrollIntoView({block: 'start'}); return []; }"


def review_card(ctx: AppContext, cand: dict, states: list, view_out: list):
    """One candidate's card inside the review (drawn by the review's gr.render): the image, its verdict and notes,
    "View large" (wired to the large view: `states` in, `view_out` out) and its own decision and words.
    Returns the decision radio and the words box, which Send decisions reads."""
    import gradio as gr

    from tools.review import candidate_detail

    cid = cand["id"]
    detail = candidate_detail(ctx.ws, cid)
    with gr.Column(min_width=140, elem_classes=["ls-card", f"ls-role-{cand.get('role', '')}"], elem_id=f"card-{cid}"):
        gr.Image(value=ctx.show(cand.get("path")), show_label=False, height=180, interactive=False,
                 container=False, buttons=[], format="jpeg", elem_classes=["ls-thumb"])
        gr.HTML(card_html(cand, detail["warnings"]))
        view = gr.Button("View large", size="sm", elem_id=f"view-{cid}", elem_classes=["ls-view"])
        choice = gr.Radio(DECIDE, show_label=False, elem_id=f"decide-{cid}", elem_classes=["ls-decide"],
                          container=False, key=f"decide-{cid}")
        note = gr.Textbox(show_label=False, placeholder="What to change?", max_lines=4, elem_id=f"note-{cid}",
                          elem_classes=["ls-note"], container=False, key=f"note-{cid}")
    view.click(partial(on_view, ctx, cid), inputs=states, outputs=view_out).then(None, js=SCROLL_TO_VIEWER)
    return choice, note


# -- the layout ---------------------------------------------------------------------------------------------


def build_app(settings: Settings):
    """The Listing Studio Blocks (not launched). `serve` launches it; tests serve it on a free port."""
    import gradio as gr

    from agent.runner import StudioAgent
    from tools.demo import DEMO_PRODUCTS
    from tools.models import Channel
    from tools.workspace import Workspace

    # 1. The context every handler shares.
    ws = Workspace.open(settings)
    ctx = AppContext(ws=ws, agent=StudioAgent(ws), media=Path(tempfile.mkdtemp(prefix="listing-studio-media-")))

    # 2. Layout.
    with gr.Blocks(title="Listing Studio", analytics_enabled=False, fill_width=True) as demo:
        thread = gr.BrowserState(None, storage_key=THREAD_KEY, secret=_ui_secret(ws.home))
        plan_state = gr.State(None)
        review_state = gr.State(None)
        picked = gr.State(False)
        held = gr.State(None)

        gr.HTML("<div class='ls-header'><h1>Listing Studio</h1>"
                "<p>Upload a product photo, say what you need, approve the images you like.</p></div>")
        with gr.Row(equal_height=False, elem_id="top-row"):
            with gr.Column(scale=3, min_width=300, elem_id="talk"):
                chat = gr.Chatbot(label="Studio assistant", show_label=False, elem_id="chat", height=480,
                                  buttons=["copy"], feedback_options=None,
                                  placeholder="Say what you need, e.g. <i>gold ring with a sapphire, Amazon and Etsy, "
                                  "warm holiday mood</i>, and attach a photo of the product.")
                box = gr.MultimodalTextbox(elem_id="brief", file_count="multiple", file_types=["image"],
                                           sources=["upload"], show_label=False, lines=1,
                                           placeholder="Your brief or a question")
                with gr.Row(visible=False, elem_id="which-product") as which_product:
                    new_product_btn = gr.Button("A new product", elem_id="new-product", size="sm")
                    same_product_btn = gr.Button("Another photo of this product", elem_id="same-product", size="sm")
            with gr.Column(scale=2, min_width=280, elem_id="side"):
                with gr.Group(elem_id="product-box"):
                    sku_pick = gr.Dropdown(label="Product", choices=ctx.sku_choices(), value=NEW_SKU,
                                           elem_id="sku-pick", interactive=True)
                    new_sku = gr.Textbox(label="New product code (optional)", placeholder="e.g. RING-001",
                                         elem_id="new-sku", max_lines=1)
                with gr.Group(elem_id="demo-box"):
                    demo_pick = gr.Dropdown(label="No photo at hand? Try a demo product", elem_id="demo-pick",
                                            choices=[(d.title, d.sku) for d in DEMO_PRODUCTS.values()],
                                            value="DEMO-RING")
                    demo_btn = gr.Button("Use this demo product", elem_id="demo-btn", size="sm")
                with gr.Accordion("Plan", open=True, elem_id="plan-box"):
                    plan_md = gr.Markdown(plan_markdown(None), elem_id="plan")
                with gr.Accordion("What's missing", open=True, elem_id="missing-box"):
                    missing_md = gr.Markdown(missing_panel(ctx, None), elem_id="missing")
                new_chat = gr.Button("New conversation", size="sm", elem_id="new-chat")
        ready_token = gr.Textbox(visible="hidden", elem_id="ready-token")

        with gr.Column(elem_id="review"):
            with gr.Column(visible=False, elem_id="viewer") as viewer:
                view_title = gr.Markdown(elem_id="view-title")
                with gr.Row(equal_height=True):
                    view_source = gr.Image(label="Your photo", interactive=False, elem_id="view-source",
                                           height=420, buttons=["fullscreen"], format="jpeg", min_width=140)
                    view_image = gr.Image(label="This image", interactive=False, elem_id="view-image", height=420,
                                          buttons=["fullscreen"], format="jpeg", min_width=140)
                    view_other = gr.Image(label="Other version", interactive=False, elem_id="view-other",
                                          height=420, buttons=["fullscreen"], format="jpeg", min_width=140)
                view_decide = gr.HTML(elem_id="view-decide")
                view_checks = gr.Markdown(elem_id="view-checks")
                close_view = gr.Button("Close the large view", size="sm", elem_id="close-view")
            view_out = [viewer, view_title, view_source, view_image, view_other, view_decide, view_checks]

            @gr.render(inputs=[review_state, plan_state])
            def candidates(review, plan):
                log.debug("review cards drawn: %s", [c["id"] for c in (review or {}).get("candidates", [])])
                groups = group_by_shot(review, plan)
                if not groups:
                    return
                gr.Markdown("## Review", elem_id="review-title")
                hint = cutout_hint(r for c in review.get("candidates", []) for r in c.get("reasons") or [])
                if hint:
                    gr.HTML(f"<div class='ls-warning' id='cutout-hint'>{hint}</div>")
                ids, choices, notes = [], [], []
                with gr.Row(equal_height=False, elem_classes=["ls-shots"]):
                    for title, group in groups:
                        with gr.Column(scale=1, elem_classes=["ls-shot"]):
                            gr.Markdown(f"### {title}", elem_classes=["ls-shot-title"])
                            with gr.Row(equal_height=False, elem_classes=["ls-cards"]):
                                for cand in group:
                                    choice, note = review_card(ctx, cand, [review_state, plan_state], view_out)
                                    ids.append(cand["id"])
                                    choices.append(choice)
                                    notes.append(note)
                send_btn.click(partial(on_decide, ctx, ids), inputs=[chat, thread, review_state, plan_state, *choices,
                                                                     *notes],
                               outputs=turn_out, show_progress="minimal"
                               ).then(on_close_view, outputs=[viewer]).then(None, js=ASK_IN_VIEW)

            with gr.Row(elem_id="decide-bar"):
                send_btn = gr.Button("Send decisions", variant="primary", visible=False, elem_id="send-decisions")

        with gr.Column(visible=False, elem_id="approved") as approved_box:
            gr.Markdown("## Approved, as the page will show it")
            channel_pick = gr.Dropdown(label="Channel", choices=[(channel_name(c.value), c.value) for c in Channel],
                                       value="amazon",
                                       elem_id="channel-pick", min_width=160)
            approved_gallery = gr.Gallery(show_label=False, columns=5, height=260, elem_id="approved-gallery",
                                          allow_preview=False, object_fit="contain", format="jpeg", fit_columns=False,
                                          buttons=[])
            approved_md = gr.Markdown(elem_id="approved-notes")
            publish_btn = gr.Button("Publish", variant="primary", interactive=False, elem_id="publish-btn")
            download = gr.File(label="Download the pack (zip)", visible=False, elem_id="download", interactive=False)

        with gr.Column(visible=False, elem_id="cutout-box") as cutout_box:
            gr.Markdown("## The product's cutout")
            cutout_note = gr.Markdown(elem_id="cutout-note")
            with gr.Row(equal_height=True):
                cutout_checker = gr.Image(label="On a checkerboard", interactive=False,
                                          elem_id="cutout-checker", height=320, format="jpeg", buttons=["fullscreen"],
                                          min_width=140)
                cutout_backdrop = gr.Image(label="On the backdrop", interactive=False, elem_id="cutout-backdrop",
                                           height=320, format="jpeg", buttons=["fullscreen"], min_width=140)
            gr.Markdown("Something missing or left over? Paint **green** over parts of the product that were cut "
                        "away and **red** over background that was kept, then press **Re-cut**.")
            strokes = paint_editor("Your photo", "cutout-strokes", ["#16a34a", "#dc2626"], upload=False)
            recut_btn = gr.Button("Re-cut", elem_id="recut-btn", interactive=False)

        with gr.Accordion("Model photos for try-ons", open=False, elem_id="model-photos"):
            gr.Markdown("A try-on shows your jewelry worn, at its real size. Upload a photo of a hand, a neckline, "
                        "an ear or a wrist (plain background, no text or watermark), paint over the spot where the "
                        "piece sits, and say who the model is and where they agreed in writing that it may be used.")
            model_photo = paint_editor("The model's photo", "model-photo", ["#2563eb"])
            with gr.Row():
                model_kind = gr.Radio(MODEL_KINDS, value="hand", label="The photo shows", elem_id="model-kind",
                                      min_width=320)  # on a phone the name goes below, not squeezed beside it
                model_name = gr.Textbox(label="The model's name", elem_id="model-name", max_lines=1)
            model_consent = gr.CheckboxGroup([(channel_name(c.value), c.value) for c in Channel],
                                             label="The model agreed in writing to its use on", elem_id="model-consent")
            add_model_btn = gr.Button("Add model photo", elem_id="add-model-photo", interactive=False)
            model_note = gr.Markdown(elem_id="model-note")

        with gr.Accordion("Your own sets for scenes", open=False, elem_id="set-photos"):
            gr.Markdown("Lifestyle and campaign images can stand your product on a set you photographed: a marble "
                        "slab, a shelf, a linen table. Upload a photo of the set (no text or watermark), paint over "
                        "the surface where a product may stand, and, for its true size, say how wide that surface "
                        "is.")
            set_photo = paint_editor("Your set", "set-photo", ["#d97706"], brush_size=32)
            set_width = gr.Number(label="How wide the painted surface is, in cm (for true size; optional)",
                                  elem_id="set-width", minimum=0, precision=1)
            add_set_btn = gr.Button("Add set photo", elem_id="add-set-photo", interactive=False)
            set_note = gr.Markdown(elem_id="set-note")

        # 3. Wiring: module-level handlers bound to the context.
        approved_in = [sku_pick, new_sku, channel_pick]
        approved_out = [approved_box, approved_gallery, approved_md, publish_btn]
        turn_out = [thread, chat, plan_state, plan_md, review_state, sku_pick, missing_md, box, new_sku, send_btn,
                    ready_token, channel_pick, *approved_out, model_note]
        scroll = {"fn": None, "inputs": [ready_token], "js": SCROLL_TO_REVIEW}

        demo.load(partial(on_load, ctx), inputs=[thread], outputs=turn_out)
        ready_token.change(**scroll)
        new_chat.click(partial(on_new_chat, ctx), outputs=[*turn_out, download]
                       ).then(on_close_view, outputs=[viewer])
        sku_pick.input(partial(on_pick, ctx), inputs=[sku_pick],
                       outputs=[new_sku, missing_md, plan_state, plan_md, picked]
                       ).then(partial(on_approved, ctx), inputs=approved_in, outputs=approved_out)
        demo_btn.click(partial(on_demo, ctx), inputs=[demo_pick], outputs=[sku_pick, new_sku, box, missing_md, picked])
        new_sku.input(lambda: True, outputs=[picked])
        box.submit(partial(on_send, ctx),
                   inputs=[box, chat, thread, sku_pick, new_sku, picked, plan_state, review_state],
                   outputs=[*turn_out, picked, held, which_product], show_progress="minimal")
        for button, new_product in ((new_product_btn, True), (same_product_btn, False)):
            button.click(partial(on_held, ctx, new_product),
                         inputs=[held, chat, thread, plan_state, review_state],
                         outputs=[*turn_out, held, which_product], show_progress="minimal")
        close_view.click(on_close_view, outputs=[viewer])
        cutout_out = [cutout_box, cutout_checker, cutout_backdrop, strokes, cutout_note, recut_btn]
        sku_pick.change(partial(on_cutout_view, ctx), inputs=[sku_pick], outputs=cutout_out)
        for shown in (sku_pick.change, channel_pick.change):
            shown(partial(on_download_view, ctx), inputs=[sku_pick, channel_pick], outputs=[download],
                  show_progress="hidden")
        # change, not input: the editor's input event also fires when a new photo is put in it (a wasted upload)
        strokes.change(on_strokes, inputs=[strokes], outputs=[recut_btn], show_progress="hidden",
                       trigger_mode="always_last")
        # progress shows on the cutout's note: an overlay on the stroke editor stayed after the re-cut finished
        recut_btn.click(partial(on_recut, ctx), inputs=[sku_pick, strokes, chat, thread, review_state, plan_state],
                        outputs=[*turn_out, *cutout_out], show_progress="minimal", show_progress_on=[cutout_note])
        channel_pick.input(partial(on_approved, ctx), inputs=approved_in, outputs=approved_out)
        # the editor is an output only to be cleared once stored: its loading overlay stayed over it after a
        # refusal (no change to show) and blocked the next upload, so progress shows on the note instead
        add_model_btn.click(partial(on_add_model_photo, ctx),
                            inputs=[model_photo, model_kind, model_name, model_consent, sku_pick],
                            outputs=[model_note, model_photo, missing_md, add_model_btn],
                            show_progress_on=[model_note])
        # upload and clear, not input: the editor's input event fires before the uploaded photo is in its value
        for photo_event in (model_photo.upload, model_photo.clear):
            photo_event(on_editor_photo, inputs=[model_photo], outputs=[add_model_btn], show_progress="hidden",
                        trigger_mode="always_last")
        add_set_btn.click(partial(on_add_set_photo, ctx), inputs=[set_photo, set_width],
                          outputs=[set_note, set_photo, set_width, add_set_btn], show_progress_on=[set_note])
        for photo_event in (set_photo.upload, set_photo.clear):
            photo_event(on_editor_photo, inputs=[set_photo], outputs=[add_set_btn], show_progress="hidden",
                        trigger_mode="always_last")
        publish_btn.click(partial(on_publish, ctx),
                          inputs=[thread, chat, sku_pick, new_sku, channel_pick, plan_state, review_state],
                          outputs=[*turn_out, download])

    demo.listing_studio_workspace = ws
    demo.listing_studio_context = ctx
    return demo


def theme():
    import gradio as gr

    return gr.themes.Default(primary_hue="indigo", secondary_hue="amber", neutral_hue="slate",
                             font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "Consolas", "monospace"])


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, *, block: bool = True):
    """Check the bind, build the app and launch it. Blocks until stopped unless `block=False` (returns the app).

    No folder is added to Gradio's allowed paths: the page gets only the copies the app made for it and
    the files the browser uploaded, both under unguessable names in Gradio's cache.
    """
    # 1. Refuse an exposed bind without credentials before anything starts.
    credentials = check_bind(settings, host)
    if not 0 < int(port) < 65536:
        raise BadInput(f"port must be 1..65535, got {port}")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

    # 2. Build and launch.
    demo = build_app(settings)
    demo.queue(default_concurrency_limit=2)
    demo.launch(server_name=host, server_port=int(port), auth=credentials, prevent_thread_lock=True,
                theme=theme(), css=CSS, footer_links=[], show_error=False, quiet=True, ssr_mode=False, pwa=False,
                mcp_server=False, enable_monitoring=False, js=PAGE_JS, head=HEAD)
    if block:
        print(f"Listing Studio is running on http://{host}:{port} (press Ctrl+C to stop)", file=sys.stderr)
        demo.block_thread()
    return demo
