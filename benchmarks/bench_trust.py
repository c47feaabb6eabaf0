"""Trust benchmark: can a bad cutout reach an approved image unnoticed?

Every exact-alpha product of ../shared/realdata (cutouts/ and masks/*.rgba.png) is composited on white,
light grey and a gradient with a soft shadow (benchmarks/bench_cutout.composite), plus a white-on-white
set: the product made to look like polished metal (desaturated, lifted to a light grey, its dark
reflections kept) on white and on light grey. Each photo goes through the real `gallery --auto-approve`
path (agent.runner.run_gallery, what the CLI runs: intake, cutout, its confidence against the photo,
plan, render, vision check, automatic approval). Reported per case: the cutout's IoU against the truth
(alpha > 0.5), its confidence, candidates passed and approved. Targets:

- approved candidates whose cutout IoU < 0.90: 0
- clean cutouts (IoU >= 0.95): share of their candidates the cutout check lets through (neither failed
  nor held for a person) >= 95 %; the share passing the whole vision check is reported beside it (other
  checks fail candidates for their own reasons)

The limits in tools/verification.py were chosen on the development half of the products (every other
one in sorted order, starting with the first) and are confirmed here on the other half; both are
reported. Run: .venv/bin/python -m benchmarks.bench_trust [--split dev|holdout|all] [--limit N] [--gate-only]
[--main-only] (--gate-only: the cutout and its confidence for every photo, without rendering: minutes instead
of an hour on two cores; --main-only: the cutout, its confidence and the Amazon MAIN packshot with the full
vision check, including the candidate laid back over the photo; --sheet PATH with it draws each photo
beside its MAIN and what the checks said).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.bench_cutout import REALDATA, composite, ground_truth_cutouts, iou

CLEAN_IOU, BAD_IOU = 0.95, 0.90
STUDIO = (("white", "white"), ("light_grey", "light_grey"), ("gradient", "gradient"))
WHITE_ON_WHITE = (("metal_on_white", "white"), ("metal_on_grey", "light_grey"))
CATEGORY_WORDS = ("ring", "bracelet", "necklace", "earrings", "watch")


def metal_look(cutout: Image.Image) -> Image.Image:
    """The product as polished silver or white enamel: grey, lifted to a light grey (195..250), its dark
    reflections (below 90) kept as they are, alpha unchanged."""
    array = np.asarray(cutout.convert("RGBA"), np.float32)
    grey = array[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    metal = np.where(grey < 90, grey, 195 + (grey - 90) / 165 * 55)
    rgb = np.repeat(metal[..., None], 3, axis=2)
    return Image.fromarray(np.dstack([np.clip(rgb, 0, 255), array[..., 3]]).astype(np.uint8), "RGBA")


def split(names: list[str], which: str) -> list[str]:
    """dev: every other product in sorted order from the first; holdout: the others."""
    ordered = sorted(names)
    if which == "all":
        return ordered
    return ordered[0::2] if which == "dev" else ordered[1::2]


def category_of(name: str) -> str:
    return next((c for c in CATEGORY_WORDS if c.rstrip("s") in name), "other")


def cases(which: str = "all", realdata: Path = REALDATA):
    """(product, background label, photo, true alpha) for the chosen half."""
    products = dict(ground_truth_cutouts(realdata))
    for name in split(list(products), which):
        cutout = products[name]
        for seed, (label, kind) in enumerate(STUDIO):
            photo, truth = composite(cutout, kind, seed=seed)
            yield name, label, photo, truth
        metal = metal_look(cutout)
        for seed, (label, kind) in enumerate(WHITE_ON_WHITE, start=5):
            photo, truth = composite(metal, kind, seed=seed)
            yield name, label, photo, truth


def run_case(name: str, photo: Image.Image, truth: np.ndarray, home: Path) -> dict:
    """One photo through `gallery --auto-approve`; the cutout's IoU and what was approved."""
    from agent.runner import run_gallery
    from tools.errors import ListingError
    from tools.settings import Settings
    from tools.verification import person_needed
    from tools.workspace import Workspace

    path = home / f"{name}.jpg"
    photo.save(path, quality=92)
    ws = Workspace.open(Settings.from_env({}, home=home / "home"))
    sku = name.replace("_", "-")[:60]
    try:
        try:
            result = run_gallery(ws, images=[path], sku=sku, category=category_of(name), channels=["amazon"],
                                 auto_approve=True)
        except ListingError as exc:
            return {"refused": str(exc)[:80], "iou": None, "candidates": 0, "passed": 0, "approved": 0, "gated": 0}
        photo_row = ws.catalog.photos(sku)[0]
        alpha = np.asarray(ws.assets.open(photo_row.cutout_asset_id).getchannel("A"), np.float32) / 255.0
        confidence = ws.catalog.cutout_confidence(sku, photo_row.cutout_asset_id)
        approved = {c.id for c in ws.catalog.approved(sku)}
        rows = result["candidates"]
        gated = sum(bool(person_needed(ws.catalog.latest_critique(r["id"]))) for r in rows)
        return {"iou": iou(alpha, truth), "level": confidence.level if confidence else "none",
                "missing": (confidence.values or {}).get("missing") if confidence else None,
                "neural": (confidence.values or {}).get("neural_missing") if confidence else None,
                "candidates": len(rows), "passed": sum(r["verdict"] == "pass" for r in rows),
                "approved": sum(r["id"] in approved for r in rows), "gated": gated}
    finally:
        ws.close()


def _taken_in(ws, name: str, photo: Image.Image, home: Path):
    """The photo taken in as `gallery` takes it (tools.prepare.ingest_product): (sku, photos, cutout alpha,
    cutout confidence), or the refusal as a case result."""
    from tools.errors import ListingError
    from tools.prepare import ingest_product

    path = home / f"{name}.jpg"
    photo.save(path, quality=92)
    sku = name.replace("_", "-")[:60]
    try:
        _, photos = ingest_product(ws, sku, [path], category=category_of(name))
    except ListingError as exc:
        return {"refused": str(exc)[:80], "iou": None, "candidates": 0, "passed": 0, "approved": 0, "gated": 0}
    alpha = np.asarray(ws.assets.open(photos[0].cutout_asset_id).getchannel("A"), np.float32) / 255.0
    return sku, photos, alpha, ws.catalog.cutout_confidence(sku, photos[0].cutout_asset_id)


def gate_case(name: str, photo: Image.Image, truth: np.ndarray, home: Path) -> dict:
    """Only the gate: the photo taken in as `gallery` takes it (tools.prepare.ingest_product: cutout and its
    confidence against the photo), no rendering. An approved candidate needs a verified cutout, so a bad
    cutout graded verified is what could reach an approved image."""
    from tools.settings import Settings
    from tools.workspace import Workspace

    ws = Workspace.open(Settings.from_env({}, home=home / "home"))
    try:
        taken = _taken_in(ws, name, photo, home)
        if isinstance(taken, dict):
            return taken
        _, _, alpha, confidence = taken
        free = confidence.level == "verified"
        return {"iou": iou(alpha, truth), "level": confidence.level, "missing": confidence.values.get("missing"),
                "neural": confidence.values.get("neural_missing"), "candidates": 1, "passed": int(free),
                "approved": int(free), "gated": int(not free)}
    finally:
        ws.close()


SHEET_PX = 260  # thumbnail side on the --sheet contact sheet


def sheet_row(photo: Image.Image, main: Image.Image, lines: list[str]) -> Image.Image:
    """One contact-sheet row: the photo, the MAIN image and what the checks said about it."""
    import textwrap

    from PIL import ImageDraw

    tile = Image.new("RGB", (2 * SHEET_PX + 620, SHEET_PX), "white")
    for i, image in enumerate((photo, main)):
        thumb = image.convert("RGB").copy()
        thumb.thumbnail((SHEET_PX - 4, SHEET_PX - 4))
        tile.paste(thumb, (i * SHEET_PX + 2, 2))
    draw, y = ImageDraw.Draw(tile), 4
    for line in lines:
        for part in textwrap.wrap(line, 100):
            draw.text((2 * SHEET_PX + 8, y), part, fill="black")
            y += 13
        y += 4
    return tile


def main_case(name: str, photo: Image.Image, truth: np.ndarray, home: Path) -> dict:
    """The photo taken in as `gallery` takes it, then only its Amazon MAIN packshot rendered and checked (the
    image a broken cutout does most harm in): 'approved' when it passes with nothing a person must see, as
    --auto-approve would approve it. The candidate's own check against the photo runs here; not in --gate-only."""
    from tools.models import Channel, GalleryPlan, Role, Shot, Slot
    from tools.production import produce_shot
    from tools.settings import Settings
    from tools.verification import RELAY_NAME, person_needed
    from tools.workspace import Workspace

    ws = Workspace.open(Settings.from_env({}, home=home / "home"))
    try:
        taken = _taken_in(ws, name, photo, home)
        if isinstance(taken, dict):
            return taken
        sku, _, alpha, confidence = taken
        shot = Shot(role=Role.packshot, slot=Slot.grid, channel=Channel.amazon, width=1600, height=1600, count=1)
        ws.catalog.save_plan(GalleryPlan(sku=sku, shots=[shot]))
        produced = produce_shot(ws, sku, shot, max_rerenders=0)
        critiques = [critique for _, critique in produced]
        relay = next((c for c in critiques[0].checks if c.name == RELAY_NAME), None) if critiques else None
        passed = sum(c.verdict == "pass" for c in critiques)
        gated = sum(bool(person_needed(c)) for c in critiques)
        score = iou(alpha, truth)
        lines = [f"cutout IoU {score:.3f} against the truth"] + [
            f"{c.name}: {'FAIL' if not c.passed else 'warning' if c.warning else 'ok'}: {c.message.removeprefix('warning: ')}"
            for c in (critiques[0].checks if critiques else []) if not c.passed or c.warning or c.name in
            ("cutout", RELAY_NAME)]
        main = ws.assets.open(produced[0][0].asset_id) if produced else photo
        return {"iou": score, "level": confidence.level, "missing": confidence.values.get("missing"),
                "sheet": (photo, main, lines),
                "neural": confidence.values.get("neural_missing"), "candidates": len(critiques), "passed": passed,
                "approved": sum(c.verdict == "pass" and not person_needed(c) for c in critiques), "gated": gated,
                "relay": None if relay is None else ("fail" if not relay.passed else "warn" if relay.warning else "ok")}
    finally:
        ws.close()


def run(which: str = "all", limit: int | None = None, gate_only: bool = False, main_only: bool = False) -> list[dict]:
    rows = []
    case = gate_case if gate_only else main_case if main_only else run_case
    for i, (name, label, photo, truth) in enumerate(cases(which)):
        if limit is not None and i >= limit:
            break
        with tempfile.TemporaryDirectory() as tmp:
            row = case(name, photo, truth, Path(tmp))
        rows.append({"case": name, "background": label, "half": "dev" if name in split(
            [n for n, _ in ground_truth_cutouts()], "dev") else "holdout", **row})
        print(_line(rows[-1]), flush=True)
    return rows


def _line(r: dict) -> str:
    if r.get("refused"):
        return f"{r['case']:<30} {r['background']:<15} {r['half']:<8} refused: {r['refused']}"
    miss = "-" if r["missing"] is None else f"{r['missing']:.3f}"
    neural = "-" if r["neural"] is None else f"{r['neural']:.3f}"
    return (f"{r['case']:<30} {r['background']:<15} {r['half']:<8} IoU {r['iou']:.3f}  {r['level']:<10} "
            f"missing {miss:>6} neural {neural:>6}  passed {r['passed']}/{r['candidates']}  approved {r['approved']}  "
            f"held by the cutout check {r['gated']}" + (f"  against the photo: {r['relay']}" if "relay" in r else ""))


def summary(rows: list[dict], half: str) -> tuple[str, bool]:
    rows = [r for r in rows if r["half"] == half and r.get("iou") is not None]
    bad = [r for r in rows if r["iou"] < BAD_IOU]
    bad_approved = sum(r["approved"] for r in bad)
    clean = [r for r in rows if r["iou"] >= CLEAN_IOU]
    total = sum(r["candidates"] for r in clean)
    passed = sum(r["passed"] for r in clean)
    approved = sum(r["approved"] for r in clean)
    held = sum(r["gated"] for r in clean)
    share = passed / total if total else float("nan")
    free = 1 - held / total if total else float("nan")
    ok = bad_approved == 0 and (not total or free >= 0.95)
    return (f"{half}: {len(rows)} galleries; {len(bad)} cutouts with IoU < {BAD_IOU}: {bad_approved} approved "
            f"candidate(s) (target 0); {len(clean)} clean cutouts (IoU >= {CLEAN_IOU}): {passed}/{total} candidates "
            f"pass the whole vision check ({share:.0%}), {approved} approved; the cutout check holds {held} of them "
            f"({1 - free:.0%}: {free:.0%} of clean cutouts' candidates clear it, target >= 95 %)"), ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_trust")
    parser.add_argument("--split", choices=("dev", "holdout", "all"), default="all")
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--gate-only", action="store_true",
                        help="only take the photos in (cutout and its confidence), no rendering: one 'candidate' per "
                             "photo, approved when its cutout is verified")
    parser.add_argument("--sheet", type=Path, default=None,
                        help="with --main-only: write a contact sheet (photo, MAIN, what the checks said) to this PNG")
    parser.add_argument("--main-only", action="store_true",
                        help="take the photos in and render only the Amazon MAIN packshot of each, with the full vision "
                             "check (the candidate laid back over the photo included): tens of minutes, not hours")
    args = parser.parse_args(argv)
    if not REALDATA.is_dir():
        print(f"skipped: {REALDATA} is absent")
        return 0
    rows = run(args.split, args.limit, gate_only=args.gate_only, main_only=args.main_only)
    tiles = [sheet_row(photo, main, [f"{r['case']} on {r['background']} ({r['half']}): {lines[0]}", *lines[1:]])
             for r in rows if "sheet" in r for photo, main, lines in [r.pop("sheet")]]
    if args.sheet and tiles:
        sheet = Image.new("RGB", (tiles[0].width, sum(t.height for t in tiles)), "white")
        for i, tile in enumerate(tiles):
            sheet.paste(tile, (0, i * tiles[0].height))
        args.sheet.parent.mkdir(parents=True, exist_ok=True)
        sheet.save(args.sheet)
        print(f"contact sheet: {args.sheet}")
    ok = True
    for half in ("dev", "holdout"):
        if any(r["half"] == half for r in rows):
            text, good = summary(rows, half)
            ok &= good
            print(text)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
