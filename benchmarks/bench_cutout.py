"""Cutout benchmark: the classical matting engine on real product cutouts with exact alpha, composited
onto studio backgrounds (white, light grey, gradient, textured off-white) with soft cast shadows.

Prints IoU (alpha > 0.5) per case, whether ring/hoop holes stayed open, and ms per megapixel.
Run: .venv/bin/python -m benchmarks.bench_cutout
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

REALDATA = Path(__file__).resolve().parents[1].parent / "shared" / "realdata"
BACKGROUNDS = ("white", "light_grey", "gradient", "textured")


def ground_truth_cutouts(realdata: Path = REALDATA) -> list[tuple[str, Image.Image]]:
    """The exact-alpha cutouts of ../shared/realdata (cutouts/ and masks/*.rgba.png)."""
    files = sorted((realdata / "cutouts").glob("*.rgba.png")) + sorted((realdata / "masks").glob("*.rgba.png"))
    return [(f.name.removesuffix(".rgba.png"), Image.open(f).convert("RGBA")) for f in files]


def background(kind: str, size: tuple[int, int], seed: int = 0) -> np.ndarray:
    """A studio background as float32 RGB (0..255)."""
    w, h = size
    rng = np.random.default_rng(seed)
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
        noise = rng.normal(0, 1, (h // 4 + 1, w // 4 + 1)).astype(np.float32)
        noise = np.asarray(Image.fromarray(noise).resize((w, h), Image.BICUBIC))
        fine = rng.normal(0, 1.2, (h, w)).astype(np.float32)
        bg = np.array([243, 239, 230], np.float32) + (2.5 * noise + fine)[..., None]
    else:
        raise ValueError(kind)
    return bg


def composite(cutout: Image.Image, kind: str, seed: int = 0, margin: float = 0.15) -> tuple[Image.Image, np.ndarray]:
    """Place the cutout on a background with a soft offset shadow; return (RGB photo, true alpha 0..1)."""
    w, h = cutout.size
    pw, ph = int(w * margin), int(h * margin)
    size = (w + 2 * pw, h + 2 * ph)
    bg = background(kind, size, seed)
    alpha_full = np.zeros((size[1], size[0]), np.float32)
    alpha_full[ph:ph + h, pw:pw + w] = np.asarray(cutout.getchannel("A"), np.float32) / 255.0
    # soft cast shadow: offset, blurred, 35 % darker at its core
    shadow = Image.fromarray((alpha_full * 255).astype(np.uint8)).filter(ImageFilter.GaussianBlur(max(2, w // 50)))
    shift = np.roll(np.roll(np.asarray(shadow, np.float32) / 255.0, h // 30, axis=0), w // 40, axis=1)
    bg = bg * (1 - 0.35 * shift[..., None])
    rgb_full = np.zeros((size[1], size[0], 3), np.float32)
    rgb_full[ph:ph + h, pw:pw + w] = np.asarray(cutout.convert("RGB"), np.float32)
    out = rgb_full * alpha_full[..., None] + bg * (1 - alpha_full[..., None])
    out += np.random.default_rng(seed + 1).normal(0, 1.0, out.shape)
    return Image.fromarray(np.clip(out, 0, 255).astype(np.uint8), "RGB"), alpha_full


def iou(pred: np.ndarray, truth: np.ndarray) -> float:
    a, b = pred > 0.5, truth > 0.5
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def holes_open(pred: np.ndarray, truth: np.ndarray) -> bool:
    """Every true hole (background enclosed by the product) is mostly background in the prediction."""
    import cv2

    bg = (truth <= 0.5).astype(np.uint8)
    count, labels = cv2.connectedComponents(bg, connectivity=4)
    border = set(np.unique(np.concatenate([labels[0], labels[-1], labels[:, 0], labels[:, -1]])))
    for label in range(1, count):
        if label in border:
            continue
        region = labels == label
        if region.sum() < 0.001 * truth.size:
            continue
        if (pred[region] > 0.5).mean() > 0.2:
            return False
    return True


def run(realdata: Path = REALDATA) -> list[dict]:
    from pipelines.matting import cut_out

    rows = []
    for name, cutout in ground_truth_cutouts(realdata):
        for i, kind in enumerate(BACKGROUNDS):
            photo, truth = composite(cutout, kind, seed=i)
            start, cpu = time.perf_counter(), time.process_time()
            result = cut_out(photo)
            seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
            pred = np.asarray(result.rgba.getchannel("A"), np.float32) / 255.0
            mp = photo.width * photo.height / 1e6
            rows.append({"case": name, "background": kind, "iou": iou(pred, truth), "holes_open": holes_open(pred, truth),
                         "ms_per_mp": 1000 * seconds / mp, "cpu_ms_per_mp": 1000 * cpu / mp, "kind": result.background, "confidence": result.confidence})
    return rows


def main(argv: list[str] | None = None) -> int:
    if not REALDATA.is_dir():
        print(f"skipped: {REALDATA} is absent")
        return 0
    rows = run()
    print(f"{'case':<34} {'background':<11} {'IoU':>6} {'holes':>6} {'ms/MP':>7} {'kind':>9} {'conf':>5}")
    for r in rows:
        print(f"{r['case']:<34} {r['background']:<11} {r['iou']:6.3f} {str(r['holes_open']):>6} {r['ms_per_mp']:7.0f} "
              f"{r['kind']:>9} {r['confidence']:5.2f}")
    mean_iou = float(np.mean([r["iou"] for r in rows]))
    holes = all(r["holes_open"] for r in rows)
    speed = float(np.mean([r["ms_per_mp"] for r in rows]))
    cpu = float(np.mean([r["cpu_ms_per_mp"] for r in rows]))
    print(f"\nmean IoU {mean_iou:.3f} (target >= 0.95), holes open {holes}, mean {speed:.0f} ms/MP wall, "
          f"{cpu:.0f} ms/MP CPU (target <= 300)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
