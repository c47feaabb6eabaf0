"""Agent graph overhead per turn, excluding the LLM and rendering: the wall time of a turn through the
real compiled graph (SQLite checkpoints, catalog writes, routing, state (de)serialization, events) minus
the time spent inside photo intake (cutout) and shot production (render + vision check).

Run: `.venv/bin/python -m benchmarks.bench_agent [--turns N]`. Target: median overhead <= 50 ms per turn.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

TARGET_MS = 50.0


class Spans:
    """Wall-clock intervals spent inside wrapped tool calls (parallel branches overlap: the union counts)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.intervals: list[tuple[float, float]] = []

    def wrap(self, fn):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                with self.lock:
                    self.intervals.append((start, time.perf_counter()))
        return timed

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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_agent", description=__doc__)
    parser.add_argument("--turns", type=int, default=8, help="conversations per turn kind (default 8)")
    args = parser.parse_args(argv)

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
    rows = []
    results: dict[str, list[tuple[float, float]]] = {k: [] for k in kinds}
    for i in range(args.turns):
        thread = f"c{i}"
        for name, turn in kinds.items():
            start = time.perf_counter()
            for event in turn(thread):
                assert event["type"] != "error", event
            total = time.perf_counter() - start
            results[name].append((total, spans.take()))

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
    print(f"{'turn':<46} {'total ms':>9} {'tools ms':>9} {'overhead ms':>12} {'max ms':>8}")
    for name, total, tool_ms, over, worst in rows:
        print(f"{name:<46} {total:>9.1f} {tool_ms:>9.1f} {over:>12.1f} {worst:>8.1f}")
    median = statistics.median(overheads_all)
    ok = median <= TARGET_MS
    print(f"median overhead over all turns: {median:.1f} ms (target <= {TARGET_MS:.0f} ms): {'OK' if ok else 'MISSED'}")
    ws.close()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
