"""Batch and publish benchmark: a catalog CSV of demo products rendered by `run_batch` with one and
with two worker processes (shots per minute, speed-up), the cost of a resumed run with nothing left
to do, and the time to write channel packs (JPEG + XMP + manifest) for every channel.

Run: .venv/bin/python -m benchmarks.bench_batch
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

SKUS = ("DEMO-RING", "DEMO-EARRINGS", "DEMO-BRACELET", "DEMO-NECKLACE")
BRIEF = "warm holiday mood"  # the default plan: five shots, two candidates each


def _catalog(folder: Path) -> Path:
    from tools.demo import demo_photo_bytes

    (folder / "photos").mkdir(parents=True)
    lines = ["sku,photos,category,brief,channels,dimensions"]
    for sku in SKUS:
        name = sku.lower().removeprefix("demo-")
        (folder / "photos" / f"{name}.jpg").write_bytes(demo_photo_bytes(sku, 900))
        lines.append(f"{sku},photos/{name}.jpg,{name},\"{name}, {BRIEF}\",amazon,")
    path = folder / "catalog.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _units(home: Path) -> str:
    """From the batch journal: how many worker processes ran shots, and the shots' summed wall and CPU
    seconds (CPU that does not shrink while wall grows means the cores were busy with other work)."""
    import json
    import sqlite3

    with sqlite3.connect(home / "batch.sqlite") as conn:
        units = [json.loads(data) for (data,) in conn.execute("SELECT data FROM units")]
    return (f"{len({u['pid'] for u in units})} worker process(es); shots took {sum(u['seconds'] for u in units):.1f} s "
            f"wall, {sum(u['cpu_seconds'] for u in units):.1f} s CPU")


def _batch(csv_path: Path, home: Path, workers: int) -> tuple[dict, float]:
    from agent.offline.reader import read_brief
    from tools.batch import run_batch
    from tools.settings import Settings
    from tools.workspace import Workspace

    ws = Workspace.open(Settings(home=home, max_rerenders=0))
    started = time.perf_counter()
    result = run_batch(ws, csv_path, workers=workers, read_brief=read_brief)
    seconds = time.perf_counter() - started
    ws.close()
    return result, seconds


def _publish_all(home: Path, out: Path) -> list[tuple[str, float, str]]:
    from tools.errors import ListingError
    from tools.models import Decision
    from tools.publish import publish_pack
    from tools.settings import Settings
    from tools.workspace import Workspace

    ws = Workspace.open(Settings(home=home))
    for candidate in ws.catalog.candidates("DEMO-RING"):
        ws.catalog.add_decision(Decision(candidate_id=candidate.id, action="approve", by="bench",
                                         note="benchmark approves every candidate"))
    rows = []
    for channel in ("amazon", "etsy", "shopify", "ebay", "google", "zalando"):
        started = time.perf_counter()
        try:
            result = publish_pack(ws, "DEMO-RING", channel, out / channel)
            note = f"{len(result['files'])} images, {len(result['skipped'])} left out"
        except ListingError as error:
            note = f"refused: {str(error)[:70]}"
        rows.append((f"publish DEMO-RING to {channel}", time.perf_counter() - started, note))
    ws.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        csv_path = _catalog(tmp / "in")
        rows: list[tuple[str, float, str]] = []
        timings = {}
        for workers in (1, 2):
            result, seconds = _batch(csv_path, tmp / f"home{workers}", workers)
            shots = result["shots"]["total"]
            timings[workers] = seconds
            rows.append((f"batch {len(SKUS)} SKUs, {workers} worker(s)", seconds,
                         f"{shots} shots, {shots / seconds * 60:.0f} shots/min, {len(result['failed'])} failed; "
                         + _units(tmp / f"home{workers}")))
        load = os.getloadavg()[0]
        rows.append(("speed-up with 2 workers", timings[1] / timings[2],
                     f"on {os.cpu_count()} CPU cores, load average {load:.1f} (other work shares the cores)"))
        result, seconds = _batch(csv_path, tmp / "home2", 2)
        rows.append(("resumed run, nothing left to do", seconds, f"{result['shots']['resumed']} shots skipped"))
        rows += _publish_all(tmp / "home2", tmp / "out")
    print(f"{'measure':<40} {'value':>8}  note")
    for name, value, note in rows:
        print(f"{name:<40} {value:8.2f}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
