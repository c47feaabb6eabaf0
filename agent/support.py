"""Support and closing nodes: catalog questions (coverage, SKUs lacking a role, search by description),
status, publishing approved candidates, and the reply that ends every turn.

Publishing writes only inside the home folder's exports; the folder is chosen here, never by a brief.
"""

from __future__ import annotations

from langgraph.runtime import Runtime

from agent.context import StudioContext
from agent.events import emit, progress, reply_event
from agent.offline.intents import parse_question
from agent.offline.reader import find_channels
from agent.state import StudioState
from tools.errors import ListingError
from tools.looks import role_words
from tools.models import Brief, Channel


def answer(state: StudioState, runtime: Runtime[StudioContext]) -> dict:
    """Answer a catalog question from the catalog and the index."""
    from tools.coverage import coverage_answer

    ws = runtime.context.ws
    question = parse_question(state.get("text", ""))
    try:
        if question.kind == "missing":
            sku = question.sku or state.get("sku")
            if not sku:
                return {"answer": "Which SKU? For example: what's missing for RING-001?"}
            return {"answer": coverage_answer(ws, sku)}
        if question.kind == "lacking_role":
            return {"answer": coverage_answer(ws, question.sku, role=question.role.value)}
        if question.kind == "find":
            from tools.index import find_products, sync_products

            progress("Looking through your products", "running")
            sync_products(ws)
            hits = [h for h in find_products(ws, question.query, k=5) if h["score"] > 0.2]
            progress("Looking through your products", "done", f"{len(hits)} match(es)")
            if not hits:
                return {"answer": f"I found nothing like \"{question.query}\" in the catalog."}
            lines = [f"- {h['sku']}: {h['title'] or h['category']} (match {h['score']:.2f})" for h in hits[:3]]
            return {"answer": f"Closest to \"{question.query}\":\n" + "\n".join(lines)}
    except ListingError as exc:
        return {"answer": str(exc)}
    products = ws.catalog.list_products()
    return {"answer": f"The catalog has {len(products)} product(s). Ask e.g. \"what's missing for SKU-123?\", "
                      "\"which SKUs have no try-on?\" or \"find the blue sapphire ring\"."}


def status(state: StudioState, runtime: Runtime[StudioContext]) -> dict:
    """Where this conversation stands."""
    sku = state.get("sku")
    if not sku or not state.get("plan"):
        return {"answer": "Nothing in progress yet: send a product photo and tell me what you need."}
    ws = runtime.context.ws
    plan = state["plan"]
    approved = ws.catalog.approved(sku)
    candidates = ws.catalog.candidates(sku)
    review = state.get("review") or {}
    pending = len(review.get("candidates", [])) if review else 0
    return {"answer": f"{sku}: plan v{plan.get('version', 1)} with {len(plan['shots'])} shot(s), "
                      f"{len(candidates)} candidate(s) rendered, {len(approved)} approved"
                      + (f", {pending} in the last review" if pending else "") + "."}


def publish(state: StudioState, runtime: Runtime[StudioContext]) -> dict:
    """Publish the approved candidates as channel packs into <home>/exports/<sku>/<channel>."""
    from tools.publish import pack_summary, publish_to_exports

    ws = runtime.context.ws
    sku = state.get("sku")
    if not sku:
        return {"answer": "Which product? Build a gallery first, then ask me to publish it."}
    brief = Brief.model_validate(state["brief"]) if state.get("brief") else None
    channels = find_channels(state.get("text", "")) or (brief.channels if brief else []) or [Channel.amazon]
    if not ws.catalog.approved(sku):
        return {"answer": f"{sku} has no approved images yet: approve some candidates first."}
    results, problems = [], []
    for channel in channels:
        progress(f"Publishing for {channel.value.capitalize()}", "running")
        try:
            result = publish_to_exports(ws, sku, channel.value)
        except ListingError as exc:
            problems.append(f"{channel.value}: {exc}")
            progress(f"Publishing for {channel.value.capitalize()}", "failed", str(exc))
            continue
        emit({"type": "published", "result": result})
        progress(f"Publishing for {channel.value.capitalize()}", "done", "\n".join(pack_summary(result)))
        results.append({"channel": channel.value, "folder": str(result["folder"]), "files": len(result["files"]),
                        "skipped": result.get("skipped") or []})
    text = "; ".join(f"{r['channel']}: {r['files']} file{'s' if r['files'] != 1 else ''}"
                     + (f" ({len(r['skipped'])} approved image{'s' if len(r['skipped']) != 1 else ''} left out: "
                        + "; ".join(s["reason"] for s in r["skipped"]) + ")" if r["skipped"] else "")
                     for r in results)
    if problems:
        text = (text + ". " if text else "") + "Not published: " + "; ".join(problems)
    return {"answer": text or "Nothing was published.", "published": results}


def reply(state: StudioState, runtime: Runtime[StudioContext]) -> dict:
    """End the turn with one reply that says what happened and what is next."""
    parts: list[str] = []
    if state.get("answer"):
        parts.append(state["answer"])
    elif state.get("decisions") and state.get("intent") in ("gallery", "change_plan", "campaign"):
        d = state["decisions"]
        parts.append(f"Recorded: {len(d.get('approved', []))} approved, {len(d.get('rejected', []))} rejected"
                     + (f", {len(d.get('changed', []))} to change" if d.get("changed") else "") + ".")
        parts += d.get("refused", [])
        if d.get("approved"):
            parts.append("Say \"publish\" when you want the channel packs.")
    elif state.get("ask"):
        parts.append(f"I still need something before I can start: {state['ask']}")
    elif state.get("plan") and state.get("intent") in ("gallery", "change_plan", "campaign"):
        review = state.get("review") or {}
        n = len(review.get("candidates", []))
        parts.append(f"Rendered {n} candidate(s) for {state['sku']}.")
    for failure in (state.get("review") or {}).get("failures", []):
        parts.append(f"The {role_words(failure['role'])} could not be made: {failure['error']}")
    notices = state.get("notices") or []
    if notices:
        parts.append("Note: " + "; ".join(notices))
    text = runtime.context.reader.phrase("\n".join(parts) or "Done.")
    reply_event(text)
    return {"messages": [{"role": "assistant", "text": text}], "answer": text}
