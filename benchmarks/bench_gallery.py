"""Gallery benchmark: a full studio gallery (5 shots x 2 candidates) for one SKU, timed per stage:
ingest (load + cutout), plan, render (studio engine, assets stored, catalog rows written) and the
vision check of every candidate (tools.critique). Target: render of the whole gallery <= 3 s.

Run: .venv/bin/python -m benchmarks.bench_gallery
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"


def _plate(ws, tmp: Path) -> None:
    from PIL import Image, ImageDraw

    from tools.plates import register_plate

    plates = REALDATA / "model_plates"
    if plates.is_dir():
        from benchmarks.realplates import clean_hand_plate

        plate, mask = clean_hand_plate(tmp)
        register_plate(ws, plate, kind="hand", mask=mask, plate_id="hand", talent_id="bench", consent_channels=["amazon"])
        return
    plate = Image.new("RGB", (600, 800), (252, 252, 252))
    ImageDraw.Draw(plate).rounded_rectangle([270, 100, 330, 800], radius=30, fill=(226, 182, 160))
    mask = Image.new("L", (600, 800), 0)
    ImageDraw.Draw(mask).ellipse([268, 440, 332, 460], fill=255)
    plate.save(tmp / "hand.png")
    mask.save(tmp / "mask.png")
    register_plate(ws, tmp / "hand.png", kind="hand", mask=tmp / "mask.png", plate_id="hand", talent_id="bench",
                   consent_channels=["amazon"])


def run(photo: Path | bytes, category: str = "ring") -> list[tuple[str, float, str]]:
    from tools.critique import critique_candidate
    from tools.models import Brief, Channel, Dimensions
    from tools.prepare import ingest_product
    from tools.render import render_shot
    from tools.rules import plan_gallery
    from tools.settings import Settings
    from tools.workspace import Workspace

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.open(Settings.from_env({}, home=Path(tmp) / "home"))
        _plate(ws, Path(tmp))
        brief = Brief(dimensions=Dimensions(width_mm=20.0), mood="warm holiday", channels=[Channel.amazon])
        start = time.perf_counter()
        product, _ = ingest_product(ws, "BENCH-1", [photo], category=category, brief=brief)
        rows.append(("ingest (load, cutout, store)", time.perf_counter() - start, ""))
        start = time.perf_counter()
        plan = ws.catalog.save_plan(plan_gallery(product, brief, [Channel.amazon], plates=ws.catalog.plates(),
                                                 consents={}))
        rows.append(("plan", time.perf_counter() - start, f"{len(plan.shots)} shots"))
        render_total, critique_total, candidates = 0.0, 0.0, []
        for shot in plan.shots:
            start = time.perf_counter()
            made = render_shot(ws, "BENCH-1", shot, count=2)
            seconds = time.perf_counter() - start
            render_total += seconds
            rows.append((f"  render {shot.role.value} {shot.width}x{shot.height}", seconds, f"{len(made)} candidates"))
            candidates += made
        rows.append(("render, whole gallery", render_total, f"{len(candidates)} candidates (target <= 3 s)"))
        start = time.perf_counter()
        verdicts = [critique_candidate(ws, c).verdict for c in candidates]
        critique_total = time.perf_counter() - start
        rows.append(("vision check, every candidate", critique_total, f"{verdicts.count('pass')} of {len(verdicts)} pass"))
        rows.append(("render + check", render_total + critique_total, ""))
        ws.close()
    return rows


def main(argv: list[str] | None = None) -> int:
    from tools.demo import demo_photo_bytes

    cases = [("demo ring (900 px photo)", demo_photo_bytes("DEMO-RING"), "ring")]
    real = REALDATA / "jewelry_packshot" / "myntra_49056_ring.jpg"
    if real.exists():
        cases.append(("real ring (540x720 catalog photo)", real, "ring"))
    for title, photo, category in cases:
        print(f"\n{title}")
        print(f"{'stage':<44} {'seconds':>8}  note")
        for stage, seconds, note in run(photo, category):
            print(f"{stage:<44} {seconds:8.2f}  {note}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
