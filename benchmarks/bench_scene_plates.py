"""Scene-plate benchmark: how different the candidates on one seller's set are, and how much the set is enlarged.

The set is the wooden table top of ../shared/realdata/product_lifestyle/unsplash_laptop_desk.jpg, as a seller would
register it: a small crop (820x500, the one the tests use) and the whole photo (1920x1280), each with its table
surface. Every ../shared/realdata jewelry packshot is cut out and stood on it at true scale (21 mm wide) in the
formats a gallery plans (1000x1000, 1200x1200, 9:16, 16:9, 1.91:1), two candidates each, under the small-photo
policy a 1000 px channel gets (the set enlarged at most 2x, beyond that only to reach 1000 px). Reported per set
and format: image_distance between the two candidates (min and mean over products; target >= DISTINCT, as for the
built scenes in bench_roles), how many second candidates would be near duplicates of the first (the product then
gets that version on a built set: tools/studio_render.on_scene_plate), the set's enlargement and the output size.
Writes benchmarks/out/plates_sheet.png.

Run: .venv/bin/python -m benchmarks.bench_scene_plates [--limit N]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from benchmarks.bench_roles import DISTINCT
from benchmarks.contact_sheet import REALDATA

OUT = Path(__file__).resolve().parent / "out"
DESK = REALDATA / "product_lifestyle" / "unsplash_laptop_desk.jpg"
TABLE = (0, 780, 820, 1280)  # the table top in front of the laptop: no person, no text
SURFACE = [(340, 20), (820, 0), (820, 500), (420, 500)]  # in the crop's pixels
SIZES = ((1000, 1000), (1200, 1200), (1080, 1920), (1920, 1080), (1910, 1000))
FREE_ENLARGE, MIN_LONG = 2.0, 1000


def sets() -> list[tuple[str, Image.Image, np.ndarray]]:
    """(name, plate, surface mask): the small crop and the whole photo with the same table surface."""
    photo = Image.open(DESK).convert("RGB")
    full_mask = Image.new("L", photo.size, 0)
    ImageDraw.Draw(full_mask).polygon([(x + TABLE[0], y + TABLE[1]) for x, y in SURFACE], fill=255)
    crop, crop_mask = photo.crop(TABLE), full_mask.crop(TABLE)
    return [("small 820x500", crop, np.asarray(crop_mask) > 127),
            ("whole 1920x1280", photo, np.asarray(full_mask) > 127)]


def run(limit: int | None = None) -> list[dict]:
    from pipelines.matting import cut_out
    from pipelines.scene_metrics import NEAR_DUPLICATE, image_distance
    from pipelines.scene_plates import on_scene_plate

    photos = sorted((REALDATA / "jewelry_packshot").glob("*.jpg"))[:limit]
    cutouts = [(p.stem, cut_out(Image.open(p)).rgba) for p in photos]
    rows, tiles = [], []
    for name, plate, surface in sets():
        for size in SIZES:
            distances, made, enlarged = [], None, 0.0
            for product, cutout in cutouts:
                pair = [on_scene_plate(plate, surface, cutout, size=size, mm_per_px=0.25, width_mm=21.0,
                                       variant=v, max_enlarge=FREE_ENLARGE,
                                       min_long=min(MIN_LONG, max(size))) for v in range(2)]
                distances.append(image_distance(pair[0].image, pair[1].image))
                made = "/".join(f"{c.image.width}x{c.image.height}" for c in pair)
                k = pair[0].placed.width / (21.0 / 0.25)  # output px per plate px
                enlarged = max(enlarged, k)
                if product == cutouts[0][0]:
                    tiles.append((f"{name} {size[0]}x{size[1]}", [c.image for c in pair]))
            rows.append({"set": name, "size": f"{size[0]}x{size[1]}", "made": made,
                         "enlarged": round(enlarged, 2), "min": round(min(distances), 3),
                         "mean": round(statistics.mean(distances), 3), "n": len(distances),
                         "built": sum(d < NEAR_DUPLICATE for d in distances)})
    _sheet(tiles)
    return rows


def _sheet(tiles: list[tuple[str, list[Image.Image]]], thumb: int = 260) -> Path:
    OUT.mkdir(parents=True, exist_ok=True)
    sheet = Image.new("RGB", (2 * (thumb + 8) + 8, len(tiles) * (thumb + 24) + 8), (128, 128, 128))
    draw = ImageDraw.Draw(sheet)
    for row, (label, images) in enumerate(tiles):
        y = 8 + row * (thumb + 24)
        draw.text((8, y), label, fill=(255, 255, 255))
        for col, image in enumerate(images):
            copy = image.copy()
            copy.thumbnail((thumb, thumb))
            sheet.paste(copy, (8 + col * (thumb + 8), y + 16))
    path = OUT / "plates_sheet.png"
    sheet.save(path)
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_scene_plates")
    parser.add_argument("--limit", type=int, default=None, help="only the first N packshots")
    args = parser.parse_args(argv)
    if not DESK.exists():
        print(f"skipped: {DESK} is absent (../shared/realdata)")
        return 0
    rows = run(args.limit)
    print(f"{'set':<17} {'planned':<10} {'made (both)':<20} {'set x':>6} {'min d':>6} {'mean d':>7} {'built':>6}  n")
    for r in rows:
        print(f"{r['set']:<17} {r['size']:<10} {r['made']:<20} {r['enlarged']:>6} {r['min']:>6} {r['mean']:>7} "
              f"{r['built']:>6}  {r['n']}")
    print(f"target: distance >= {DISTINCT} between the two candidates of one shot; the set enlarged <= {FREE_ENLARGE}x "
          f"unless a {MIN_LONG} px minimum needs more; built: second candidates made on a built set instead of a "
          f"near duplicate; sheet: {OUT / 'plates_sheet.png'}")
    return 1 if any(r["min"] < DISTINCT for r in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
