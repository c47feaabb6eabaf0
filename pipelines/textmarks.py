"""Finding overlaid text and watermarks in a photo (a stock-photo mark across a hand, a caption, a logo
line), with the PP-OCR text detector that ships inside the `rapidocr-onnxruntime` wheel, run with
onnxruntime (no network, no recognition step). Image in, text lines (boxes) out.

A faint, semi-transparent watermark barely changes the colours, so the detector also looks at the photo's
fine detail on its own (the image minus its blur, amplified): printed letters are thin strokes there. A
detection counts as a line of text when it is a row of marks several times wider than tall; skin creases
and knuckles come out as compact blobs and are not text.
"""

from __future__ import annotations

import importlib.util
import threading
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from pipelines.threads import onnx_session_options

DETECTOR = "models/ch_PP-OCRv4_det_infer.onnx"  # inside the rapidocr_onnxruntime package folder
DETECT_LONG_SIDE = 960  # the detector's input, multiples of 32
PROBABILITY = 0.3  # text-probability threshold of the detector's map (the library's default)
LINE_SCORE = 0.8  # mean probability inside a kept line
LINE_ASPECT = 4.0  # width / height of a line of text (a word of 3+ letters)
DETAIL_SIGMA = 3.0  # px: the blur removed to see fine detail
DETAIL_GAIN = 6.0


class TextDetectorUnavailable(RuntimeError):
    """The detector model is not installed; the message says how to get it."""


@dataclass(frozen=True)
class TextLine:
    box: tuple[int, int, int, int]  # x0, y0, x1, y1 in image pixels
    score: float
    faint: bool  # found only in the fine detail (a semi-transparent watermark)


def detector_path() -> Path:
    """The detector's ONNX file inside the installed wheel (found without importing the package)."""
    spec = importlib.util.find_spec("rapidocr_onnxruntime")
    if spec is None or not spec.submodule_search_locations:
        raise TextDetectorUnavailable("the text detector is not installed: run `make install` "
                                      "(it installs rapidocr-onnxruntime, which ships the model)")
    path = Path(next(iter(spec.submodule_search_locations))) / DETECTOR
    if not path.is_file():
        raise TextDetectorUnavailable(f"the text detector model is missing from {path.parent}: reinstall "
                                      "rapidocr-onnxruntime")
    return path


_SESSION = None
_LOCK = threading.Lock()


def _session():
    global _SESSION
    with _LOCK:
        if _SESSION is None:
            import onnxruntime as ort

            _SESSION = ort.InferenceSession(str(detector_path()), onnx_session_options(ort), providers=["CPUExecutionProvider"])
        return _SESSION


def text_probability(image: Image.Image) -> np.ndarray:
    """The detector's per-pixel text probability (H, W) for an RGB image."""
    rgb = np.asarray(image.convert("RGB"), np.float32) / 255.0
    h, w = rgb.shape[:2]
    scale = DETECT_LONG_SIDE / max(h, w)
    size = (max(32, round(w * scale / 32) * 32), max(32, round(h * scale / 32) * 32))
    x = ((cv2.resize(rgb, size, interpolation=cv2.INTER_AREA) - 0.5) / 0.5).transpose(2, 0, 1)[None]
    session = _session()
    prob = session.run(None, {session.get_inputs()[0].name: x.astype(np.float32)})[0][0, 0]
    return cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR)


def fine_detail(image: Image.Image) -> Image.Image:
    """The photo minus its blur, amplified around mid grey: thin strokes (letters) stand out."""
    rgb = np.asarray(image.convert("RGB"), np.float32)
    detail = rgb - cv2.GaussianBlur(rgb, (0, 0), DETAIL_SIGMA)
    return Image.fromarray(np.clip(128 + DETAIL_GAIN * detail, 0, 255).astype(np.uint8), "RGB")


def _lines(prob: np.ndarray, min_width: int, faint: bool) -> list[TextLine]:
    count, labels, stats, _ = cv2.connectedComponentsWithStats((prob > PROBABILITY).astype(np.uint8))
    lines = []
    for i in range(1, count):
        x, y, w, h, _ = stats[i]
        if w < min_width or w < LINE_ASPECT * h:
            continue
        score = float(prob[labels == i].mean())
        if score >= LINE_SCORE:
            lines.append(TextLine((int(x), int(y), int(x + w), int(y + h)), round(score, 3), faint))
    return lines


def find_text(image: Image.Image) -> list[TextLine]:
    """Lines of overlaid text or watermark in the photo (empty when none)."""
    min_width = max(24, round(0.05 * image.width))
    found = _lines(text_probability(image), min_width, faint=False)
    for line in _lines(text_probability(fine_detail(image)), min_width, faint=True):
        if not any(_overlap(line.box, other.box) for other in found):
            found.append(line)
    return found


def _overlap(a, b) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]
