"""Cutout benchmark: the matting engine against ground truth, side by side with u2netp alone.

Sets (every product of ../shared/realdata with an exact alpha: cutouts/ and masks/*.rgba.png):
- studio: each product composited on white, light grey, a gradient, mid-grey paper and light wood,
  with a soft offset shadow and sensor noise, saved as JPEG q92;
- white_on_white: each product made to look like polished metal / white enamel (desaturated and
  lifted to a light grey, its dark reflections and speculars kept) on white and on light grey;
- reflection: each product standing on a glossy white / light-grey floor: its mirror image below its
  foot, dimmed to 35-60 % and fading out over half its height (the truth is the product alone);
- real: the real photos of masks/ with their masks (ring masks are coarse hand-drawn outlines).
Metrics per case: IoU (alpha > 127), hole recall (share of true-hole pixels left transparent), edge
error (mean |alpha error| in a 5 px band around the true edge), halo (mean dE00 of the product's outer
2 px composited on a dark backdrop against the true foreground; "light" is its part where ours is the
lighter, i.e. a rim of the old backdrop rather than an eroded edge), CPU ms per megapixel (all photos;
"mat ms/MP" where the neural map did not run, the studio target's path; "nn s" the wall seconds per photo
where it ran, the other speed target; "nn%" how many photos of the set needed it).
Products are split in two halves by name (dev / held-out: limits were chosen on dev); both are reported.

Run: .venv/bin/python -m benchmarks.bench_cutout [--quick] [--sets studio,white_on_white,reflection,real] [--no-u2netp] [--json]
     (writes benchmarks/out/bench_cutout.json)
"""

from __future__ import annotations

import argparse
import io
import json
import sys
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
OUT = Path(__file__).resolve().parent / "out"
BACKGROUNDS = ("white", "light_grey", "gradient", "textured", "paper", "wood")
STUDIO = ("white", "light_grey", "gradient", "paper", "wood")
WHITE_ON_WHITE = ("white", "light_grey")
TARGETS = {"studio_iou": 0.95, "white_on_white_iou": 0.93, "wood_iou": 0.85, "hole_recall": 0.95, "halo": 5.0,
           "studio_cpu_ms_per_mp": 400.0, "neural_s_per_photo": 1.5}


def ground_truth_cutouts(realdata: Path = REALDATA) -> list[tuple[str, Image.Image]]:
    """The exact-alpha cutouts of ../shared/realdata (cutouts/ and masks/*.rgba.png)."""
    files = sorted((realdata / "cutouts").glob("*.rgba.png")) + sorted((realdata / "masks").glob("*.rgba.png"))
    return [(f.name.removesuffix(".rgba.png"), Image.open(f).convert("RGBA")) for f in files]


def held_out(name: str) -> bool:
    """The product's half: a stable hash of its name (about half the products are held out)."""
    return zlib.crc32(name.encode()) % 2 == 1


def background(kind: str, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A background as float32 RGB (0..255)."""
    w, h = size
    rng = np.random.default_rng(seed)

    def smooth_noise(cell: int, amp: float) -> np.ndarray:
        noise = rng.normal(0, 1, (h // cell + 2, w // cell + 2)).astype(np.float32)
        return amp * np.asarray(Image.fromarray(noise).resize((w, h), Image.BICUBIC))

    if kind == "white":
        bg = np.full((h, w, 3), 252.0, np.float32)
    elif kind == "light_grey":
        bg = np.full((h, w, 3), (226.0, 226.0, 229.0), np.float32)
    elif kind == "gradient":
        yy = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
        xx = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
        top, bottom = np.array([246, 244, 240], np.float32), np.array([205, 208, 214], np.float32)
        bg = top * (1 - yy) + bottom * yy + 8 * (xx - 0.5)
        bg = np.broadcast_to(bg, (h, w, 3)).copy()
    elif kind == "textured":
        fine = rng.normal(0, 1.2, (h, w)).astype(np.float32)
        bg = np.array([243, 239, 230], np.float32) + (smooth_noise(4, 2.5) + fine)[..., None]
    elif kind == "paper":  # mid-grey paper: soft mottling and fine fibres
        fibres = rng.normal(0, 2.0, (h, w)).astype(np.float32)
        bg = np.array([138, 136, 132], np.float32) + (smooth_noise(24, 3.0) + fibres)[..., None]
    elif kind == "wood":  # light wood: warped grain stripes, planks, fine noise
        yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
        warp = smooth_noise(max(8, h // 12), 18.0)
        grain = np.sin((yy + warp) / max(3.0, h / 90.0)) * 0.5 + 0.5
        rings = np.sin((yy + 2.5 * warp) / max(9.0, h / 25.0)) * 0.5 + 0.5
        plank = ((xx // max(40, w // 4)) % 2) * 6.0
        tone = 0.55 * grain + 0.45 * rings
        base = np.array([214, 178, 132], np.float32)
        bg = base - (tone * 28.0 + plank)[..., None] * np.array([1.0, 1.1, 1.3], np.float32)
        bg += rng.normal(0, 1.5, (h, w, 1)).astype(np.float32)
    else:
        raise ValueError(kind)
    return bg


def metallic(cutout: Image.Image) -> Image.Image:
    """The product made to look like polished metal / white enamel: desaturated and lifted to a light
    grey, its darkest reflections and brightest speculars kept."""
    arr = np.asarray(cutout).astype(np.float32)
    grey = arr[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
    solid = arr[..., 3] > 127
    lo, hi = (np.percentile(grey[solid], [12, 96]) if solid.any() else (0.0, 255.0))
    lifted = 236.0 - (236.0 - grey) * 0.35  # most of the surface: a light grey close to the backdrop
    out = np.where(grey <= lo, 0.5 * grey + 60.0, lifted)  # dark reflections stay dark
    out = np.where(grey >= hi, 252.0, out)  # speculars
    rgb = np.repeat(np.clip(out, 0, 255)[..., None], 3, axis=2)
    return Image.fromarray(np.dstack([rgb, arr[..., 3]]).astype(np.uint8), "RGBA")


def composite(cutout: Image.Image, kind: str, seed: int = 0, margin: float = 0.15,
              jpeg: int | None = None, mirror: float = 0.0) -> tuple[Image.Image, np.ndarray]:
    """Place the cutout on a background with a soft offset shadow (or, with `mirror` > 0, its reflection on a
    glossy floor, that share of its light at its foot); return (RGB photo, true alpha 0..1)."""
    w, h = cutout.size
    pw, ph = int(w * margin), int(h * margin)
    size = (w + 2 * pw, h + 2 * ph)
    bg = background(kind, size, seed)
    alpha_full = np.zeros((size[1], size[0]), np.float32)
    alpha_full[ph:ph + h, pw:pw + w] = np.asarray(cutout.getchannel("A"), np.float32) / 255.0
    rgb_full = np.zeros((size[1], size[0], 3), np.float32)
    rgb_full[ph:ph + h, pw:pw + w] = np.asarray(cutout.convert("RGB"), np.float32)
    if mirror:
        bg = _glossy_floor(rgb_full, alpha_full, bg, h, mirror)
    else:  # soft cast shadow: offset, blurred, 35 % darker at its core
        shadow = Image.fromarray((alpha_full * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(max(2, w // 50)))
        shift = np.roll(np.roll(np.asarray(shadow, np.float32) / 255.0, h // 30, axis=0), w // 40, axis=1)
        bg = bg * (1 - 0.35 * shift[..., None])
    out = rgb_full * alpha_full[..., None] + bg * (1 - alpha_full[..., None])
    out += np.random.default_rng(seed + 1).normal(0, 1.0, out.shape)
    photo = Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB")
    if jpeg:
        buffer = io.BytesIO()
        photo.save(buffer, format="JPEG", quality=jpeg)
        photo = Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")
    return photo, alpha_full


def _glossy_floor(rgb_full: np.ndarray, alpha_full: np.ndarray, bg: np.ndarray, height: int, gain: float) -> np.ndarray:
    """The background as a glossy floor: below the product's foot its mirror image, `gain` of its light there,
    fading out over half the product's `height`."""
    foot = int(np.flatnonzero(alpha_full.max(1) > 0.5)[-1])
    rows = np.arange(1, min(height, alpha_full.shape[0] - 1 - foot) + 1)
    fade = gain * np.clip(1.0 - rows / (0.5 * height), 0.0, 1.0)
    mirrored_alpha = np.zeros_like(alpha_full)
    mirrored_rgb = np.zeros_like(rgb_full)
    mirrored_alpha[foot + rows] = alpha_full[foot - rows + 1] * fade[:, None]
    mirrored_rgb[foot + rows] = rgb_full[foot - rows + 1]
    return mirrored_rgb * mirrored_alpha[..., None] + bg * (1 - mirrored_alpha[..., None])


def true_foreground(cutout: Image.Image, shape: tuple[int, int], margin: float = 0.15) -> np.ndarray:
    """The cutout's own colours placed where composite() put them (uint8 RGB)."""
    w, h = cutout.size
    pw, ph = int(w * margin), int(h * margin)
    fg = np.zeros((*shape, 3), np.uint8)
    fg[ph:ph + h, pw:pw + w] = np.asarray(cutout.convert("RGB"))
    return fg


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    a, b = pred > 0.5, truth > 0.5
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def _true_holes(truth: np.ndarray) -> np.ndarray:
    """Background enclosed by the product (not connected to the frame's border), of a visible size."""
    import cv2

    bg = (truth <= 0.5).astype(np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(bg, connectivity=4)
    border = np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]]))
    hole = stats[:, cv2.CC_STAT_AREA] >= 0.001 * truth.size
    hole[0] = False
    hole[border] = False
    return hole[labels] & bg.astype(bool)


def holes_open(pred: np.ndarray, truth: np.ndarray) -> bool:
    """Every true hole (background enclosed by the product) is mostly background in the prediction."""
    import cv2

    holes = _true_holes(truth)
    count, labels = cv2.connectedComponents(holes.astype(np.uint8), connectivity=4)
    return all((pred[labels == label] > 0.5).mean() <= 0.2 for label in range(1, count))


def hole_recall(pred: np.ndarray, truth: np.ndarray) -> float | None:
    """Share of true-hole pixels that are transparent; None when the product has no hole."""
    holes = _true_holes(truth)
    return float((pred[holes] <= 0.5).mean()) if holes.any() else None


def edge_error(pred: np.ndarray, truth: np.ndarray, band: int = 5) -> float:
    """Mean |alpha error| within `band` px of the true edge."""
    import cv2

    solid = (truth > 0.5).astype(np.uint8)
    kernel = np.ones((3, 3), np.uint8)
    ring = cv2.dilate(solid, kernel, iterations=band).astype(bool) & ~cv2.erode(solid, kernel, iterations=band).astype(bool)
    return float(np.abs(pred[ring] - truth[ring]).mean()) if ring.any() else 0.0


def halo(rgba: np.ndarray, fg_true: np.ndarray, truth: np.ndarray, dark=(20, 22, 28)) -> float:
    """Mean dE00 of the product's outer 2 px composited on a dark backdrop, ours against the truth."""
    return halo_parts(rgba, fg_true, truth, dark)[0]


def halo_parts(rgba: np.ndarray, fg_true: np.ndarray, truth: np.ndarray, dark=(20, 22, 28)) -> tuple[float, float]:
    """(halo, its light part): the light part counts only the rim pixels where ours is lighter than the
    truth on the dark backdrop (a rim of the light old background); the rest is an edge that came out
    darker (eroded), e.g. where the true cutout carries a light fringe of its own."""
    import cv2
    from skimage.color import deltaE_ciede2000, rgb2lab

    solid = (truth > 0.5).astype(np.uint8)
    rim = solid.astype(bool) & ~cv2.erode(solid, np.ones((3, 3), np.uint8), iterations=2).astype(bool)
    if not rim.any():
        return 0.0, 0.0
    backdrop = np.array(dark, np.float32) / 255.0
    a = rgba[..., 3][rim].astype(np.float32)[:, None] / 255.0
    ours = rgba[..., :3][rim].astype(np.float32) / 255.0 * a + backdrop * (1 - a)
    t = truth[rim][:, None]
    true = fg_true[rim].astype(np.float32) / 255.0 * t + backdrop * (1 - t)
    lab_ours, lab_true = rgb2lab(ours[None]), rgb2lab(true[None])
    de = deltaE_ciede2000(lab_ours, lab_true)[0]
    lighter = lab_ours[0, :, 0] > lab_true[0, :, 0]
    return float(de.mean()), float(np.where(lighter, de, 0.0).mean())


SETS = ("studio", "white_on_white", "reflection", "real")


def _cases(realdata: Path, quick: bool, sets=SETS):
    """(set, name, background, photo, true alpha, true foreground or None)."""
    products = ground_truth_cutouts(realdata)
    for i, (name, cutout) in enumerate(products):
        for j, kind in enumerate(STUDIO if not quick else ("white", "wood")):
            if "studio" in sets:
                photo, truth = composite(cutout, kind, seed=i * 10 + j, jpeg=92)
                yield "studio", name, kind, photo, truth, true_foreground(cutout, truth.shape)
        metal = metallic(cutout)
        for j, kind in enumerate(WHITE_ON_WHITE if not quick else ("white",)):
            if "white_on_white" in sets:
                photo, truth = composite(metal, kind, seed=i * 10 + 5 + j, jpeg=92)
                yield "white_on_white", name, kind, photo, truth, true_foreground(metal, truth.shape)
        for j, kind in enumerate(WHITE_ON_WHITE if not quick else ("white",)):
            if "reflection" in sets:
                gain = 0.35 + 0.25 * ((i + j) % 3) / 2
                photo, truth = composite(cutout, kind, seed=i * 10 + 7 + j, jpeg=92, mirror=gain)
                yield "reflection", name, kind, photo, truth, true_foreground(cutout, truth.shape)
    if "real" not in sets:
        return
    for mask_file in sorted((realdata / "masks").glob("*.mask.png"))[: 3 if quick else None]:
        stem = mask_file.name.removesuffix(".mask.png")
        photo_file = next((p for p in (realdata / "masks").glob(stem + ".*")
                           if p.suffix in (".jpg", ".png") and ".mask" not in p.name and ".rgba" not in p.name), None)
        if photo_file is None:
            continue
        photo = Image.open(photo_file).convert("RGB")
        truth = np.asarray(Image.open(mask_file).convert("L").resize(photo.size), np.float32) / 255.0
        yield "real", stem, "photo", photo, truth, None


def _measure(pred_rgba: np.ndarray, truth: np.ndarray, fg_true) -> dict:
    pred = pred_rgba[..., 3].astype(np.float32) / 255.0
    halo_all, halo_light = halo_parts(pred_rgba, fg_true, truth) if fg_true is not None else (None, None)
    return {"iou": iou(pred, truth), "hole_recall": hole_recall(pred, truth), "edge_error": edge_error(pred, truth),
            "halo": halo_all, "halo_light": halo_light}


def run(realdata: Path = REALDATA, quick: bool = False, sets=SETS, u2netp_alone: bool = True) -> list[dict]:
    from pipelines.matting import MattingError, cut_out
    from pipelines.segmentation import load_segmenter

    u2netp = load_segmenter()
    rows = []
    for set_name, name, kind, photo, truth, fg_true in _cases(realdata, quick, sets):
        mp = photo.width * photo.height / 1e6
        row = {"set": set_name, "case": name, "background": kind, "held_out": held_out(name)}
        # 1. our engine
        cpu, wall, result = time.process_time(), time.perf_counter(), None
        try:
            result = cut_out(photo)
            rgba = np.asarray(result.rgba)
            row |= {"kind": result.background, "method": result.method, "confidence": round(result.confidence, 3)}
        except MattingError as exc:
            rgba = np.zeros((photo.height, photo.width, 4), np.uint8)
            row |= {"kind": "refused", "method": "refused", "confidence": 0.0, "error": str(exc)[:80]}
        row["cpu_ms_per_mp"] = 1000 * (time.process_time() - cpu) / mp
        row["wall_s"] = time.perf_counter() - wall
        row["neural_ran"] = bool(result is not None and result.neural_map)
        row |= _measure(rgba, truth, fg_true)
        # 2. u2netp alone (its map as the alpha, the photo's own colours)
        if not u2netp_alone:
            row |= {"u2netp_cpu_s": None} | {f"u2netp_{k}": None for k in ("iou", "hole_recall", "edge_error", "halo",
                                                                          "halo_light")}
            rows.append(row)
            print(_line(row), flush=True)
            continue
        cpu = time.process_time()
        prob = u2netp.predict(np.asarray(photo)).probability
        row["u2netp_cpu_s"] = time.process_time() - cpu
        u2 = np.dstack([np.asarray(photo), np.clip(prob * 255 + 0.5, 0, 255).astype(np.uint8)])
        row |= {f"u2netp_{k}": v for k, v in _measure(u2, truth, fg_true).items()}
        rows.append(row)
        print(_line(row), flush=True)
    return rows


def _fmt(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _line(r: dict) -> str:
    return (f"{r['set']:<14} {r['case']:<28} {r['background']:<10} {'H' if r['held_out'] else 'D'} "
            f"{r['iou']:6.3f} {_fmt(r['hole_recall'], '6.2f'):>6} {r['edge_error']:6.3f} {_fmt(r['halo'], '5.1f'):>5} "
            f"{r['cpu_ms_per_mp']:6.0f} {r['method']:<14} | u2netp {_fmt(r['u2netp_iou'], '6.3f')} "
            f"{_fmt(r['u2netp_hole_recall'], '6.2f'):>6} {_fmt(r['u2netp_edge_error'], '6.3f')}")


def summary(rows: list[dict]) -> list[dict]:
    """Means per set (studio split by background kind: wood apart) and half."""
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        group = r["set"] if r["set"] != "studio" else ("wood" if r["background"] == "wood" else "studio")
        for half in ("dev" if not r["held_out"] else "held_out", "all"):
            groups.setdefault((group, half), []).append(r)
    out = []
    for (group, half), items in sorted(groups.items()):
        def mean(key, items=items):
            values = [r[key] for r in items if r.get(key) is not None]
            return float(np.mean(values)) if values else None
        holes = [r["hole_recall"] for r in items if r["hole_recall"] is not None]
        matting_only = [r["cpu_ms_per_mp"] for r in items if not r.get("neural_ran")]
        with_neural = [r["wall_s"] for r in items if r.get("neural_ran")]
        out.append({"set": group, "half": half, "n": len(items), "iou": mean("iou"), "min_iou": min(r["iou"] for r in items),
                    "hole_recall": float(np.mean(holes)) if holes else None, "edge_error": mean("edge_error"),
                    "halo": mean("halo"), "halo_light": mean("halo_light"), "cpu_ms_per_mp": mean("cpu_ms_per_mp"),
                    "matting_ms_per_mp": float(np.mean(matting_only)) if matting_only else None,
                    "neural_s_per_photo": float(np.mean(with_neural)) if with_neural else None,
                    "neural_share": len(with_neural) / len(items), "u2netp_iou": mean("u2netp_iou"),
                    "u2netp_edge_error": mean("u2netp_edge_error"), "u2netp_hole_recall": mean("u2netp_hole_recall"),
                    "u2netp_cpu_s": mean("u2netp_cpu_s"),
                    "refused": sum(1 for r in items if r["method"] == "refused")})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="bench_cutout")
    parser.add_argument("--quick", action="store_true", help="a subset: white and wood only, three real photos")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("--sets", default=",".join(SETS),
                        help=f"comma-separated sets to run (default: all of {','.join(SETS)})")
    parser.add_argument("--no-u2netp", action="store_true", help="skip the u2netp-alone comparison (faster)")
    args = parser.parse_args(argv)
    sets = tuple(x.strip() for x in args.sets.split(",") if x.strip())
    if unknown := [x for x in sets if x not in SETS]:
        parser.error(f"unknown set {unknown[0]!r}; choose from {', '.join(SETS)}")
    if not REALDATA.is_dir():
        print(f"skipped: {REALDATA} is absent")
        return 0
    print(f"{'set':<14} {'case':<28} {'background':<10} H    IoU  holes   edge  halo  ms/MP method         | "
          f"u2netp   IoU  holes   edge")
    rows = run(quick=args.quick, sets=sets, u2netp_alone=not args.no_u2netp)
    table = summary(rows)
    print(f"\n{'set':<15} {'half':<9} {'n':>3} {'IoU':>6} {'min':>6} {'holes':>6} {'edge':>6} {'halo':>5} "
          f"{'light':>5} {'ms/MP':>6} {'mat ms/MP':>9} {'nn s':>5} {'nn%':>4} | {'u2 IoU':>6} {'u2 edge':>7} "
          f"{'u2 holes':>8} {'u2 s':>5} refused")
    for s in table:
        print(f"{s['set']:<15} {s['half']:<9} {s['n']:3d} {s['iou']:6.3f} {s['min_iou']:6.3f} "
              f"{_fmt(s['hole_recall'], '6.2f'):>6} {s['edge_error']:6.3f} {_fmt(s['halo'], '5.1f'):>5} "
              f"{_fmt(s['halo_light'], '5.1f'):>5} {s['cpu_ms_per_mp']:6.0f} {_fmt(s['matting_ms_per_mp'], '9.0f'):>9} "
              f"{_fmt(s['neural_s_per_photo'], '5.2f'):>5} {s['neural_share']:4.0%} | {_fmt(s['u2netp_iou'], '6.3f')} {_fmt(s['u2netp_edge_error'], '7.3f')} "
              f"{_fmt(s['u2netp_hole_recall'], '8.2f'):>8} {_fmt(s['u2netp_cpu_s'], '5.2f')} {s['refused']}")
    print("targets: " + ", ".join(f"{k} {v}" for k, v in TARGETS.items()) + "; edge error <= half of u2netp's")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "bench_cutout.json").write_text(json.dumps({"rows": rows, "summary": table}, indent=1))
    if args.json:
        print(json.dumps(table))
    return 0


if __name__ == "__main__":
    sys.exit(main())
