"""Contact sheet of the studio galleries for every photo in ../shared/realdata/jewelry_packshot and
product_packshot: one row per photo (source, Amazon MAIN, try-on for rings, detail, lifestyle, the
five campaign aspects), plus a table that checks each MAIN against Amazon's rules (pure white border,
fill >= 85 % (jewelry >= 80 %), long side >= 1000 px) and each try-on's true scale.

Run: .venv/bin/python -m benchmarks.contact_sheet   (writes benchmarks/out/contact_sheet.png)
     .venv/bin/python -m benchmarks.contact_sheet --cutouts   (every packshot's cutout on a dark backdrop
     beside its photo and alpha: benchmarks/out/cutout_sheet.png; look for missing parts and rims)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

ROOT = Path(__file__).resolve().parents[1]
REALDATA = ROOT.parent / "shared" / "realdata"
OUT = ROOT / "benchmarks" / "out"
THUMB = 220
WORDS = {  # file name word -> category
    "ring": "ring", "earrings": "earrings", "pendant": "necklace", "necklace": "necklace", "set": "necklace",
    "bracelet": "bracelet", "bangle": "bracelet", "shoe": "shoes", "backpack": "bag", "laptopbag": "bag",
    "yogabag": "bag", "perfume": "beauty", "nailpolish": "beauty", "vitamin": "beauty", "sunglasses": "other",
    "belt": "other", "ledbulb": "other",
}


def category_of(path: Path) -> str:
    for word in reversed(path.stem.split("_")):
        if word in WORDS:
            return WORDS[word]
    return "other"


def main_compliance(image: Image.Image, jewelry: bool) -> dict:
    """Amazon MAIN rules measured on the image itself."""
    arr = np.asarray(image.convert("RGB"))
    h, w = arr.shape[:2]
    band = max(2, int(0.02 * min(w, h)))
    border = np.concatenate([arr[:band].reshape(-1, 3), arr[-band:].reshape(-1, 3),
                             arr[:, :band].reshape(-1, 3), arr[:, -band:].reshape(-1, 3)])
    white = bool((border == 255).all())
    ys, xs = np.nonzero((arr < 255).any(axis=2))
    fill = max((xs.max() - xs.min() + 1) / w, (ys.max() - ys.min() + 1) / h) if len(xs) else 0.0
    need = 0.80 if jewelry else 0.85
    return {"white": white, "fill": float(fill), "long": max(w, h),
            "ok": white and fill >= need and max(w, h) >= 1000}


def _thumb(image: Image.Image, label: str) -> Image.Image:
    tile = Image.new("RGB", (THUMB, THUMB + 16), (120, 120, 120))
    im = image.convert("RGB").copy()
    im.thumbnail((THUMB - 4, THUMB - 4))
    tile.paste(im, ((THUMB - im.width) // 2, (THUMB - im.height) // 2))
    ImageDraw.Draw(tile).text((4, THUMB), label[:36], fill=(255, 255, 255))
    return tile


def run() -> tuple[list[dict], Path]:
    from tools.errors import ListingError
    from tools.models import JEWELRY, Brief, Category, Channel, Dimensions, Role
    from tools.plates import register_plate
    from tools.prepare import ingest_product
    from tools.render import render_shot
    from tools.rules import plan_gallery
    from tools.settings import Settings
    from tools.workspace import Workspace

    photos = sorted((REALDATA / "jewelry_packshot").glob("*.jpg")) + sorted((REALDATA / "product_packshot").glob("*.jpg"))
    rows, sheet_rows = [], []
    with tempfile.TemporaryDirectory() as tmp:
        ws = Workspace.open(Settings.from_env({}, home=Path(tmp) / "home"))
        from benchmarks.realplates import clean_hand_plate

        plate, mask = clean_hand_plate(Path(tmp))
        register_plate(ws, plate, kind="hand", mask=mask, plate_id="hand", talent_id="sheet", consent_channels=["amazon"])
        for i, photo in enumerate(photos):
            started = time.perf_counter()
            category = Category(category_of(photo))
            sku = f"SHEET-{i:02d}"
            row = {"photo": photo.name, "category": category.value}
            tiles = [_thumb(Image.open(photo), photo.name)]
            try:
                brief = Brief(dimensions=Dimensions(width_mm=20.0 if category is Category.ring else 40.0),
                              mood=["warm holiday", "fresh spring", "minimal", "luxury"][i % 4], use_case="campaign")
                product, _ = ingest_product(ws, sku, [photo], category=category, brief=brief)
                plan = ws.catalog.save_plan(plan_gallery(product, brief, [Channel.amazon], plates=ws.catalog.plates(),
                                                         consents={}, photo_size=Image.open(photo).size))
                for shot in plan.shots:
                    label = shot.role.value + (f" {shot.options['aspect']}" if "aspect" in shot.options else "")
                    try:
                        candidate = render_shot(ws, sku, shot, count=1)[0]
                    except ListingError as exc:  # a shot that cannot be made: its reason, and the row goes on
                        row.setdefault("refused", []).append(f"{label}: {exc}")
                        tiles.append(_thumb(Image.new("RGB", (THUMB, THUMB), (60, 60, 60)), f"{label}: refused"))
                        continue
                    image = ws.assets.open(candidate.asset_id)
                    if shot.role is Role.packshot:
                        check = main_compliance(image, category in JEWELRY)
                        row |= {"main_ok": check["ok"], "white": check["white"], "fill": round(check["fill"], 3),
                                "long": check["long"], "upscale": round(candidate.placement.upscale, 2)}
                        label += f" fill {check['fill']:.0%} {'OK' if check['ok'] else 'FAIL'}"
                    if shot.role is Role.try_on:
                        p = candidate.placement
                        from pipelines.studio import trim
                        from tools.prepare import source_cutout

                        item, _ = trim(source_cutout(ws, sku)[1])
                        row["try_on_mm"] = round(item.width * p.scale * p.mm_per_px, 2)
                        label += f" {row['try_on_mm']} mm"
                    tiles.append(_thumb(image, label))
                row["shots"] = len(plan.shots)
            except ListingError as exc:
                row["error"] = str(exc)
            row["seconds"] = round(time.perf_counter() - started, 2)
            rows.append(row)
            sheet_rows.append(tiles)
        ws.close()
    width = max(len(t) for t in sheet_rows) * THUMB
    sheet = Image.new("RGB", (width, len(sheet_rows) * (THUMB + 16)), (80, 80, 80))
    for r, tiles in enumerate(sheet_rows):
        for c, tile in enumerate(tiles):
            sheet.paste(tile, (c * THUMB, r * (THUMB + 16)))
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "contact_sheet.png"
    sheet.save(path)
    return rows, path


def _checkerboard(size: tuple[int, int], cell: int = 12) -> Image.Image:
    """A grey checkerboard (the usual "transparent" pattern) as an RGBA image of `size`."""
    yy, xx = np.mgrid[0:size[1], 0:size[0]]
    light = ((yy // cell + xx // cell) % 2 == 0)
    grey = np.where(light, 205, 150).astype(np.uint8)
    return Image.fromarray(np.dstack([grey, grey, grey, np.full_like(grey, 255)]), "RGBA")


def cutout_sheet() -> tuple[list[dict], Path]:
    """Photo | cutout on a dark backdrop | cutout on a checkerboard | alpha, for every packshot of
    ../shared/realdata (a punched face shows as checks, a rim of the old background as a light edge on dark)."""
    from pipelines.matting import MattingError, cut_out

    photos = sorted((REALDATA / "jewelry_packshot").glob("*.jpg")) + sorted((REALDATA / "product_packshot").glob("*.jpg"))
    rows, sheet_rows = [], []
    for photo_path in photos:
        photo = Image.open(photo_path).convert("RGB")
        try:
            result = cut_out(photo)
        except MattingError as exc:
            rows.append({"photo": photo_path.name, "error": str(exc)})
            sheet_rows.append([_thumb(photo, photo_path.name), _thumb(Image.new("RGB", photo.size, (90, 0, 0)), "refused")])
            continue
        dark = Image.new("RGBA", photo.size, (20, 22, 28, 255))
        dark.alpha_composite(result.rgba)
        checker = _checkerboard(photo.size)
        checker.alpha_composite(result.rgba)
        rows.append({"photo": photo_path.name, "method": result.method, "confidence": round(result.confidence, 2),
                     "coverage": round(result.coverage, 3), "holes": result.holes})
        sheet_rows.append([_thumb(photo, photo_path.name), _thumb(dark, f"{result.method} {result.confidence:.2f}"),
                           _thumb(checker, "on checks"),
                           _thumb(result.rgba.getchannel("A").convert("RGB"), f"alpha, {result.holes} holes")])
    sheet = Image.new("RGB", (4 * THUMB * 2, ((len(sheet_rows) + 1) // 2) * (THUMB + 16)), (80, 80, 80))
    for r, tiles in enumerate(sheet_rows):
        for c, tile in enumerate(tiles):
            sheet.paste(tile, ((r % 2) * 4 * THUMB + c * THUMB, (r // 2) * (THUMB + 16)))
    OUT.mkdir(parents=True, exist_ok=True)
    path = OUT / "cutout_sheet.png"
    sheet.save(path)
    return rows, path


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if not REALDATA.is_dir():
        print(f"skipped: {REALDATA} is absent")
        return 0
    if "--cutouts" in argv:
        rows, path = cutout_sheet()
        for r in rows:
            print(r)
        print(f"sheet: {path}")
        return 0
    rows, path = run()
    print(f"{'photo':<32} {'category':<9} {'MAIN':>4} {'white':>5} {'fill':>6} {'long':>5} {'up':>5} {'shots':>5} "
          f"{'try-on mm':>9} {'s':>6}")
    for r in rows:
        if "error" in r:
            print(f"{r['photo']:<32} {r['category']:<9} ERROR {r['error']}")
            continue
        print(f"{r['photo']:<32} {r['category']:<9} {'ok' if r['main_ok'] else 'FAIL':>4} {str(r['white']):>5} "
              f"{r['fill']:6.3f} {r['long']:5d} {r['upscale']:5.2f} {r['shots']:5d} {r.get('try_on_mm', ''):>9} "
              f"{r['seconds']:6.2f}")
        for reason in r.get("refused", []):
            print(f"{'':<32} refused: {reason}")
    good = sum(1 for r in rows if r.get("main_ok"))
    print(f"\n{good} of {len(rows)} photos give an Amazon-compliant MAIN; sheet: {path}")
    return 0 if good == len(rows) else 1


if __name__ == "__main__":
    sys.exit(main())
