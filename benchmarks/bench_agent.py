"""The agent benchmark, in two parts.

1. Reading: the chat messages of tests/data/chat_messages.jsonl (sellers, marketing, support, typed the way
   people type) through the functions the graph's nodes call - intent routing, the offline brief reader,
   the rules' plan, plan edits against a standing plan, catalog questions, review words. Reports intent
   accuracy, per-field accuracy and exact match per group, on the half the rules were chosen on ("rules")
   and on the half kept for confirming them ("confirm"), and on each later held-out set (HELDOUT; their first
   runs, before the fixes of their round, are in tests/data/chat_first_runs.json). Targets: intent >= 95 %,
   exact match >= 85 % overall and >= 75 % for marketing edits, variant counts >= 90 %. `--calibrate` also
   chooses the "two intents are close, ask" margin on the dev half of the labelled messages, confirmed on the rest.
2. Overhead: the wall time of a turn through the real compiled graph (SQLite checkpoints, catalog writes,
   routing, state (de)serialization, events) minus the time spent inside photo intake (cutout) and shot
   production (render + vision check), as median and p90, with the CPU time beside it and the load average.
   Target: median <= 50 ms per turn.

Run: `.venv/bin/python -m benchmarks.bench_agent [--turns N] [--reading-only] [--show-misses] [--calibrate]`.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

TARGET_MS = 50.0
MESSAGES = Path(__file__).resolve().parents[1] / "tests" / "data" / "chat_messages.jsonl"
FRESH = MESSAGES.with_name("chat_messages_fresh.jsonl")  # written after the rules, measured once before any fix
# Later held-out sets (heldout-d by another author), each written before the fixes of its round and first measured as it was written:
# {split name: file}. Their first-run figures, the honest unseen figures, are kept in tests/data/chat_first_runs.json.
HELDOUT = {"fresh": FRESH, "heldout-a": MESSAGES.with_name("chat_messages_heldout_a.jsonl"),
           "heldout-b": MESSAGES.with_name("chat_messages_heldout_b.jsonl"),
           "heldout-c": MESSAGES.with_name("chat_messages_heldout_c.jsonl"),
           "heldout-d": MESSAGES.with_name("chat_messages_heldout_d.jsonl")}
TARGETS = {"intent": 0.95, "exact": 0.85, "exact marketing edits": 0.75, "variant counts": 0.90}


def load_messages(path: Path = MESSAGES, fresh: Path | None = None, heldout: dict[str, Path] | None = None) -> list[dict]:
    """The message set; every other line is in the "rules" half, the rest in the "confirm" half; the lines of
    `fresh` (written after the rules were chosen) are the "fresh" split, and each file of `heldout` its own
    split."""
    import json

    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    for i, row in enumerate(rows):
        row["split"] = "rules" if i % 2 == 0 else "confirm"
        row["n"] = i + 1
    extra = dict(heldout or {})
    if fresh is not None:
        extra.setdefault("fresh", fresh)
    for split, file in extra.items():
        if not file.is_file():
            continue
        for line in file.read_text(encoding="utf-8").splitlines():
            if line.strip():
                rows.append(json.loads(line) | {"split": split, "n": len(rows) + 1})
    return rows


def _tokens(shots, with_counts: bool = False) -> list[str]:
    from tools.plan import shot_aspect

    out = []
    for s in shots:
        token = f"campaign:{shot_aspect(s)}" if s.role.value == "campaign" else s.role.value
        out.append(f"{token}x{s.count}" if with_counts else token)
    return sorted(out)


def base_plans():
    """The standing plans edits are applied to: a ring for Amazon (plan), and the same with 9:16 and 1:1 (plan2)."""
    from tools.models import Brief, Category, Channel, Product
    from tools.rules import plan_gallery

    ring = Product(sku="RING-1", category=Category.ring)
    plan = plan_gallery(ring, Brief(channels=[Channel.amazon]), [Channel.amazon])
    plan2 = plan_gallery(ring, Brief(channels=[Channel.amazon], aspect_ratios=["4:5", "9:16", "1:1"]), [Channel.amazon])
    return {"plan": plan, "plan2": plan2}


def _singular(word: str) -> str:
    word = (word or "").lower().strip()
    return word[:-1] if word.endswith("s") and not word.endswith(("ss", "sses")) and word != "sunglasses" else word


def check_message(row: dict, plans: dict) -> dict:
    """One message through the readers; returns {field: (expected, got, ok)}."""
    from agent.offline.intents import (
        ROUTES,
        campaign_additions,
        parse_plan_edit,
        parse_question,
        parse_review_words,
        read_intent,
        review_plan_edit,
    )
    from agent.offline.reader import read_brief
    from tools.models import Category, Product
    from tools.plan import apply_edit
    from tools.rules import plan_gallery

    text, ctx = row["text"], row["ctx"]
    fields: dict[str, tuple] = {}
    if ctx == "review":
        plan = plans["plan"]
        by_role: dict[str, list[str]] = {}
        ids = []
        for i, shot in enumerate(plan.shots):
            cid = f"cand_{i:012d}"
            ids.append(cid)
            by_role.setdefault(shot.role.value, []).append(cid)
        if review_plan_edit(text, plan) is not None:
            words, kind = None, "plan_edit"
        else:
            words = parse_review_words(text, ids, by_role)
            kind = ("approve_all" if words.approve_passing else "reject_all" if words.reject_all
                    else "change" if words.change else "none")
        exp = row["decision"]
        fields["decision"] = (exp["kind"], kind, exp["kind"] == kind)
        if exp["kind"] == "change" and words is not None:
            want = sorted(c for r in exp["roles"] for c in by_role.get(r, [])) or sorted(ids)
            fields["decision targets"] = (exp["roles"], sorted(words.change), sorted(words.change) == want)
        return fields

    has_plan = ctx in ("plan", "plan2")
    reading = read_intent(text, has_plan=has_plan, has_images=ctx == "photo")
    intent = "clarify" if reading.question else reading.intent  # a question instead of an answer counts as a miss
    fields["intent"] = (row["intent"], intent, ROUTES.get(intent) == ROUTES[row["intent"]])
    if "brief" in row:
        brief = read_brief(text)
        got = brief.model_dump(mode="json")
        for key, want in row["brief"].items():
            if key in ("width_mm", "height_mm", "depth_mm", "inner_diameter_mm"):
                value = got["dimensions"][key]
                ok = (value is None and want is None) or (value is not None and want is not None and abs(value - want) <= 0.1)
            elif key == "notes_contains":
                value = got["notes"]
                ok = want in value
            elif key == "product_type":
                value = got["product_type"]
                ok = _singular(value) == _singular(want)
            elif key in ("channels", "roles", "exclude_roles", "aspect_ratios"):
                value = got[key]
                ok = sorted(value) == sorted(want)
            else:
                value = got[key]
                ok = value == want
            fields[key] = (want, value, ok)
        if "plan" in row:
            product = Product(sku="X-1", category=brief.category or Category.other)
            plan = plan_gallery(product, brief, brief.channels)
            got_tokens = _tokens(plan.shots)
            fields["plan roles"] = (sorted(row["plan"]), got_tokens, got_tokens == sorted(row["plan"]))
    if "edit" in row:
        plan = plans[ctx]
        edit = parse_plan_edit(text, plan)
        if row["intent"] == "campaign" or intent == "campaign":
            edit = campaign_additions(text, edit)
        try:
            result = apply_edit(plan, edit)
            after, new = _tokens(result.plan.shots), _tokens([s for s in result.plan.shots if s.id in result.to_render], True)
        except Exception as exc:  # an edit that cannot apply is a miss, not a crash of the benchmark
            after, new = [f"error: {exc}"], []
        fields["edit plan"] = (sorted(row["edit"]["after"]), after, after == sorted(row["edit"]["after"]))
        fields["edit new shots"] = (sorted(row["edit"]["new"]), new, new == sorted(row["edit"]["new"]))
    if "question" in row:
        q = parse_question(text)
        exp = row["question"]
        got_q = {"kind": q.kind, "sku": q.sku, "role": q.role.value if q.role else None}
        ok = all(got_q.get(k) == v for k, v in exp.items())
        fields["question"] = (exp, got_q, ok)
    return fields


def reading_report(rows: list[dict], show_misses: bool = False) -> tuple[str, dict]:
    """The reading table per split and group, and the headline numbers per split."""
    plans = base_plans()
    results = [(row, check_message(row, plans)) for row in rows]
    lines, headline = [], {}
    for split in ("rules", "confirm", *HELDOUT, "all"):
        chosen = [(r, f) for r, f in results if split == "all" or r["split"] == split]
        if not chosen:
            continue
        intents = [f["intent"][2] for _, f in chosen if "intent" in f]
        exact = [all(v[2] for v in f.values()) for _, f in chosen]
        edits = [all(v[2] for v in f.values()) for r, f in chosen if r["group"] == "marketing" and "edit" in r]
        counts = [f[k][2] for _, f in chosen for k in f if k in ("count", "campaign_count", "edit new shots")]
        numbers = {"intent": sum(intents) / len(intents), "exact": sum(exact) / len(exact),
                   "exact marketing edits": sum(edits) / max(1, len(edits)), "variant counts": sum(counts) / max(1, len(counts))}
        headline[split] = numbers
        lines.append(f"\n[{split}] {len(chosen)} messages: intent {sum(intents)}/{len(intents)} ({numbers['intent']:.0%}), "
                     f"exact {sum(exact)}/{len(exact)} ({numbers['exact']:.0%}), marketing edits exact {sum(edits)}/{len(edits)} "
                     f"({numbers['exact marketing edits']:.0%}), variant counts {sum(counts)}/{len(counts)} "
                     f"({numbers['variant counts']:.0%})")
        for group in ("seller", "marketing", "support"):
            g = [all(v[2] for v in f.values()) for r, f in chosen if r["group"] == group]
            lines.append(f"  {group:<10} exact {sum(g)}/{len(g)} ({sum(g) / max(1, len(g)):.0%})")
        per_field: dict[str, list[bool]] = {}
        for _, f in chosen:
            for k, v in f.items():
                per_field.setdefault(k, []).append(v[2])
        lines.append("  per field: " + ", ".join(f"{k} {sum(v)}/{len(v)}" for k, v in sorted(per_field.items())))
    if show_misses:
        lines.append("\nmisses:")
        for row, f in results:
            for k, (want, got, ok) in f.items():
                if not ok:
                    lines.append(f"  #{row['n']} [{row['split']}] {row['text']!r}: {k}: expected {want!r}, got {got!r}")
    for name, target in TARGETS.items():
        lines.append(f"target {name} >= {target:.0%}: rules {headline['rules'][name]:.0%}, "
                     f"confirm {headline['confirm'][name]:.0%} -> "
                     f"{'OK' if min(headline['rules'][name], headline['confirm'][name]) >= target else 'MISSED'}")
    return "\n".join(lines), headline


class Spans:
    """Wall-clock intervals spent inside wrapped tool calls (parallel branches overlap: the union counts), and
    the CPU time of the calling threads inside them (`cpu`)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.intervals: list[tuple[float, float]] = []
        self.cpu = 0.0

    def wrap(self, fn):
        def timed(*args, **kwargs):
            start, cpu = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                with self.lock:
                    self.intervals.append((start, time.perf_counter()))
                    self.cpu += time.thread_time() - cpu
        return timed

    def take_cpu(self) -> float:
        with self.lock:
            cpu, self.cpu = self.cpu, 0.0
        return cpu

    def take(self) -> float:
        """Seconds covered by the recorded intervals (their union), then reset."""
        with self.lock:
            intervals, self.intervals = sorted(self.intervals), []
        total, end = 0.0, float("-inf")
        for a, b in intervals:
            if b <= end:
                continue
            total += b - max(a, end)
            end = b
        return total


def intent_margins(rows: list[dict], rules: bool = True) -> list[dict]:
    """Every labelled intent message that the similarity model decides (the rules do not settle it), with the
    margin between its two closest routes: the labelled examples of prompts/chat/intents.toml (each measured
    with itself left out; even ones "dev", odd ones "held-out") and the message set's rows (the "rules" half
    "dev", all others "held-out"). `rules=False` silences the word rules: every message is decided by meaning
    alone, the case the margin exists for (the rules settle most messages, leaving too few to choose on)."""
    from agent.offline.intents import (
        MIN_SIMILARITY,
        ROUTES,
        SETTLED,
        _second,
        _similarity,
        combine,
        intent_examples,
        rule_scores,
    )
    from agent.offline.reader import find_skus
    from agent.offline.words import normalize

    items = []
    for label, texts in intent_examples()["examples"].items():
        for i, text in enumerate(texts):
            items.append({"text": text, "label": label, "has_plan": label not in ("gallery", "question"),
                          "half": "dev" if i % 2 == 0 else "held-out", "exclude": text})
    for row in rows:
        if "intent" in row and row["ctx"] != "photo":  # a photo settles the gallery by rule
            items.append({"text": row["text"], "label": row["intent"], "has_plan": row["ctx"] in ("plan", "plan2"),
                          "half": "dev" if row["split"] == "rules" else "held-out", "exclude": None})
    out = []
    for item in items:
        text = normalize(item["text"])
        scores = rule_scores(text.lower().strip(), has_plan=item["has_plan"], has_images=False,
                             names_sku=bool(find_skus(text)))
        if not rules:
            scores = dict.fromkeys(scores, 0.0)
        best = max(scores, key=scores.get)
        top = sorted(scores.values(), reverse=True)
        if rules and top[0] >= SETTLED and (top[1] < top[0] or ROUTES[best] == ROUTES[_second(scores, best)]):
            continue  # settled by the rules: the margin plays no part
        sims = _similarity.scores(text, exclude=item["exclude"])
        if sims is None or max(sims.values()) < MIN_SIMILARITY:
            continue
        first, second, combined = combine(scores, sims, has_plan=item["has_plan"])
        want = ROUTES[item["label"]]
        out.append(item | {"margin": combined[first] - combined[second], "right": ROUTES[first] == want,
                           "offered": want in (ROUTES[first], ROUTES[second]), "first": first, "second": second})
    return out


def margin_cost(decisions: list[dict], margin: float, question: float = 0.5) -> tuple[float, int, int, int]:
    """(cost, wrong routes taken, questions asked, questions that saved a wrong route) for one margin: a wrong
    route costs 1, a question `question` (1 when it does not even offer the right route)."""
    cost, wrong, asked, saved = 0.0, 0, 0, 0
    for d in decisions:
        if d["margin"] < margin:
            asked += 1
            saved += not d["right"] and d["offered"]
            cost += question if d["offered"] else 1.0
        elif not d["right"]:
            wrong += 1
            cost += 1.0
    return cost, wrong, asked, saved


def calibrate(rows: list[dict]) -> str:
    """The "two intents are close, ask" margin chosen on the dev half, confirmed on the held-out half."""
    from agent.offline.intents import CLOSE

    grid = [i / 200 for i in range(0, 61)]
    lines = []
    chosen = None
    for rules in (False, True):
        decisions = intent_margins(rows, rules=rules)
        dev = [d for d in decisions if d["half"] == "dev"]
        held = [d for d in decisions if d["half"] == "held-out"]
        what = "with the word rules (the path in use)" if rules else "by meaning alone (rules silenced)"
        lines.append(f"intent margin, {what}: {len(decisions)} labelled messages decided by similarity ({len(dev)} dev, "
                     f"{len(held)} held-out); cost = wrong route 1, question 0.5")
        if not rules:
            chosen = min(grid, key=lambda m: (margin_cost(dev, m)[0], m))
            for q in (0.25, 0.33):  # how the choice moves when a question is cheaper than half a wrong route
                m = min(grid, key=lambda m: (margin_cost(dev, m, q)[0], m))
                lines.append(f"  question cost {q}: dev chooses {m:.3f}: dev {margin_cost(dev, m, q)[:3]}, "
                             f"held-out {margin_cost(held, m, q)[:3]} vs never asking {margin_cost(held, 0.0, q)[:3]}")
        for name, part in (("dev", dev), ("held-out", held)):
            wrong = sorted(round(d["margin"], 3) for d in part if not d["right"])
            lines.append(f"  {name}: {len(wrong)} wrong routes, their margins {wrong[:12]}")
        for m in sorted({0.0, CLOSE, chosen}):
            for name, part in (("dev", dev), ("held-out", held)):
                cost, wrong, asked, saved = margin_cost(part, m)
                lines.append(f"  margin {m:.3f} {name:<8}: cost {cost:.1f}, wrong {wrong}, asked {asked} (saved {saved})")
        if rules:
            for d in decisions:
                if not d["right"]:
                    lines.append(f"  wrong: [{d['half']}] {d['text']!r}: {d['first']} over {d['second']}, "
                                 f"label {d['label']}, margin {d['margin']:.3f}")
    lines.append(f"chosen on the dev half (meaning alone): margin {chosen:.3f} (in use: {CLOSE})")
    return "\n".join(lines)


def _p90(values: list[float]) -> float:
    return statistics.quantiles(values, n=10)[-1] if len(values) > 1 else values[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_agent", description=__doc__)
    parser.add_argument("--turns", type=int, default=8, help="conversations per turn kind (default 8)")
    parser.add_argument("--reading-only", action="store_true", help="only the message-reading part")
    parser.add_argument("--show-misses", action="store_true", help="list every field read wrong")
    parser.add_argument("--calibrate", action="store_true", help="choose the intent-ambiguity margin on the dev half")
    args = parser.parse_args(argv)

    # 0. Reading: the message set
    messages = load_messages(heldout=HELDOUT)
    text, headline = reading_report(messages, show_misses=args.show_misses)
    print(f"chat messages read offline ({len(messages)} messages, {MESSAGES.name})" + text)
    if args.calibrate:
        print(calibrate(messages))
    reading_ok = all(min(headline["rules"][k], headline["confirm"][k]) >= t for k, t in TARGETS.items())
    if args.reading_only:
        return 0 if reading_ok else 1

    import tools.prepare
    import tools.production
    from agent.runner import StudioAgent
    from tools.demo import demo_photo_bytes
    from tools.settings import Settings
    from tools.workspace import Workspace

    # 1. A fresh home; the expensive tools are timed so their time can be taken out
    spans = Spans()
    tools.production.produce_shot = spans.wrap(tools.production.produce_shot)
    tools.prepare.ingest_product = spans.wrap(tools.prepare.ingest_product)
    home = Path(tempfile.mkdtemp(prefix="bench-agent-")) / "home"
    ws = Workspace.open(Settings.from_env({}, home=home, max_rerenders=0))
    photo = home.parent / "ring.jpg"
    photo.write_bytes(demo_photo_bytes("DEMO-RING"))
    agent = StudioAgent(ws)

    kinds = {
        "gallery (intake, plan, 3 branches, review)":
            lambda t: agent.send(t, "gold ring for etsy, warm mood, 1 variant each, no campaign, no try-on",
                                 images=[photo], sku=f"R-{t}"),
        "review decisions (approve all)": lambda t: agent.send(t, "approve all"),
        "plan edit (drop, add 1 campaign shot)":
            lambda t: agent.send(t, "drop the detail, add one 9:16 campaign shot with a winter mood"),
        "decisions on the edit (reject all)": lambda t: agent.send(t, "reject all"),
        "question (what's missing)": lambda t: agent.send(t, f"what's missing for R-{t}?"),
        "status": lambda t: agent.send(t, "status?"),
    }

    # 2. Warm up (imports, first connections), then time every kind of turn on N conversations
    for turn in kinds.values():
        for event in turn("warm"):
            assert event["type"] != "error", event
    spans.take()
    spans.take_cpu()
    rows = []
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in kinds}
    cpu_overheads: dict[str, list[float]] = {k: [] for k in kinds}
    load_before = os.getloadavg()
    for i in range(args.turns):
        thread = f"c{i}"
        for name, turn in kinds.items():
            start, cpu = time.perf_counter(), time.process_time()
            for event in turn(thread):
                assert event["type"] != "error", event
            total = time.perf_counter() - start
            results[name].append((total, spans.take()))
            cpu_overheads[name].append((time.process_time() - cpu - spans.take_cpu()) * 1000)
    load_after = os.getloadavg()

    # 3. Table
    overheads_all = []
    for name, samples in results.items():
        totals = [t * 1000 for t, _ in samples]
        tools_ms = [s * 1000 for _, s in samples]
        overhead = [(t - s) * 1000 for t, s in samples]
        overheads_all += overhead
        rows.append((name, statistics.median(totals), statistics.median(tools_ms), statistics.median(overhead),
                     max(overhead)))
    print(f"agent graph overhead per turn ({args.turns} conversations, SQLite checkpoints, studio engine)")
    print(f"{'turn':<46} {'total ms':>9} {'tools ms':>9} {'overhead ms':>12} {'max ms':>8} {'CPU ovh ms':>11}")
    for name, total, tool_ms, over, worst in rows:
        print(f"{name:<46} {total:>9.1f} {tool_ms:>9.1f} {over:>12.1f} {worst:>8.1f} "
              f"{statistics.median(cpu_overheads[name]):>11.1f}")
    median = statistics.median(overheads_all)
    cpu_all = [c for values in cpu_overheads.values() for c in values]
    ok = median <= TARGET_MS
    print(f"{len(overheads_all)} turns; load average {load_before[0]:.2f} before, {load_after[0]:.2f} after")
    print(f"overhead per turn, wall: median {median:.1f} ms, p90 {_p90(overheads_all):.1f} ms; CPU (all threads of the "
          f"process minus the tool calls' own threads): median {statistics.median(cpu_all):.1f} ms, p90 "
          f"{_p90(cpu_all):.1f} ms")
    print(f"median overhead over all turns: {median:.1f} ms (target <= {TARGET_MS:.0f} ms): {'OK' if ok else 'MISSED'}")
    ws.close()
    return 0 if ok and reading_ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
