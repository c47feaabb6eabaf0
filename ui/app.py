"""The Gradio chat app: `build_app(settings)` builds the Blocks, `serve(settings, host, port)` checks the
bind address and launches it.

Thin: every turn goes to `agent.runner.StudioAgent` (send / resume / pending_review) and its event dicts
become chat messages, the plan list, and the candidate cards. The page only reads the catalog for the SKU
picker and the "what's missing" panel (`tools.coverage`), validates uploads with `tools.assets.load_image`,
and zips a published pack for download. No rendering, planning or critique logic lives here.
"""

from __future__ import annotations

import logging
import os
import secrets
import shutil
import sys
import tempfile
import uuid
from html import escape
from pathlib import Path

from tools.errors import BadInput, ListingError, Refused
from tools.settings import Settings

log = logging.getLogger("listing_studio.ui")

LOOPBACK = {"127.0.0.1", "localhost", "::1"}
NEW_SKU = "__new__"
THREAD_KEY = "listing-studio-thread"
STATUS = {"running": "pending", "done": "done", "failed": "done"}

ROLE_NAMES = {
    "packshot": "Main image", "try_on": "Try-on", "detail": "Detail close-up", "lifestyle": "Lifestyle scene",
    "campaign": "Campaign", "on_model": "On model", "model_swap": "Model swap",
}
SLOT_NAMES = {"grid": "search grid", "hero": "hero", "gallery_2": "gallery #2", "gallery_3": "gallery #3",
              "campaign": "campaign"}

CSS = """
.ls-header h1 { margin: 0 0 2px 0; font-size: 1.6rem; }
.ls-header p { margin: 0; color: var(--body-text-color-subdued); }
.ls-shot-title { margin: 10px 0 2px 0 !important; }
.ls-shot-title h3 { margin: 0 !important; }
.ls-card { border: 1px solid var(--border-color-primary); border-radius: 10px; padding: 8px !important;
           max-width: 360px;
           background: var(--block-background-fill); }
.ls-card-approve { border: 2px solid #16a34a; }
.ls-card-reject { border: 2px solid #dc2626; }
.ls-card-change { border: 2px solid #d97706; }
.ls-badge { display: inline-block; padding: 1px 8px; border-radius: 999px; font-weight: 600; font-size: 0.8rem; }
.ls-pass { background: #dcfce7; color: #166534; }
.ls-fail { background: #fee2e2; color: #991b1b; }
.ls-mark { display: inline-block; margin-left: 6px; padding: 1px 8px; border-radius: 999px; font-size: 0.8rem;
           background: #e0e7ff; color: #3730a3; font-weight: 600; }
.ls-reasons { margin: 4px 0 0 0; padding-left: 18px; font-size: 0.85rem; color: var(--body-text-color-subdued); }
.ls-meta { font-size: 0.8rem; color: var(--body-text-color-subdued); word-break: break-all; }
.ls-actions { align-items: flex-end !important; }
.ls-actions > button { flex-grow: 0 !important; margin-bottom: 4px; }
#chat code, #plan code { white-space: pre-wrap; word-break: break-all; }
.ls-empty { color: var(--body-text-color-subdued); font-style: italic; }
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


# -- pure helpers: events and catalog rows as text --------------------------------------------------------


def validate_uploads(paths) -> tuple[list[str], list[str]]:
    """Check each uploaded file with the shared loader: (usable paths, chat lines about the others)."""
    from tools.assets import load_image

    good, lines = [], []
    for path in paths or []:
        name = Path(path).name
        try:
            loaded = load_image(path, name=name)
        except ListingError as error:
            lines.append(f"✗ Not used: {error}")
            continue
        good.append(str(path))
        if loaded.notes:
            lines.append(f"✓ {name}: {'; '.join(loaded.notes)}")
    return good, lines


def _shot_label(shot: dict) -> str:
    role = shot.get("role", "")
    parts = [ROLE_NAMES.get(role, role.replace("_", " ").capitalize())]
    where = SLOT_NAMES.get(shot.get("slot", ""), shot.get("slot", ""))
    channel = shot.get("channel")
    detail = ", ".join(p for p in (channel.capitalize() if channel else "", where) if p)
    if detail:
        parts.append(f"({detail})")
    return " ".join(parts)


def plan_markdown(plan: dict | None) -> str:
    """A GalleryPlan (JSON) as a numbered list a seller can read."""
    if not plan or not plan.get("shots"):
        return "<span class='ls-empty'>No plan yet. Upload a photo and say what you need.</span>"
    lines = [f"**Plan for {plan.get('sku', '')}** — {len(plan['shots'])} shots"]
    for number, shot in enumerate(plan["shots"], 1):
        size = f"{shot.get('width')}×{shot.get('height')}" if shot.get("width") else ""
        extra = " · ".join(x for x in (size, shot.get("mood") or "", shot.get("scene") or "") if x)
        count = shot.get("count", 1)
        lines.append(f"{number}. **{_shot_label(shot)}** — {count} candidate{'s' if count != 1 else ''}"
                     + (f" · {extra}" if extra else ""))
    for note in plan.get("notes") or []:
        lines.append(f"\n_{note}_")
    return "\n".join(lines)


def missing_markdown(ws, sku: str | None) -> str:
    """The "what's missing" panel for one SKU (tools.coverage.missing_report)."""
    from tools.coverage import missing_report

    if not sku:
        return "<span class='ls-empty'>Pick a product to see what it still lacks.</span>"
    try:
        report = missing_report(ws, sku)
    except ListingError:
        return f"**{sku}** is new: nothing approved yet."
    approved = len(report["approved"])
    if not report["missing"]:
        return f"**{sku}** is complete: {approved} approved image{'s' if approved != 1 else ''}."
    lines = [f"**{sku}** — {len(report['missing'])} missing, {approved} approved"]
    for item in report["missing"]:
        label = _shot_label({"role": item["role"], "slot": item["slot"], "channel": item.get("channel")})
        lines.append(f"- {label}: {item['reason']}")
    return "\n".join(lines)


def card_html(candidate: dict, mark: dict | None) -> str:
    """Verdict badge, score and the critique's reasons for one candidate card."""
    verdict = candidate.get("verdict") or "unchecked"
    badge = "ls-pass" if verdict == "pass" else "ls-fail"
    label = {"pass": "✓ passes checks", "fail": "✗ flagged"}.get(verdict, verdict)
    score = candidate.get("score")
    html = f"<span class='ls-badge {badge}'>{escape(label)}</span>"
    if score is not None:
        html += f" <span class='ls-meta'>score {float(score):.2f}</span>"
    if mark:
        word = {"approve": "approve", "reject": "reject", "change": "regenerate"}[mark["action"]]
        html += f"<span class='ls-mark'>→ {word}</span>"
    reasons = candidate.get("reasons") or []
    if reasons:
        html += "<ul class='ls-reasons'>" + "".join(f"<li>{escape(str(r))}</li>" for r in reasons) + "</ul>"
    html += f"<div class='ls-meta'>{escape(candidate.get('id', ''))}</div>"
    return html


def group_by_shot(payload: dict | None, plan: dict | None) -> list[tuple[str, list[dict]]]:
    """Review candidates grouped by shot, in plan order, each group with a readable title."""
    if not payload:
        return []
    shots = {s["id"]: s for s in (plan or {}).get("shots", [])}
    order = list(shots)
    groups: dict[str, list[dict]] = {}
    for candidate in payload.get("candidates", []):
        groups.setdefault(candidate.get("shot", ""), []).append(candidate)
    keys = sorted(groups, key=lambda k: order.index(k) if k in order else len(order))
    titled = []
    for number, key in enumerate(keys, 1):
        first = groups[key][0]
        shot = shots.get(key, {"role": first.get("role", "")})
        titled.append((f"{number}. {_shot_label(shot)}", groups[key]))
    return titled


def _progress_message(history: list, event: dict) -> None:
    """A progress event becomes a titled message; 'done'/'failed' close the open one with the same title."""
    title = event.get("title") or "Working"
    status = event.get("status", "running")
    shown = title if status != "failed" else f"✗ {title}"
    text = event.get("message") or ""
    for message in reversed(history):
        meta = message.get("metadata") if isinstance(message, dict) else None
        if meta and meta.get("status") == "pending" and meta.get("id") == title:
            meta.update(status=STATUS.get(status, "done"), title=shown)
            if text:
                message["content"] = text
            return
    history.append({"role": "assistant", "content": text or title,
                    "metadata": {"title": shown, "id": title, "status": STATUS.get(status, "done")}})


def _close_pending(history: list) -> None:
    for message in history:
        meta = message.get("metadata") if isinstance(message, dict) else None
        if meta and meta.get("status") == "pending":
            meta["status"] = "done"


def _say(history: list, text: str) -> None:
    history.append({"role": "assistant", "content": text})


def zip_folder(result: dict, exports_dir: Path) -> str:
    """Zip a published pack (publish_pack's result) under exports/downloads; returns the zip's path."""
    folder = Path(result["folder"])
    target = exports_dir / "downloads" / f"{result.get('sku', folder.parent.name)}-{result.get('channel', folder.name)}"
    target.parent.mkdir(parents=True, exist_ok=True)
    return shutil.make_archive(str(target), "zip", root_dir=folder)


def _ui_secret(home: Path) -> str:
    """A per-home secret that keeps the browser's stored thread id readable across restarts."""
    path = home / "ui-secret"
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as handle:
            handle.write(secrets.token_hex(16))
    return path.read_text().strip()


# -- the app ------------------------------------------------------------------------------------------------


def build_app(settings: Settings):
    """The Listing Studio Blocks (not launched). `serve` launches it; tests serve it on a free port."""
    import gradio as gr

    from tools.demo import DEMO_PRODUCTS, demo_photo_bytes
    from tools.models import Channel, check_sku, normalize_channel
    from tools.workspace import Workspace

    # 1. Open the home folder and keep what every session shares.
    ws = Workspace.open(settings)
    demo_dir = Path(tempfile.mkdtemp(prefix="listing-studio-demo-"))
    from agent.runner import StudioAgent

    studio_agent = StudioAgent(ws)

    def agent() -> StudioAgent:
        return studio_agent

    def preview(path: str | None) -> str | None:
        """A 640 px copy of a candidate for its card (the full image stays in the store), made once."""
        if not path or not Path(path).is_file():
            return None
        target = demo_dir / "previews" / f"{Path(path).stem}.jpg"
        if not target.exists():
            from PIL import Image

            target.parent.mkdir(exist_ok=True)
            with Image.open(path) as image:
                image.thumbnail((640, 640))
                flat = Image.new("RGB", image.size, (255, 255, 255))
                flat.paste(image, mask=image.getchannel("A") if image.mode == "RGBA" else None)
                flat.save(target, "JPEG", quality=88)
        return str(target)

    def sku_choices() -> list[tuple[str, str]]:
        products = ws.catalog.list_products()
        return [("+ New product", NEW_SKU)] + [
            (f"{p.sku} — {p.title}" if p.title else p.sku, p.sku) for p in products
        ]

    def current_sku(choice: str | None, new_sku: str | None) -> str | None:
        if choice and choice != NEW_SKU:
            return choice
        new_sku = (new_sku or "").strip()
        return check_sku(new_sku) if new_sku else None

    channel_names = [c.value for c in Channel]

    # 2. Turn agent events into UI updates (shared by send, resume and publish).
    def apply_events(events, turn: Turn):
        """Apply each event to the turn and yield, so the page follows the agent live."""
        try:
            for event in events:
                kind = event.get("type")
                if kind == "progress":
                    _progress_message(turn.history, event)
                elif kind == "reply":
                    _say(turn.history, event.get("text", ""))
                elif kind == "plan":
                    turn.plan = event.get("plan") or {}
                    turn.sku = turn.plan.get("sku") or turn.sku
                    _say(turn.history, plan_markdown(turn.plan))
                elif kind == "review":
                    turn.review = event.get("payload") or {}
                    turn.sku = turn.review.get("sku") or turn.sku  # the agent's reply announces it
                elif kind == "published":
                    turn.published = event.get("result") or {}
                    _say(turn.history, _published_text(turn.published))
                elif kind == "error":
                    _say(turn.history, f"✗ {event.get('message', 'something went wrong')}")
                yield turn
        except ListingError as error:
            _say(turn.history, f"✗ {error}")
        except Exception as error:  # the page must never hang on an unexpected failure
            log.exception("agent turn failed")
            _say(turn.history, f"✗ unexpected error: {type(error).__name__}: {error}")
        _close_pending(turn.history)
        # The checkpoint is the truth about what still waits for review (a typed answer may have settled it).
        try:
            turn.review = agent().pending_review(turn.thread_id)
        except ListingError:
            turn.review = None
        yield turn

    def _published_text(result: dict) -> str:
        from tools.publish import pack_summary

        first, *rest = pack_summary(result)
        return "\n".join([f"Published: {first}", *[f"- {line.strip()}" for line in rest]])

    # 3. Layout.
    with gr.Blocks(title="Listing Studio", analytics_enabled=False, fill_width=True) as demo:
        thread = gr.BrowserState(None, storage_key=THREAD_KEY, secret=_ui_secret(ws.home))
        plan_state = gr.State(None)
        review_state = gr.State(None)
        marks_state = gr.State({})

        gr.HTML("<div class='ls-header'><h1>Listing Studio</h1>"
                "<p>Upload product photos, say what you need, approve the images you like.</p></div>")
        with gr.Row(equal_height=False):
            with gr.Column(scale=3, min_width=340):
                chat = gr.Chatbot(label="Studio assistant", elem_id="chat", height=460, buttons=["copy"],
                                  feedback_options=None, placeholder="Say what you need, e.g. <i>gold ring with "
                                  "a sapphire, Amazon and Etsy, warm holiday mood</i>, and attach one or a few "
                                  "product photos.")
                box = gr.MultimodalTextbox(elem_id="brief", file_count="multiple", file_types=["image"],
                                           sources=["upload"], show_label=False, lines=1,
                                           placeholder="Type your brief or a question; drop photos here")
            with gr.Column(scale=2, min_width=300):
                with gr.Group():
                    sku_pick = gr.Dropdown(label="Product", choices=sku_choices(), value=NEW_SKU,
                                           elem_id="sku-pick", interactive=True)
                    new_sku = gr.Textbox(label="New SKU", placeholder="e.g. RING-001 (optional)",
                                         elem_id="new-sku", max_lines=1)
                with gr.Group():
                    demo_pick = gr.Dropdown(label="No photos at hand? Try a demo product", elem_id="demo-pick",
                                            choices=[(d.title, d.sku) for d in DEMO_PRODUCTS.values()],
                                            value="DEMO-RING")
                    demo_btn = gr.Button("Use this demo product", elem_id="demo-btn", size="sm")
                with gr.Accordion("Plan", open=True):
                    plan_md = gr.Markdown(plan_markdown(None), elem_id="plan")
                with gr.Accordion("What's missing", open=True):
                    missing_md = gr.Markdown(missing_markdown(ws, None), elem_id="missing")
                new_chat = gr.Button("New conversation", size="sm", elem_id="new-chat")

        gr.Markdown("## Candidates", elem_id="candidates-title")

        @gr.render(inputs=[review_state, marks_state, plan_state])
        def candidates(review, marks, plan):
            groups = group_by_shot(review, plan)
            if not groups:
                gr.Markdown("<span class='ls-empty'>Candidates appear here when a gallery is rendered.</span>")
                return
            gr.Markdown("Mark each candidate **Approve**, **Reject** or **Regenerate**; type a change request "
                        "below if you want one, then press **Send decisions**.", elem_classes=["ls-hint"])
            with gr.Row(equal_height=False, elem_classes=["ls-shots"]):
                for title, group in groups:
                    with gr.Column(min_width=560, scale=1, elem_classes=["ls-shot"]):
                        gr.Markdown(f"### {title}", elem_classes=["ls-shot-title"])
                        with gr.Row(equal_height=False):
                            for cand in group:
                                candidate_card(cand, (marks or {}).get(cand["id"]))

        def candidate_card(cand: dict, mark: dict | None) -> None:
            """One candidate: its image, verdict badge and reasons, and the three decision buttons."""
            cid = cand["id"]
            classes = ["ls-card", f"ls-role-{cand.get('role', '')}"] + ([f"ls-card-{mark['action']}"] if mark else [])
            with gr.Column(min_width=262, scale=1, elem_classes=classes, elem_id=f"card-{cid}"):
                gr.Image(value=preview(cand.get("path")), show_label=False, height=190, interactive=False,
                         buttons=["fullscreen"], container=False, format="jpeg")
                gr.HTML(card_html(cand, mark))
                with gr.Row():
                    for action, word in (("approve", "Approve"), ("reject", "Reject"), ("change", "Regenerate")):
                        button = gr.Button(word, size="sm", min_width=60, elem_id=f"{action}-{cid}",
                                           variant="primary" if action == "approve" else "secondary")
                        button.click(_marker(cid, action), inputs=[marks_state], outputs=[marks_state])

        with gr.Row(equal_height=False, elem_classes=["ls-actions"]):
            change_text = gr.Textbox(label="Change request for rejected / regenerated images",
                                     placeholder="e.g. warmer background, less shadow", scale=4, min_width=260,
                                     elem_id="change-text", max_lines=3)
            send_btn = gr.Button("Send decisions", variant="primary", scale=1, min_width=190,
                                 elem_id="send-decisions")
        gr.Markdown("## Publish")
        with gr.Row(equal_height=False, elem_classes=["ls-actions"]):
            channel_pick = gr.Dropdown(label="Channel", choices=channel_names, value="amazon", scale=2,
                                       min_width=200, elem_id="channel-pick")
            publish_btn = gr.Button("Publish approved images", scale=1, min_width=200, elem_id="publish-btn")
        download = gr.File(label="Download the pack (zip)", visible=False, elem_id="download", interactive=False)

        # 4. Handlers.
        def on_load(thread_id):
            thread_id = thread_id or uuid.uuid4().hex
            history, review, plan, sku = [], None, None, None
            try:
                review = agent().pending_review(thread_id)
            except ListingError as error:
                _say(history, f"✗ {error}")
            except Exception as error:
                log.exception("pending_review failed")
                _say(history, f"✗ could not reopen the last review: {type(error).__name__}: {error}")
            if review:
                sku = review.get("sku")
                latest = ws.catalog.latest_plan(sku) if sku and ws.catalog.has_product(sku) else None
                plan = latest.model_dump(mode="json") if latest else None
                _say(history, f"Welcome back. {len(review.get('candidates', []))} candidates for **{sku}** "
                              "are still waiting for your review below.")
            choice = sku if sku and ws.catalog.has_product(sku) else NEW_SKU
            return (thread_id, history, review, {}, plan, plan_markdown(plan),
                    gr.update(choices=sku_choices(), value=choice), missing_markdown(ws, sku),
                    gr.update(visible=choice == NEW_SKU))

        demo.load(on_load, inputs=[thread],
                  outputs=[thread, chat, review_state, marks_state, plan_state, plan_md, sku_pick, missing_md,
                           new_sku])

        def on_new_chat():
            return (uuid.uuid4().hex, [], None, {}, None, plan_markdown(None), gr.update(visible=False))

        new_chat.click(on_new_chat, outputs=[thread, chat, review_state, marks_state, plan_state, plan_md, download])

        def on_pick(choice, typed):
            sku = choice if choice and choice != NEW_SKU else None
            plan = ws.catalog.latest_plan(sku) if sku else None
            plan_json = plan.model_dump(mode="json") if plan else None
            return (gr.update(visible=choice == NEW_SKU), missing_markdown(ws, sku), plan_json,
                    plan_markdown(plan_json))

        sku_pick.input(on_pick, inputs=[sku_pick, new_sku], outputs=[new_sku, missing_md, plan_state, plan_md])

        def on_demo(demo_sku):
            product = DEMO_PRODUCTS[demo_sku]
            path = demo_dir / f"{demo_sku.lower()}.jpg"
            if not path.exists():
                path.write_bytes(demo_photo_bytes(demo_sku))
            exists = ws.catalog.has_product(demo_sku)
            return (gr.update(choices=sku_choices(), value=demo_sku if exists else NEW_SKU),
                    gr.update(value="" if exists else demo_sku, visible=not exists),
                    {"text": product.brief, "files": [str(path)]}, missing_markdown(ws, demo_sku))

        demo_btn.click(on_demo, inputs=[demo_pick], outputs=[sku_pick, new_sku, box, missing_md])

        def on_send(message, history, thread_id, choice, typed, plan, review):
            turn = Turn(thread_id, history, plan, review)
            text = (message or {}).get("text", "").strip()
            files = [f if isinstance(f, str) else f.get("path") for f in (message or {}).get("files", [])]
            # 1. Check the photos, then echo the turn: the text, usable photos as images, the others by name.
            good, lines = validate_uploads(files)
            if text:
                turn.history.append({"role": "user", "content": text})
            for path in files:
                content = {"path": path} if path in good else f"(photo) {Path(path).name}"
                turn.history.append({"role": "user", "content": content})
            for line in lines:
                _say(turn.history, line)
            if files and not good:
                _say(turn.history, "None of the files could be used; nothing was sent. Upload a JPEG, PNG or "
                                   "WebP photo.")
                yield outputs(turn)
                return
            if not text and not good:
                _say(turn.history, "Type a brief or attach a product photo.")
                yield outputs(turn)
                return
            try:
                turn.sku = current_sku(choice, typed)
            except ListingError as error:
                _say(turn.history, f"✗ {error}")
                yield outputs(turn, keep_box=message)
                return
            yield outputs(turn, busy=True)
            # 2. Stream the agent's turn.
            for _ in apply_events(_lazy(lambda: agent().send(turn.thread_id, text, images=good, sku=turn.sku)), turn):
                yield outputs(turn, busy=True)
            yield outputs(turn)

        def outputs(turn: Turn, busy=False, keep_box=None):
            """The outputs shared by send / resume / publish, in `turn_outputs` order."""
            sku = turn.sku
            return (
                turn.thread_id,
                turn.history,
                turn.plan,
                plan_markdown(turn.plan),
                turn.review,
                gr.update(choices=sku_choices(), value=sku) if sku and ws.catalog.has_product(sku)
                else gr.update(choices=sku_choices()),
                missing_markdown(ws, sku),
                gr.update(value=zip_folder(turn.published, ws.exports_dir), visible=True)
                if turn.published and turn.published.get("folder") else gr.update(),
                gr.update(interactive=not busy, value=keep_box),
                gr.update(value=plan_channel(turn.plan)) if plan_channel(turn.plan) else gr.update(),
                gr.update(value="", visible=False) if sku and ws.catalog.has_product(sku) else gr.update(),
            )

        turn_outputs = [thread, chat, plan_state, plan_md, review_state, sku_pick, missing_md, download, box,
                        channel_pick, new_sku]
        box.submit(on_send, inputs=[box, chat, thread, sku_pick, new_sku, plan_state, review_state],
                   outputs=turn_outputs, show_progress="minimal")

        def on_decide(history, thread_id, review, marks, note, plan, choice, typed):
            turn = Turn(thread_id, history, plan, review)
            note = (note or "").strip()
            if not review:
                _say(turn.history, "There is nothing to review right now.")
                yield (*outputs(turn), marks, note)
                return
            turn.sku = review.get("sku")
            if not marks:
                _say(turn.history, "Mark at least one candidate with Approve, Reject or Regenerate first.")
                yield (*outputs(turn), marks, note)
                return
            # 1. Marks become decisions; a rejection that carries a change request asks for a new version.
            decisions = review_decisions(review, marks, note)
            if not decisions:
                _say(turn.history, "Mark at least one of these candidates with Approve, Reject or Regenerate first.")
                yield (*outputs(turn), {}, note)
                return
            turn.history.append({"role": "user", "content": decisions_summary(decisions, note)})
            turn.review = None
            yield (*outputs(turn, busy=True), {}, "")
            # 2. Resume the paused graph with them.
            for _ in apply_events(_lazy(lambda: agent().resume(turn.thread_id, decisions)), turn):
                yield (*outputs(turn, busy=True), {}, "")
            yield (*outputs(turn), {}, "")

        send_btn.click(on_decide,
                       inputs=[chat, thread, review_state, marks_state, change_text, plan_state, sku_pick, new_sku],
                       outputs=[*turn_outputs, marks_state, change_text], show_progress="minimal")

        def on_publish(thread_id, history, channel, choice, typed, plan, review):
            from tools.publish import publish_pack

            turn = Turn(thread_id, history, plan, review)
            try:
                turn.sku = current_sku(choice, typed) or (review or {}).get("sku") or (plan or {}).get("sku")
                if not turn.sku:
                    raise BadInput("pick a product to publish first")
                turn.published = publish_pack(ws, turn.sku, channel,
                                              ws.inside_home(f"exports/{turn.sku}/{normalize_channel(channel).value}"))
                _say(turn.history, _published_text(turn.published))
            except ListingError as error:
                _say(turn.history, f"✗ {error}")
            except Exception as error:
                log.exception("publish failed")
                _say(turn.history, f"✗ unexpected error while publishing: {type(error).__name__}: {error}")
            return outputs(turn)

        publish_btn.click(on_publish, inputs=[thread, chat, channel_pick, sku_pick, new_sku, plan_state, review_state],
                          outputs=turn_outputs)

    demo.listing_studio_paths = [str(ws.assets.root), str(ws.exports_dir), str(demo_dir)]
    demo.listing_studio_workspace = ws
    return demo


class Turn:
    """What one handler call changes: the chat history, the plan, the pending review, the SKU, a published pack."""

    def __init__(self, thread_id, history, plan, review, sku=None):
        self.thread_id = thread_id or uuid.uuid4().hex
        self.history = list(history or [])
        self.plan, self.review, self.sku, self.published = plan, review, sku, None


def _lazy(start):
    """Events from `start()`, raised errors included, so that apply_events reports them in the chat."""
    yield from start()


def review_decisions(review: dict, marks: dict, note: str) -> list[dict]:
    """Card marks -> StudioAgent.resume decisions.

    Reject with a change request typed becomes "change" (the shot is re-planned with the request); Regenerate
    is always "change"; approving a flagged candidate carries the typed note as the reason.
    """
    verdicts = {c["id"]: c.get("verdict") for c in review.get("candidates", [])}
    decisions = []
    for cid, mark in marks.items():
        if cid not in verdicts:  # a mark left from an earlier review
            continue
        action = mark["action"]
        if action == "reject" and note:
            action = "change"
        if action == "approve":
            text = note if verdicts.get(cid) != "pass" else ""
        elif action == "change":
            text = note or "another variation"
        else:
            text = ""
        decisions.append({"candidate_id": cid, "action": action, "note": text})
    return decisions


def decisions_summary(decisions: list[dict], note: str) -> str:
    words = {"approve": "approved", "reject": "rejected", "change": "to redo"}
    counts = [(words[a], sum(1 for d in decisions if d["action"] == a)) for a in words]
    text = ", ".join(f"{n} {w}" for w, n in counts if n)
    return f"Decisions: {text}" + (f" — change request: “{note}”" if note else "")


def plan_channel(plan: dict | None) -> str | None:
    """The first channel a plan targets (the publish picker's default)."""
    for shot in (plan or {}).get("shots", []):
        if shot.get("channel"):
            return shot["channel"]
    return None


def _marker(candidate_id: str, action: str):
    """A click handler that marks (or unmarks) one candidate with an action."""

    def mark(marks: dict) -> dict:
        marks = dict(marks or {})
        if marks.get(candidate_id, {}).get("action") == action:
            marks.pop(candidate_id)
        else:
            marks[candidate_id] = {"action": action}
        return marks

    return mark


def theme():
    import gradio as gr

    return gr.themes.Default(primary_hue="indigo", secondary_hue="amber", neutral_hue="slate",
                             font=["ui-sans-serif", "system-ui", "sans-serif"],
                             font_mono=["ui-monospace", "Consolas", "monospace"])


def serve(settings: Settings, host: str = "127.0.0.1", port: int = 7860, *, block: bool = True):
    """Check the bind, build the app and launch it. Blocks until stopped unless `block=False` (returns the app)."""
    # 1. Refuse an exposed bind without credentials before anything starts.
    credentials = check_bind(settings, host)
    if not 0 < int(port) < 65536:
        raise BadInput(f"port must be 1..65535, got {port}")
    os.environ["GRADIO_ANALYTICS_ENABLED"] = "False"

    # 2. Build and launch.
    demo = build_app(settings)
    demo.queue(default_concurrency_limit=2)
    demo.launch(server_name=host, server_port=int(port), auth=credentials, prevent_thread_lock=True,
                allowed_paths=demo.listing_studio_paths, theme=theme(), css=CSS, footer_links=[],
                show_error=False, quiet=True, ssr_mode=False, pwa=False, mcp_server=False,
                enable_monitoring=False)
    if block:
        print(f"Listing Studio is running on http://{host}:{port} (press Ctrl+C to stop)", file=sys.stderr)
        demo.block_thread()
    return demo
