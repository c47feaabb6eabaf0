"""The content-addressed asset store and the one safe image loader every entry point uses.

`load_image` implements the "Bad input" policy of docs/architecture.md: it refuses what cannot be
used (empty, not an image, truncated, decompression bombs, more than 40 MP, animated) with a
message naming the file, and normalizes what can (CMYK, 16-bit, palette, alpha, ICC profiles to sRGB, EXIF rotation), saying
what it did in `notes`. The store keeps bytes under their sha256, written once, never modified.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image, ImageCms, ImageFile, ImageOps, UnidentifiedImageError

from tools.errors import BadInput, NotFound

MAX_PIXELS = 40_000_000
MAX_FILE_BYTES = 200 * 1024 * 1024
ACCEPTED_FORMATS = {"JPEG", "PNG", "WEBP", "TIFF", "BMP", "GIF", "MPO"}
_SRGB = ImageCms.createProfile("sRGB")

# Pillow must never hand back a half-decoded image as if it were whole.
ImageFile.LOAD_TRUNCATED_IMAGES = False


@dataclass
class LoadedImage:
    """A decoded, normalized image (mode RGB or RGBA, sRGB) and the original bytes it came from."""

    image: Image.Image
    data: bytes
    format: str
    name: str
    notes: list[str] = field(default_factory=list)

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.data).hexdigest()

    @property
    def has_alpha(self) -> bool:
        return self.image.mode == "RGBA"


def load_image(source: str | os.PathLike | bytes, name: str | None = None) -> LoadedImage:
    """Read and validate an image file (or bytes); return it as sRGB RGB/RGBA. Raises BadInput."""
    # 1. Read the bytes.
    if isinstance(source, bytes | bytearray):
        data, name = bytes(source), name or "upload"
    else:
        path = Path(source)
        name = name or str(source)
        if not path.exists():
            raise BadInput(f"{name}: no such file")
        if path.is_dir():
            raise BadInput(f"{name}: is a folder, not an image file")
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise BadInput(f"{name}: file is {size / 1e6:.0f} MB; the limit is {MAX_FILE_BYTES / 1e6:.0f} MB")
        data = path.read_bytes()
    if not data:
        raise BadInput(f"{name}: the file is empty; upload a JPEG, PNG or WebP photo")

    # 2. Identify it and check its size before decoding a single pixel.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        if isinstance(exc, UnidentifiedImageError):
            raise BadInput(f"{name}: not an image we can read; upload a JPEG, PNG or WebP photo") from None
        raise BadInput(f"{name}: refused as a decompression bomb (declared size too large)") from None
    except Exception:
        raise BadInput(f"{name}: not an image we can read; upload a JPEG, PNG or WebP photo") from None
    if image.format not in ACCEPTED_FORMATS:
        raise BadInput(f"{name}: {image.format} images are not supported; upload a JPEG, PNG or WebP photo")
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise BadInput(
            f"{name}: {width}x{height} is {width * height / 1e6:.1f} MP; the limit is {MAX_PIXELS / 1e6:.0f} MP, "
            "resize it first"
        )
    if width < 1 or height < 1:
        raise BadInput(f"{name}: has no pixels ({width}x{height})")
    if getattr(image, "is_animated", False) and getattr(image, "n_frames", 1) > 1 and image.format != "MPO":
        if image.format == "TIFF":  # a multi-page document (a scan, a contact sheet), not an animation
            raise BadInput(f"{name}: has {image.n_frames} pages; upload a single photo (one page)")
        raise BadInput(f"{name}: is animated ({image.n_frames} frames); upload a still photo")

    # 3. Decode fully; a truncated file fails here.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image.load()
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombWarning):
        raise BadInput(f"{name}: the file is truncated or corrupt (its image could not be read to the end); "
                       "export it again") from None

    notes: list[str] = []
    fmt = image.format

    # 4. Normalize: orientation, bit depth, palette, color space.
    transposed = ImageOps.exif_transpose(image)
    if transposed is not None and transposed.size != image.size or _orientation(image) not in (None, 1):
        notes.append(f"rotated upright from EXIF orientation {_orientation(image)}")
    image = transposed if transposed is not None else image

    icc = image.info.get("icc_profile")
    if image.mode == "CMYK" and icc:
        image = _icc_to_srgb(image, icc, notes)
    else:
        image = _to_8bit_rgb_or_rgba(image, notes)
        if icc and image.mode in ("RGB", "RGBA"):
            image = _icc_to_srgb(image, icc, notes)
    if image.mode not in ("RGB", "RGBA"):
        image = _to_8bit_rgb_or_rgba(image, notes)
    if image.mode == "RGBA":
        alpha = np.asarray(image.getchannel("A"))
        if alpha.min() == 255:
            image = image.convert("RGB")
        else:
            notes.append("kept its transparency (alpha channel)")
    return LoadedImage(image=image, data=data, format=fmt, name=name, notes=notes)


def _orientation(image: Image.Image) -> int | None:
    try:
        return image.getexif().get(0x0112)
    except Exception:
        return None


def _to_8bit_rgb_or_rgba(image: Image.Image, notes: list[str]) -> Image.Image:
    mode = image.mode
    if mode in ("RGB", "RGBA"):
        return image
    if mode == "CMYK":
        notes.append("converted from CMYK to sRGB")
        return image.convert("RGB")
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        array = np.asarray(image, dtype=np.float64)
        peak = 65535.0 if mode.startswith("I;16") or array.max() > 255 else 255.0
        notes.append("converted from 16-bit to 8-bit")
        gray = np.clip(np.round(array / peak * 255.0), 0, 255).astype(np.uint8)
        return Image.fromarray(gray, "L").convert("RGB")
    if mode == "F":
        array = np.asarray(image, dtype=np.float64)
        notes.append("converted from floating point to 8-bit")
        scale = 255.0 if array.max() <= 1.0 else 1.0
        return Image.fromarray(np.clip(array * scale, 0, 255).astype(np.uint8), "L").convert("RGB")
    if mode in ("P", "PA"):
        notes.append("converted from a palette image")
        has_alpha = mode == "PA" or "transparency" in image.info
        return image.convert("RGBA" if has_alpha else "RGB")
    if mode in ("LA", "La", "RGBa"):
        return image.convert("RGBA")
    if mode in ("L", "1", "YCbCr", "LAB", "HSV"):
        if mode not in ("L", "1"):
            notes.append(f"converted from {mode}")
        return image.convert("RGB")
    notes.append(f"converted from {mode}")
    return image.convert("RGB")


def _icc_to_srgb(image: Image.Image, icc: bytes, notes: list[str]) -> Image.Image:
    try:
        profile = ImageCms.ImageCmsProfile(io.BytesIO(icc))
    except Exception:
        notes.append("ignored an unreadable ICC profile (assumed sRGB)")
        return image
    description = (ImageCms.getProfileDescription(profile) or "").strip()
    if "srgb" in description.lower() and image.mode != "CMYK":
        return image
    alpha = image.getchannel("A") if image.mode == "RGBA" else None
    source = image if image.mode == "CMYK" else image.convert("RGB")
    try:
        converted = ImageCms.profileToProfile(source, profile, _SRGB, outputMode="RGB")
    except Exception:
        # A profile that does not match the pixels, or a broken one: fall back to a plain conversion.
        notes.append(f"could not apply ICC profile {description!r}; assumed sRGB")
        return _to_8bit_rgb_or_rgba(image, notes)
    notes.append(f"converted from ICC profile {description!r} to sRGB")
    if alpha is not None:
        converted.putalpha(alpha)
    return converted


class AssetStore:
    """Files named by the sha256 of their bytes under `root`; written once, never modified."""

    EXTENSIONS = ("png", "jpg", "webp", "tif", "bmp", "gif")
    DECODED_PIXELS = 16_000_000  # recently opened assets kept decoded (a render and its check reopen them)

    def __init__(self, root: str | os.PathLike):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self._decoded: OrderedDict[str, Image.Image] = OrderedDict()
        self._lock = threading.Lock()

    def put_bytes(self, data: bytes, ext: str) -> str:
        ext = ext.lower().lstrip(".")
        ext = {"jpeg": "jpg", "tiff": "tif", "mpo": "jpg"}.get(ext, ext)
        if ext not in self.EXTENSIONS:
            raise BadInput(f"cannot store a .{ext} asset")
        digest = hashlib.sha256(data).hexdigest()
        target = self.root / digest[:2] / f"{digest}.{ext}"
        if target.exists():
            return digest
        target.parent.mkdir(parents=True, exist_ok=True)
        # Write to a temp file and rename, so a crash never leaves a partial asset under its final name.
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=".tmp-")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
            os.chmod(target, 0o444)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return digest

    def put_image(self, image: Image.Image, fmt: str = "PNG", **save_args) -> str:
        """Store a PIL image (PNG by default, lossless) and return its asset id."""
        buffer = io.BytesIO()
        if fmt.upper() in ("JPEG", "JPG") and image.mode not in ("RGB", "L"):
            image = image.convert("RGB")
        image.save(buffer, format=fmt, **save_args)
        return self.put_bytes(buffer.getvalue(), fmt)

    def put_loaded(self, loaded: LoadedImage) -> str:
        """Store an uploaded original exactly as it arrived."""
        return self.put_bytes(loaded.data, loaded.format or "png")

    def path(self, asset_id: str) -> Path:
        if not asset_id or len(asset_id) != 64 or any(c not in "0123456789abcdef" for c in asset_id):
            raise NotFound(f"invalid asset id {asset_id!r}")
        folder = self.root / asset_id[:2]
        for ext in self.EXTENSIONS:
            candidate = folder / f"{asset_id}.{ext}"
            if candidate.exists():
                return candidate
        raise NotFound(f"asset {asset_id} is not in the store at {self.root}")

    def exists(self, asset_id: str) -> bool:
        try:
            self.path(asset_id)
            return True
        except NotFound:
            return False

    def open(self, asset_id: str) -> Image.Image:
        """Open a stored asset (already validated when stored) as RGB or RGBA: a fresh copy the caller may
        change. An asset's bytes never change, so the last few decoded ones are kept and copied."""
        path = self.path(asset_id)
        with self._lock:
            cached = self._decoded.get(asset_id)
            if cached is not None:
                self._decoded.move_to_end(asset_id)
                return cached.copy()
        image = load_image(path).image
        with self._lock:
            self._decoded[asset_id] = image
            while sum(im.width * im.height for im in self._decoded.values()) > self.DECODED_PIXELS \
                    and len(self._decoded) > 1:
                self._decoded.popitem(last=False)
        return image.copy()
