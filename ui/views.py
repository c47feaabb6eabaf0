"""What the chat app shows, as text: plans, cards, checks, the approved page, chat messages in seller words.

Pure functions over plain data (event dicts, tool results); no Gradio, no catalog. `seller_words` is the
last filter before anything reaches the page: no command lines, ids or server paths; `as_text` shows what
a user typed as text (never as HTML or markdown).
"""

from __future__ import annotations

import re
from html import escape
from pathlib import Path

from tools.coverage import ROLE_WORDS, SLOT_WORDS, shot_words
from tools.rules import ADD_MODEL_PHOTO

STATUS = {"running": "pending", "done": "done", "failed": "done"}
SLOT_ORDER = ("grid", "hero", "gallery_2", "gallery_3", "campaign")
CHANGE_EXAMPLES = "“warmer”, “more space”, “softer shadow”"  # words tools.looks reads as changes
PLATE_PARTS = {"hand": "a hand", "neck": "a neckline", "ear": "an ear", "wrist": "a wrist", "scene": "a scene"}

_COMMAND = re.compile(r"\s*\(?(?:[:;,]\s*)?(?:(?:add|register|list|approve|reject)\s+(?:one|them|candidates|those "
                      r"images)?\s*)?(?:with\s+)?`listing-studio ([a-z]+)\s*([^`]*)`\)?")
_CANDIDATE = re.compile(r"\bcand_[0-9a-f]{6,}\b")
_PATH = re.compile(r"(?<![\w.:/])(?:~|/)(?:[\w.\-]+/)+([\w.\-]+)")
# engine and colour-science detail: "(Lanczos + mild sharpening)", "warmth (b*)"
_RESAMPLING = re.compile(r"\s*\((?:(?:Lanczos|bicubic|bilinear|nearest)\b[^)]*|[Lab]\*)\)", re.IGNORECASE)
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|~>])")


def _app_advice(command: str, args: str) -> str:
    """The app's words for what a command-line hint asked for."""
    kind = re.search(r"--kind\s+(\w+)", args)
    if command == "plate":
        part = PLATE_PARTS.get(kind.group(1), "a model") if kind else "a model"
        return f": a try-on needs a model photo of {part} with the model's consent: {ADD_MODEL_PHOTO}"
    if command == "review":
        return ": approve images in the review first"
    if command == "gallery":
        return ": upload a photo of the product with your message"
    return ""


def seller_words(text: str, names: dict[str, str] | None = None) -> str:
    """Text from the agent or a tool as a seller should read it.

    Command lines become what to do in the app, candidate ids become the image's name (`names`: id -> "the
    main image") or "an image", server paths become the file's name, and the engine's resampling method goes.
    """
    text = _COMMAND.sub(lambda m: _app_advice(m.group(1), m.group(2)), str(text))
    for cid, name in (names or {}).items():
        text = text.replace(cid, name)
    text = _CANDIDATE.sub("an image", _RESAMPLING.sub("", text))
    return _PATH.sub(lambda m: m.group(1), text)


def as_text(text: str) -> str:
    """What a user typed, shown literally in a markdown chat: HTML escaped, markdown characters escaped."""
    return _MARKDOWN.sub(r"\\\1", escape(str(text), quote=False))


def safe(text: str, names: dict[str, str] | None = None) -> str:
    """Agent or tool text for the page: seller words, with any HTML it carries shown as text."""
    return escape(seller_words(text, names), quote=False)


def role_word(role: str) -> str:
    return ROLE_WORDS.get(role, role.replace("_", " "))


def shot_label(shot: dict) -> str:
    """"Main image (Amazon, search grid)"."""
    word = role_word(shot.get("role", "")).capitalize()
    where = SLOT_WORDS.get(shot.get("slot") or "", shot.get("slot") or "")
    where = "" if where.lower() in word.lower() else where  # "Campaign image", not "Campaign image (campaign)"
    channel = (shot.get("channel") or "").capitalize()
    detail = ", ".join(p for p in (channel, where) if p)
    return f"{word} ({detail})" if detail else word


def plan_markdown(plan: dict | None) -> str:
    """A GalleryPlan (JSON) as a numbered list a seller can read (shown once, in the Plan panel)."""
    if not plan or not plan.get("shots"):
        return "<span class='ls-empty'>No plan yet. Upload a photo and say what you need.</span>"
    lines = [f"**Plan for {escape(plan.get('sku', ''))}**: {len(plan['shots'])} images"]
    for number, shot in enumerate(plan["shots"], 1):
        size = f"{shot.get('width')}×{shot.get('height')}" if shot.get("width") else ""
        change = (shot.get("scene") or "").rsplit("change: ", 1)[1] if "change: " in (shot.get("scene") or "") else ""
        extra = " · ".join(x for x in (size, shot.get("mood") or "", f"change: {change}" if change else "") if x)
        count = shot.get("count", 1)
        lines.append(f"{number}. **{shot_label(shot)}**, {count} version{'s' if count != 1 else ''}"
                     + (f" · {as_text(extra)}" if extra else ""))
    notes = plan.get("notes") or []
    if notes:  # folded: on a phone three paragraphs of notes push the review far down
        lines.append(f"\n<details class='ls-plan-notes'><summary>Notes on this plan ({len(notes)})</summary>"
                     + "".join(f"<p>{safe(note)}</p>" for note in notes) + "</details>")
    return "\n".join(lines)


def plan_line(plan: dict) -> str:
    """The chat's one line about a new plan (the list itself is in the Plan panel)."""
    shots = plan.get("shots") or []
    kinds = ", ".join(dict.fromkeys(role_word(s.get("role", "")) for s in shots))
    return f"Planned {len(shots)} images for **{escape(plan.get('sku', ''))}**: {kinds}. The list is under Plan."


def verdict_badge(verdict: str | None) -> str:
    if verdict == "pass":
        return "<span class='ls-badge ls-pass'>✓ matches your photo</span>"
    if verdict == "fail":
        return "<span class='ls-badge ls-fail'>✗ differs from your photo</span>"
    return "<span class='ls-badge'>not checked</span>"


def note_headline(text: str) -> str:
    """The first clause of a check's reason or warning: what a card shows before it is opened."""
    text = re.sub(r"^(?:warning|note)\s*:\s*", "", str(text).strip(), flags=re.IGNORECASE)
    head = re.split(r"[:;(]|, so | because ", text, maxsplit=1)[0].strip(" ,.")
    return head[:1].upper() + head[1:] if head else text


_ENLARGED = re.compile(r"enlarg\w*\s+(?:by\s+)?(\d+(?:\.\d+)?)\s*[x×]", re.IGNORECASE)


def cutout_hint(reasons) -> str | None:
    """The review's pointer to the cutout strokes (HTML), worded for what the cards say of the cutout: a part
    lost, or a hole or gap filled with the photo's background; None when no card says either."""
    texts = [str(r) for r in reasons]
    if any("may be missing" in text for text in texts):
        what = "may have lost part of the product"
    elif any("filled a hole or a gap" in text for text in texts):
        what = "may have filled a hole or a gap with the photo's background"
    else:
        return None
    return (f"⚠ The cutout {what}. <a href='#cutout-box'>Fix it with two strokes</a> under <b>The product's "
            "cutout</b>: the images waiting here are made again from it.")


def card_notes(reasons: list[str], warnings: list[str]) -> list[tuple[str, str, str]]:
    """(kind, headline, full text) for a card: the check's reasons, then warnings, one per concern.

    Two warnings about the same enlargement (the engine's and the check's) are one concern on a card, and
    its headline is just the factor ("Enlarged 1.3×"): the sentence opens under it. So are the cutout's and
    the image's own "part of the product may be missing": one headline, both sentences under it."""
    notes: list[list[str]] = []
    index: dict[str, int] = {}
    for kind, texts in (("reason", reasons), ("warning", warnings)):
        for text in texts or []:
            text = str(text)
            key = ("enlarged" if "enlarg" in text else "missing" if "may be missing" in text
                   else note_headline(text).lower())
            if key in index:
                if key == "missing":
                    notes[index[key]][2] += " " + _sentence(text)
                continue
            index[key] = len(notes)
            factor = _ENLARGED.search(text)
            headline = (f"Enlarged {float(factor.group(1)):.1f}×" if factor
                        else "Part of the product may be missing" if key == "missing" else note_headline(text))
            notes.append([kind, headline, _sentence(text) if key == "missing" else text])
    return [tuple(note) for note in notes]


def _sentence(text: str) -> str:
    """A reason as a sentence: capitalised, ending with a full stop."""
    text = _unprefixed(text).strip()
    return (text[:1].upper() + text[1:]).rstrip(".") + "."


def card_html(candidate: dict, warnings: list[str] | None = None) -> str:
    """Verdict, then each reason and warning as a one-line headline that opens to its full text."""
    html = verdict_badge(candidate.get("verdict"))
    passed = candidate.get("verdict") == "pass"
    for kind, headline, full in card_notes(candidate.get("reasons") or [], warnings or []):
        # a passing image's reasons are what the check noted, not why it failed: warnings, marked as such
        failed = kind == "reason" and not passed
        css = "ls-reason" if failed else "ls-warning"
        mark = "" if failed else "⚠ "
        body = f"<div>{safe(full)}</div>" if full.strip().rstrip(".").lower() != headline.lower() else ""
        html += (f"<details class='{css}'><summary>{mark}{safe(headline)}</summary>{body}</details>"
                 if body else f"<div class='{css}'>{mark}{safe(headline)}</div>")
    return html


def view_decisions_html(candidate_id: str) -> str:
    """The large view's Approve / Reject / Change: each sets the decision on the image's own card (the page's
    script, ui.app.PAGE_JS), so a decision made here is sent with the others by Send decisions."""
    cid = escape(candidate_id, quote=True)
    buttons = "".join(f"<button type='button' class='ls-view-pick' data-cid='{cid}' data-action='{action}'>{label}</button>"
                      for label, action in (("Approve", "approve"), ("Reject", "reject"), ("Change…", "change")))
    return f"<div class='ls-view-decide'><span>Your decision:</span>{buttons}</div>"


def checks_markdown(detail: dict) -> str:
    """The large view's checks: every check in plain words, failed ones first; each concern once. A passing
    check whose concern a warning also raises (an enlargement) gives way to the warning, which says what to
    do; a warning that a check already says is not repeated."""
    checks = sorted(detail.get("checks") or [], key=lambda c: c["passed"])
    if not checks:
        return "_This image has not been checked yet._"
    warnings = [_unprefixed(w) for w in detail.get("warnings") or []]
    warned = {_concern(w) for w in warnings}
    lines, said = [], set()
    for check in checks:
        message = _unprefixed(check.get("message") or check["name"].replace("_", " "))
        if check["passed"] and not check.get("warning") and _concern(message) in warned:
            continue
        mark = "⚠" if check["passed"] and check.get("warning") else "✓" if check["passed"] else "✗"
        said.add(_concern(message))
        lines.append(f"- {mark} {safe(message)}")
    for warning in warnings:
        if _concern(warning) not in said:
            said.add(_concern(warning))
            lines.append(f"- ⚠ {safe(warning)}")
    return "\n".join(lines)


def _unprefixed(text: str) -> str:
    """A check's message without the "warning: " its mark already says."""
    text = str(text)
    return text[len("warning: "):] if text.lower().startswith("warning: ") else text


def _concern(text: str) -> str:
    """What a sentence is about, to say it once: an enlargement, or the sentence itself."""
    return "enlarged" if "enlarg" in text.lower() else text.strip().rstrip(".").lower()


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
    return [(shot_label(shots.get(k, {"role": groups[k][0].get("role", "")})), groups[k]) for k in keys]


def candidate_names(payload: dict | None, plan: dict | None) -> dict[str, str]:
    """candidate id -> "the main image (version 2)", to name candidates in messages."""
    names = {}
    for title, group in group_by_shot(payload, plan):
        for number, cand in enumerate(group, 1):
            label = (title[:1].lower() + title[1:]) or "image"
            names[cand["id"]] = f"the {label}" + (f", version {number}" if len(group) > 1 else "")
    return names


def review_decisions(review: dict, marks: dict) -> tuple[list[dict], list[str]]:
    """Card marks {id: {"action", "note"}} -> (StudioAgent.resume decisions, problems to fix first).

    A note typed without a choice asks for a change. "Change" without words is asked back on that card and
    nothing is sent: re-making the image unchanged would only pretend to act on it. Approving a flagged image
    needs a note saying why (a person overriding the check).
    """
    by_id = {c["id"]: c for c in review.get("candidates", [])}
    names = candidate_names(review, None)
    decisions, problems = [], []
    for cid, mark in marks.items():
        if cid not in by_id:  # a mark left from an earlier review
            continue
        note = (mark.get("note") or "").strip()
        action = mark.get("action") or ("change" if note else None)
        if action is None:
            continue
        if action == "approve" and by_id[cid].get("verdict") != "pass" and not note:
            problems.append(f"{names.get(cid, 'an image').capitalize()} differs from your photo: say in its box why "
                            "you approve it anyway.")
            continue
        if action == "change" and not note:
            problems.append(f"Say what to change on {names.get(cid, 'an image')}, in the box on its card (for example "
                            f"{CHANGE_EXAMPLES}), then press Send decisions again. Nothing was sent yet.")
            continue
        decisions.append({"candidate_id": cid, "action": action, "note": note})
    return decisions, problems


def decisions_summary(decisions: list[dict]) -> str:
    words = {"approve": "approved", "reject": "rejected", "change": "to change"}
    counts = [(words[a], sum(1 for d in decisions if d["action"] == a)) for a in words]
    text = ", ".join(f"{n} {w}" for w, n in counts if n)
    notes = [d["note"] for d in decisions if d["action"] == "change"]
    return f"Decisions: {text}" + "".join(f" — change: “{note}”" for note in dict.fromkeys(notes))


def progress_message(history: list, event: dict, names: dict[str, str] | None = None) -> None:
    """A progress event becomes a titled message; 'done'/'failed' close the open one with the same title."""
    title = safe(event.get("title") or "Working")
    status = event.get("status", "running")
    shown = title if status != "failed" else f"✗ {title}"
    text = safe(event.get("message") or "", names)
    if "done" in event and "total" in event and status == "running":
        text += f" ({event['done']}/{event['total']})"
    for message in reversed(history):
        meta = message.get("metadata") if isinstance(message, dict) else None
        if meta and meta.get("status") == "pending" and meta.get("id") == title:
            meta.update(status=STATUS.get(status, "done"), title=shown)
            if text:
                message["content"] = text
            return
    history.append({"role": "assistant", "content": text or title,
                    "metadata": {"title": shown, "id": title, "status": STATUS.get(status, "done")}})


def close_pending(history: list) -> None:
    for message in history:
        meta = message.get("metadata") if isinstance(message, dict) else None
        if meta and meta.get("status") == "pending":
            meta["status"] = "done"


def approved_caption(image: dict) -> str:
    slot = SLOT_WORDS.get(image.get("slot") or "", "")
    return f"{image['position'] + 1}. {role_word(image['role'])}" + (f" · {slot}" if slot else "")


def approved_markdown(preview: dict | None) -> str:
    """Under the approved page: what the channel will get, what it leaves out and why, what is not on the page yet
    (`pending`, from tools.coverage.pending_images), or why it cannot publish."""
    if not preview:
        return "<span class='ls-empty'>Approved images appear here, in the order the page will show them.</span>"
    channel = preview["channel"].capitalize()
    if not preview["ready"]:
        return f"**Not ready for {channel}:** {safe(preview['problem'] or '')}"
    count = len(preview["images"])
    images = f"{count} image{'s' if count != 1 else ''}"
    published = "this image published" if count == 1 else f"these {images} published, in this order"
    lines = [f"**{channel}** has {published}." if preview.get("published") else
             f"**{channel}** will get {images}, in this order."]
    for image in preview["images"]:
        if image.get("note"):
            lines.append(f"- {approved_caption(image)}: {safe(image['note'])}")
    for left in preview.get("skipped") or []:
        lines.append(f"- Left out, the {role_word(left.get('role', ''))}: {safe(left['reason'])}")
    for gap in preview.get("pending") or []:
        lines.append(f"- Not on the page yet, the {shot_words(gap['role'], gap.get('slot'))}: {safe(gap['reason'])}")
    for warning in preview.get("warnings") or []:
        lines.append(f"- ⚠ {safe(warning)}")
    return "\n".join(lines)


def published_text(result: dict) -> str:
    """The chat's line after a publish: what the download holds, nothing about server folders."""
    files = result.get("files") or []
    channel = (result.get("channel") or "").capitalize()
    lines = [f"Published {len(files)} image{'s' if len(files) != 1 else ''} for {channel}: the pack is ready to "
             "download below."]
    lines += [f"- {escape(f['name'])}" + (f" ({safe(f['note'])})" if f.get("note") else "") for f in files]
    lines += [f"- left out the {role_word(s.get('role', ''))}: {safe(s['reason'])}" for s in result.get("skipped") or []]
    return "\n".join(lines)


def file_label(path: str) -> str:
    return f"(photo) {escape(Path(path).name)}"
