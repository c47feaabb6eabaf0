"""Try-on on the real hand plate: for each real ring photo, how it was photographed (those seen from the side
or lying down, and two rings together, are refused with a request for another photo), the width across the
finger against the ring size's outer width, the band measured on the finger against the band the brief
states, and a contact sheet (PNG) to look at. `python -m benchmarks.bench_try_on [OUT.png]`."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from benchmarks.realplates import REALDATA, clean_hand_plate

# (cutout, ring size, the band width a seller would state for it)
RINGS = [("cutouts/nishi_ring_RMIS017G1F.rgba.png", ("US", "10"), 8.0),
         ("cutouts/nishi_ring_RFSV015D1F.rgba.png", ("UK", "L½"), 2.0),
         ("jewelry_packshot/myntra_49056_ring.jpg", ("US", "7"), 2.0),
         ("jewelry_packshot/myntra_48927_ring.jpg", ("US", "7"), 2.0),
         ("jewelry_packshot/myntra_59459_ring.jpg", ("US", "7"), 2.0),
         ("jewelry_packshot/myntra_59468_ring.jpg", ("US", "7"), 2.0),
         *((f"masks/samlora_{name}.jpg", ("US", "7"), 2.0)
           for name in ("ring2", "ring4", "ring5", "ring6", "ring7", "ring8", "ring_test_1", "ring_test_2"))]


def main(out: str = "try_on_sheet.png") -> int:
    from pipelines import studio
    from pipelines.matting import cut_out
    from tools.models import Category, Dimensions
    from tools.sizing import inner_diameter_mm, ring_fit

    if not REALDATA.is_dir():
        print(f"skipped: {REALDATA} is absent")
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        plate_path, mask_path = clean_hand_plate(Path(tmp))
        plate = Image.open(plate_path).convert("RGB")
        anchor = studio.anchor_from_mask(Image.open(mask_path))
    body = np.asarray(cut_out(plate).rgba.getchannel("A")) > 127
    mm_per_px = 17.0 / anchor.span_px
    tiles = []
    print(f"{'ring':<34} {'view':<6} {'across mm':>10} {'measured':>9} {'band stated':>11} {'band on finger':>14}  result")
    for name, (system, size), band in RINGS:
        image = Image.open(REALDATA / name)
        cutout = image.convert("RGBA") if name.endswith(".rgba.png") else cut_out(image).rgba
        fit = ring_fit(Dimensions(inner_diameter_mm=inner_diameter_mm(system, size), band_width_mm=band), Category.ring)
        try:
            result = studio.composite_try_on(plate, cutout, anchor, product_width_mm=fit.across_mm,
                                             mm_per_px=mm_per_px, body_mask=body, size=(800, 800))
        except studio.StudioError as exc:
            view = studio.ring_view(studio.trim(cutout)[0])
            print(f"{Path(name).name:<34} {view:<6} {fit.across_mm:>10.2f} {'-':>9} {band:>11.1f} {'-':>14}  "
                  f"refused: {str(exc).split(',')[0]}")
            continue
        p = result.placed
        measured_band = result.params["band_width_mm_on_plate"]
        across = p.width * p.mm_per_px
        verdict = ("band within 10 %" if measured_band and abs(measured_band - band) <= 0.1 * band
                   else "band differs: warned" if measured_band
                   else f"loop view, turned {result.params.get('ring_turn') or 0:+.0f} deg: face on the finger")
        print(f"{Path(name).name:<34} {result.params['ring_view']:<6} {fit.across_mm:>10.2f} {across:>9.2f} "
              f"{band:>11.1f} {measured_band or 0:>14.2f}  {verdict}")
        zoom = result.image.crop((int(p.x) - 90, int(p.y) - 90, int(p.x + p.width) + 90, int(p.y + p.height) + 90))
        tile = zoom.resize((400, 400))
        ImageDraw.Draw(tile).text((6, 6), Path(name).stem[:40], fill=(0, 0, 0))
        tiles.append(tile)
    sheet = Image.new("RGB", (400 * max(1, len(tiles)), 400), "white")
    for i, tile in enumerate(tiles):
        sheet.paste(tile, (400 * i, 0))
    sheet.save(out)
    print(f"contact sheet: {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
