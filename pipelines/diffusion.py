"""The diffusion engine: load a local diffusers inpainting model, repaint masked regions, lock the product.

What lives here: finding and loading a model folder or hub id (`inspect_model`, `load_pipeline`, one
cached pipeline per process), device and dtype choice, seeded multi-candidate inpainting with a
CUDA out-of-memory fallback (`inpaint`), and the geometry every role shares: the generation size
(`native_size`, `generation_size`), the repaint masks (`outpaint_mask`, `seam_mask`) and the product
lock (`resample_cutout`, `lock_product`). What does not: SKUs, prompts from briefs, the catalog,
consent rules (those are in `tools/diffusion_render.py`).

Models: a local diffusers folder (model_index.json `_class_name` picks the family: SD / SDXL
inpainting, FLUX Fill, or a text-to-image SD / SDXL folder loaded as its inpainting variant) or a hub
id already in the Hugging Face cache (downloaded only when HF_HUB_OFFLINE is not set). A folder may
carry an IP-Adapter for reference conditioning (apparel on a model): `<model>/ip_adapter/<weights>`
(.safetensors or .bin) with its CLIP image encoder in `<model>/ip_adapter/image_encoder/` unless the
pipeline already lists an `image_encoder` (SD and SDXL families).

The product lock is the contract of this engine: after `lock_product`, the pixels inside the eroded
product mask are exactly the pixels of `resample_cutout(cutout, box size)`; the model only ever
paints around them.
"""

from __future__ import annotations

import json
import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

# model_index.json `_class_name` -> family. Text-to-image folders load as their inpainting variant.
FAMILIES: dict[str, str] = {
    "StableDiffusionInpaintPipeline": "sd-inpaint",
    "StableDiffusionXLInpaintPipeline": "sdxl-inpaint",
    "FluxFillPipeline": "flux-fill",
    "StableDiffusionPipeline": "sd",
    "StableDiffusionXLPipeline": "sdxl",
}
INPAINT_CLASS: dict[str, str] = {
    "sd-inpaint": "StableDiffusionInpaintPipeline",
    "sdxl-inpaint": "StableDiffusionXLInpaintPipeline",
    "flux-fill": "FluxFillPipeline",
    "sd": "AutoPipelineForInpainting",
    "sdxl": "AutoPipelineForInpainting",
}
# Per family: (steps, guidance) that give usable results; FLUX Fill is guidance-distilled (high value, no negative).
DEFAULTS: dict[str, tuple[int, float]] = {
    "sd-inpaint": (30, 7.0), "sd": (30, 7.0),
    "sdxl-inpaint": (30, 7.0), "sdxl": (30, 7.0),
    "flux-fill": (28, 30.0),
}
HOW_TO_POINT = (
    "pass --model PATH (a diffusers folder with model_index.json, e.g. a downloaded "
    "stable-diffusion-xl-1.0-inpainting-0.1 or stable-diffusion-inpainting) or set LISTING_STUDIO_MODEL; "
    "or use --engine studio, which needs no weights"
)
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
IP_ADAPTER_FOLDER = "ip_adapter"
IP_ADAPTER_SCALE = 0.6  # how strongly the reference image (the garment) steers the repainted region
WEIGHT_SUFFIXES = (".safetensors", ".bin")


class DiffusionUnavailable(RuntimeError):
    """The model, its weights or the memory to run it is missing. The message says what to do."""


class DiffusionInputError(ValueError):
    """An argument to the engine is out of range; the message names it and echoes the value."""


# -- finding a model ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    """What a model reference points to, read from its model_index.json (no weights loaded)."""

    source: str  # the folder or hub id as given
    folder: Path | None  # the local folder (a snapshot in the hub cache for hub ids), None if remote
    class_name: str
    family: str
    ip_adapter: Path | None = None  # weight file of an IP-Adapter inside the folder, if any
    hub: bool = False  # a hub id (loaded by id through the hub cache), not a local folder

    @property
    def name(self) -> str:
        return self.source if self.hub else Path(self.source).name


def hub_offline() -> bool:
    """Whether huggingface_hub was told not to reach the network (HF_HUB_OFFLINE, read by the library)."""
    from huggingface_hub import constants

    return bool(constants.HF_HUB_OFFLINE)


def inspect_model(model: str | Path | None, *, offline: bool | None = None) -> ModelInfo:
    """Resolve a model folder or hub id and detect its family; raise DiffusionUnavailable with the fix."""
    # 1. Nothing configured.
    if model is None or not str(model).strip():
        raise DiffusionUnavailable(f"the diffusers engine has no model configured: {HOW_TO_POINT}")
    source = str(model).strip()
    offline = hub_offline() if offline is None else offline
    path = Path(source).expanduser()
    hub = False

    # 2. A local folder.
    if path.exists() or not HUB_ID.match(source):
        if not path.exists():
            raise DiffusionUnavailable(f"no model folder at {source!r}: {HOW_TO_POINT}")
        if not path.is_dir():
            raise DiffusionUnavailable(f"model {source!r} is a file, not a diffusers folder: {HOW_TO_POINT}")
        index = path / "model_index.json"
        if not index.is_file():
            raise DiffusionUnavailable(
                f"{source!r} is not a diffusers model folder (it has no model_index.json): {HOW_TO_POINT}"
            )
        folder = path.resolve()
    # 3. A hub id: the local cache first; the network only when the user allows it.
    else:
        from huggingface_hub import hf_hub_download, try_to_load_from_cache

        cached = try_to_load_from_cache(source, "model_index.json")
        if isinstance(cached, str):
            index = Path(cached)
        elif offline:
            raise DiffusionUnavailable(
                f"model {source!r} is not in the local Hugging Face cache and HF_HUB_OFFLINE is set, so it "
                f"cannot be downloaded: download it once with network access, or {HOW_TO_POINT}"
            )
        else:
            try:
                index = Path(hf_hub_download(source, "model_index.json"))
            except Exception as exc:  # network errors, unknown repo, gated repo
                raise DiffusionUnavailable(f"cannot fetch model {source!r} from the hub ({exc}); {HOW_TO_POINT}") from None
        folder = index.parent
        hub = True

    # 4. The family, from model_index.json.
    try:
        class_name = str(json.loads(index.read_text(encoding="utf-8")).get("_class_name", ""))
    except (OSError, ValueError) as exc:
        raise DiffusionUnavailable(f"cannot read {index}: {exc}; {HOW_TO_POINT}") from None
    family = FAMILIES.get(class_name)
    if family is None:
        raise DiffusionUnavailable(
            f"model {source!r} is a {class_name or 'pipeline of unknown type'}; the diffusers engine needs "
            f"{', '.join(FAMILIES)} (an inpainting model, or a text-to-image SD/SDXL folder loaded for inpainting)"
        )
    return ModelInfo(source=source, folder=folder, class_name=class_name, family=family,
                     ip_adapter=None if hub else _find_ip_adapter(folder), hub=hub)


def _find_ip_adapter(folder: Path | None) -> Path | None:
    """The IP-Adapter weight file in `<model>/ip_adapter/`, if any."""
    if folder is None or not (folder / IP_ADAPTER_FOLDER).is_dir():
        return None
    weights = sorted(p for p in (folder / IP_ADAPTER_FOLDER).iterdir() if p.suffix in WEIGHT_SUFFIXES)
    return weights[0] if weights else None


# -- devices and loading -------------------------------------------------------------------------------


def pick_device(requested: str = "auto", family: str = "sd-inpaint"):
    """(device string, torch dtype): CUDA fp16 (bf16 for FLUX), MPS fp16, CPU fp32."""
    import torch

    if requested not in ("auto", "cpu", "cuda", "mps") and not requested.startswith("cuda:"):
        raise DiffusionInputError(f"device must be auto, cpu, cuda, cuda:N or mps, got {requested!r}")
    device = requested
    if requested == "auto":
        if torch.cuda.is_available():
            device = "cuda"
        elif getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            device = "mps"
        else:
            device = "cpu"
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise DiffusionUnavailable(f"device {requested!r} was asked for but torch sees no CUDA GPU; use --device cpu")
    if device == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise DiffusionUnavailable("device 'mps' was asked for but this torch build has no MPS support")
    if device.startswith("cuda"):
        bf16 = family == "flux-fill" and torch.cuda.is_bf16_supported()
        return device, (torch.bfloat16 if bf16 else torch.float16)
    if device == "mps":
        return device, torch.float16
    return device, torch.float32


@dataclass
class LoadedPipeline:
    """A diffusers pipeline ready to inpaint, and how it was set up."""

    pipe: object
    info: ModelInfo
    device: str
    dtype: object
    offload: str  # "none", "model" or "sequential"
    load_seconds: float
    ip_adapter: bool = False
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def family(self) -> str:
        return self.info.family

    @property
    def vae_scale_factor(self) -> int:
        return int(getattr(self.pipe, "vae_scale_factor", 8))

    @property
    def native_size(self) -> int:
        """The side the model was trained at: unet sample_size x VAE scale (512 SD 1.x, 1024 SDXL)."""
        unet = getattr(self.pipe, "unet", None)
        if unet is not None:
            sample = unet.config.sample_size
            sample = sample[0] if isinstance(sample, list | tuple) else sample
            return int(sample) * self.vae_scale_factor
        return int(getattr(self.pipe, "default_sample_size", 128)) * self.vae_scale_factor


_CACHE: dict[tuple, LoadedPipeline] = {}
_CACHE_LOCK = threading.Lock()


def load_pipeline(
    model: str | Path | None,
    *,
    device: str = "auto",
    offload: str = "auto",
    attention_slicing: bool = False,
    offline: bool | None = None,
) -> LoadedPipeline:
    """Load (or reuse) the one cached pipeline of this process. `offload`: auto, none, model, sequential."""
    import time

    # 1. Check inputs and resolve the model.
    if offload not in ("auto", "none", "model", "sequential"):
        raise DiffusionInputError(f"offload must be auto, none, model or sequential, got {offload!r}")
    info = inspect_model(model, offline=offline)
    device, dtype = pick_device(device, info.family)
    key = (info.source if info.hub else str(info.folder), device, str(dtype), offload, attention_slicing)
    with _CACHE_LOCK:
        if key in _CACHE:
            return _CACHE[key]
        # One pipeline per process: drop the previous one before loading another (GPU memory).
        _CACHE.clear()
        _empty_cuda_cache()

        # 2. Load the weights through from_pretrained (the folder, or the hub cache snapshot).
        import diffusers

        started = time.perf_counter()
        cls = getattr(diffusers, INPAINT_CLASS[info.family])
        local_only = (hub_offline() if offline is None else offline) or not info.hub
        location = info.source if info.hub else str(info.folder)
        try:
            pipe = cls.from_pretrained(location, local_files_only=local_only, **_dtype_kwarg(dtype))
        except (OSError, ValueError) as exc:
            raise DiffusionUnavailable(f"cannot load model {info.source!r}: {_first_line(exc)}; {HOW_TO_POINT}") from None

        # 3. Place it: offload on a small GPU, plain .to(device) otherwise.
        mode = offload
        if mode == "auto":
            mode = "model" if device.startswith("cuda") and _cuda_free_gib(device) < _needs_gib(info.family) else "none"
        if device == "cpu" or device == "mps":
            mode = "none"
        _place(pipe, device, mode)
        if attention_slicing:
            pipe.enable_attention_slicing()
        pipe.set_progress_bar_config(disable=True)

        # 4. Reference conditioning, when the folder carries an IP-Adapter.
        has_ip = False
        if info.ip_adapter is not None and info.family != "flux-fill" and hasattr(pipe, "load_ip_adapter"):
            try:
                # the image encoder: the pipeline's own when model_index.json lists one, else ip_adapter/image_encoder/
                pipe.load_ip_adapter(str(info.ip_adapter.parent), subfolder="", weight_name=info.ip_adapter.name,
                                     image_encoder_folder="image_encoder", local_files_only=True)
                pipe.set_ip_adapter_scale(IP_ADAPTER_SCALE)
                has_ip = True
            except Exception as exc:
                raise DiffusionUnavailable(
                    f"the IP-Adapter in {info.ip_adapter.parent} could not be loaded ({_first_line(exc)}); "
                    f"remove the {IP_ADAPTER_FOLDER}/ folder or add its image_encoder/"
                ) from None
        loaded = LoadedPipeline(pipe=pipe, info=info, device=device, dtype=dtype, offload=mode,
                                load_seconds=time.perf_counter() - started, ip_adapter=has_ip)
        _CACHE[key] = loaded
        return loaded


def clear_cache() -> None:
    """Forget the cached pipeline (tests, or before loading a different model by hand)."""
    with _CACHE_LOCK:
        _CACHE.clear()
    _empty_cuda_cache()


def _dtype_kwarg(dtype) -> dict:
    """diffusers >= 0.36 names it `dtype`; older releases `torch_dtype`."""
    try:
        from diffusers.utils.deprecation_utils import _resolve_dtype  # noqa: F401
    except ImportError:
        return {"torch_dtype": dtype}
    return {"dtype": dtype}


def _place(pipe, device: str, mode: str) -> None:
    if mode == "model":
        pipe.enable_model_cpu_offload(device=device)
    elif mode == "sequential":
        pipe.enable_sequential_cpu_offload(device=device)
    else:
        pipe.to(device)


def _needs_gib(family: str) -> float:
    return {"flux-fill": 34.0, "sdxl-inpaint": 10.0, "sdxl": 10.0}.get(family, 5.0)


def _cuda_free_gib(device: str) -> float:
    import torch

    free, _ = torch.cuda.mem_get_info(torch.device(device))
    return free / 2**30


def _empty_cuda_cache() -> None:
    import sys

    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available():
        torch.cuda.empty_cache()


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


# -- geometry: sizes, masks, the product lock ---------------------------------------------------------


def generation_size(width: int, height: int, native: int, multiple: int = 16) -> tuple[int, int]:
    """A size with the shot's aspect and about native² pixels, each side a multiple of `multiple`."""
    if width <= 0 or height <= 0:
        raise DiffusionInputError(f"width and height must be positive, got {width}x{height}")
    scale = math.sqrt(native * native / (width * height))
    w = max(multiple, int(round(width * scale / multiple)) * multiple)
    h = max(multiple, int(round(height * scale / multiple)) * multiple)
    return w, h


def resample_cutout(cutout: Image.Image, size: tuple[int, int]) -> Image.Image:
    """The cutout at `size` (RGBA, LANCZOS on premultiplied color): the pixels the lock guarantees."""
    if cutout.mode != "RGBA":
        raise DiffusionInputError(f"cutout must be an RGBA image, got mode {cutout.mode!r}")
    if cutout.size == tuple(size):
        return cutout.copy()
    return cutout.convert("RGBa").resize(tuple(size), Image.LANCZOS).convert("RGBA")


def place_on(canvas_size: tuple[int, int], cutout: Image.Image, box: tuple[int, int, int, int],
             background: Image.Image | tuple[int, int, int]) -> tuple[Image.Image, np.ndarray]:
    """Paste the resampled cutout at box (x, y, w, h) on a background; return (RGB image, alpha 0..1 full canvas)."""
    x, y, w, h = box
    layer = Image.new("RGBA", canvas_size, (0, 0, 0, 0))
    layer.paste(resample_cutout(cutout, (w, h)), (x, y))
    base = background.convert("RGB").resize(canvas_size) if isinstance(background, Image.Image) else \
        Image.new("RGB", canvas_size, tuple(background))
    base = base.convert("RGBA")
    base.alpha_composite(layer)
    return base.convert("RGB"), np.asarray(layer.getchannel("A"), dtype=np.float32) / 255.0


def outpaint_mask(alpha: np.ndarray, grow_px: int) -> Image.Image:
    """Repaint everything except the product grown by `grow_px` (white = repaint), as an L image."""
    import cv2

    solid = (alpha > 0.5).astype(np.uint8)
    if grow_px > 0:
        kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow_px + 1, 2 * grow_px + 1))
        solid = cv2.dilate(solid, kernel)
    return Image.fromarray(np.where(solid > 0, 0, 255).astype(np.uint8), "L")


def seam_mask(alpha: np.ndarray, outer_px: int, inner_px: int) -> Image.Image:
    """A ring around the product edge (outer_px outside, inner_px inside): where contact shadow and occlusion live."""
    import cv2

    solid = (alpha > 0.5).astype(np.uint8)
    grown = cv2.dilate(solid, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * outer_px + 1,) * 2))
    shrunk = cv2.erode(solid, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * inner_px + 1,) * 2)) if inner_px else solid
    return Image.fromarray(((grown > 0) & ~(shrunk > 0)).astype(np.uint8) * 255, "L")


def blend_seam(base: Image.Image, painted: Image.Image, ring: Image.Image) -> Locked:
    """`painted` (any size) blended over `base` through the grey `ring` mask (any size), both scaled to
    `base`'s size: only the ring changes; every pixel outside it is exactly `base`'s (`Locked.exact`)."""
    size = base.size
    weight = np.asarray(ring.convert("L").resize(size, Image.BILINEAR), dtype=np.float32)[..., None] / 255
    original = np.asarray(base.convert("RGB"))
    full = np.asarray(painted.convert("RGB").resize(size, Image.LANCZOS), dtype=np.float32)
    mixed = np.clip(np.round(original * (1 - weight) + full * weight), 0, 255).astype(np.uint8)
    untouched = weight[..., 0] == 0
    mixed[untouched] = original[untouched]
    return Locked(Image.fromarray(mixed, "RGB"), untouched, 1 - weight[..., 0])


def region_mask(mask: Image.Image | np.ndarray, grow_px: int = 0) -> Image.Image:
    """A binary L mask (white = the region) from any mask image, optionally grown."""
    import cv2

    array = np.asarray(mask.convert("L") if isinstance(mask, Image.Image) else mask)
    solid = (array > 127).astype(np.uint8)
    if grow_px > 0:
        solid = cv2.dilate(solid, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * grow_px + 1,) * 2))
    return Image.fromarray(solid * 255, "L")


@dataclass
class Locked:
    """A composite whose product pixels are the source's: `exact` marks where they are identical."""

    image: Image.Image
    exact: np.ndarray  # bool (H, W): pixels guaranteed equal to the resampled source
    alpha: np.ndarray  # float (H, W): the blend weight used (product = 1)


def lock_product(scene: Image.Image, cutout: Image.Image, box: tuple[int, int, int, int], *,
                 feather_px: float = 2.0) -> Locked:
    """Composite the source product at box (x, y, w, h) of `scene` with an inward-feathered edge.

    Blend weight = cutout alpha x a ramp that rises from 0 at the product's outline to 1 at
    `feather_px` inside it, so the seam melts into the generated scene while every pixel deeper
    than the feather (and fully opaque in the cutout) is copied exactly.
    """
    import cv2

    # 1. Check inputs.
    x, y, w, h = (int(v) for v in box)
    if w <= 0 or h <= 0:
        raise DiffusionInputError(f"box must have a positive size, got {box}")
    if feather_px < 0:
        raise DiffusionInputError(f"feather_px must be >= 0, got {feather_px}")
    scene = scene.convert("RGB")
    W, H = scene.size

    # 2. The product and its alpha, in the part of the box that lies on the canvas (nothing else changes).
    x0, y0, x1, y1 = max(0, x), max(0, y), min(W, x + w), min(H, y + h)
    out = np.array(scene, dtype=np.uint8)
    exact = np.zeros((H, W), dtype=bool)
    weight_full = np.zeros((H, W), dtype=np.float32)
    if x0 >= x1 or y0 >= y1:
        return Locked(image=Image.fromarray(out, "RGB"), exact=exact, alpha=weight_full)
    product = np.asarray(resample_cutout(cutout, (w, h)), dtype=np.uint8)[y0 - y:y1 - y, x0 - x:x1 - x]
    alpha = product[..., 3].astype(np.float32) / 255.0

    # 3. The inward feather ramp from the distance to the outline. A box edge inside the canvas is
    #    outline; where the canvas edge cuts the product off, the product goes on (no feather there).
    if feather_px > 0:
        inside = np.pad((alpha > 0).astype(np.uint8), 1, mode="edge")
        inside[0, :] *= y0 <= 0
        inside[-1, :] *= y1 >= H
        inside[:, 0] *= x0 <= 0
        inside[:, -1] *= x1 >= W
        distance = cv2.distanceTransform(inside, cv2.DIST_L2, 5)[1:-1, 1:-1]
        weight = alpha * np.clip(distance / float(feather_px), 0.0, 1.0)
    else:
        weight = alpha

    # 4. Blend; where weight is exactly 1 the product's bytes are copied, untouched by arithmetic.
    base = out[y0:y1, x0:x1].astype(np.float32)
    blended = base * (1.0 - weight[..., None]) + product[..., :3].astype(np.float32) * weight[..., None]
    region = np.clip(np.round(blended), 0, 255).astype(np.uint8)
    solid = weight >= 1.0
    region[solid] = product[..., :3][solid]
    out[y0:y1, x0:x1] = region
    exact[y0:y1, x0:x1] = solid
    weight_full[y0:y1, x0:x1] = weight
    return Locked(image=Image.fromarray(out, "RGB"), exact=exact, alpha=weight_full)


def lock_region(scene: Image.Image, source: Image.Image, keep: Image.Image, *, feather_px: float = 2.0) -> Locked:
    """Copy `source` pixels back where `keep` is white (same size images), feathered inward like the product."""
    if scene.size != source.size or keep.size != scene.size:
        raise DiffusionInputError(
            f"scene, source and keep mask must have one size, got {scene.size}, {source.size}, {keep.size}"
        )
    rgba = source.convert("RGB").copy()
    rgba.putalpha(region_mask(keep))
    return lock_product(scene, rgba, (0, 0, *scene.size), feather_px=feather_px)


# -- generation -------------------------------------------------------------------------------------------


@dataclass
class InpaintRequest:
    """One call: several candidates of one prompt over one image and mask, one seed per candidate."""

    image: Image.Image
    mask: Image.Image  # white = repaint
    prompt: str
    negative_prompt: str = ""
    seeds: Sequence[int] = (0,)
    num_inference_steps: int | None = None
    guidance_scale: float | None = None
    strength: float = 1.0
    reference: Image.Image | None = None  # IP-Adapter image (ignored when the model has none)
    batch_size: int | None = None


def check_inputs(loaded: LoadedPipeline, request: InpaintRequest) -> None:
    """Validate a request before any GPU work; messages name the parameter and echo the value."""
    multiple = loaded.vae_scale_factor * (2 if loaded.family == "flux-fill" else 1)
    w, h = request.image.size
    if request.mask.size != request.image.size:
        raise DiffusionInputError(f"mask size {request.mask.size} must equal image size {request.image.size}")
    if w % multiple or h % multiple:
        raise DiffusionInputError(f"image size {w}x{h} must be a multiple of {multiple} for {loaded.family}")
    if not request.seeds:
        raise DiffusionInputError("seeds must list at least one seed (one per candidate)")
    for seed in request.seeds:
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0 or seed >= 2**63:
            raise DiffusionInputError(f"each seed must be an int in [0, 2**63), got {seed!r}")
    if request.num_inference_steps is not None and not 1 <= request.num_inference_steps <= 200:
        raise DiffusionInputError(f"num_inference_steps must be 1..200, got {request.num_inference_steps}")
    if not 0.0 < request.strength <= 1.0:
        raise DiffusionInputError(f"strength must be in (0, 1], got {request.strength}")
    if request.batch_size is not None and request.batch_size < 1:
        raise DiffusionInputError(f"batch_size must be >= 1, got {request.batch_size}")
    if request.num_inference_steps is not None and request.strength * request.num_inference_steps < 1:
        raise DiffusionInputError(
            f"strength {request.strength} x num_inference_steps {request.num_inference_steps} leaves no denoising step"
        )


def inpaint(loaded: LoadedPipeline, request: InpaintRequest,
            progress: Callable[[int, int], None] | None = None) -> list[Image.Image]:
    """Repaint the white mask area, one image per seed (in seed order). CUDA OOM: smaller batch, then offload."""
    import torch

    # 1. Check inputs and settle the parameters.
    check_inputs(loaded, request)
    steps, guidance = DEFAULTS[loaded.family]
    steps = request.num_inference_steps or steps
    guidance = guidance if request.guidance_scale is None else request.guidance_scale
    seeds = list(request.seeds)
    batch = request.batch_size or (len(seeds) if loaded.device.startswith("cuda") else 1)
    kwargs = dict(image=request.image.convert("RGB"), mask_image=request.mask.convert("L"),
                  width=request.image.width, height=request.image.height, num_inference_steps=steps,
                  guidance_scale=guidance, strength=request.strength)
    if loaded.ip_adapter:
        # A UNet with an IP-Adapter always needs an image; with no reference it gets a neutral one at scale 0.
        reference = request.reference if request.reference is not None else Image.new("RGB", (224, 224), (128,) * 3)
        kwargs["ip_adapter_image"] = reference.convert("RGB")

    # 2. Run in batches; each candidate has its own generator (CPU, so seeds mean the same on any device).
    images: list[Image.Image] = []
    done = 0
    with loaded.lock:
        if loaded.ip_adapter:
            loaded.pipe.set_ip_adapter_scale(IP_ADAPTER_SCALE if request.reference is not None else 0.0)
        while done < len(seeds):
            chunk = seeds[done:done + batch]
            generators = [torch.Generator(device="cpu").manual_seed(s) for s in chunk]
            try:
                with torch.inference_mode():
                    if loaded.family != "flux-fill":
                        kwargs["negative_prompt"] = [request.negative_prompt] * len(chunk)
                    out = loaded.pipe(prompt=[request.prompt] * len(chunk), generator=generators,
                                      num_images_per_prompt=1, **kwargs)
            except torch.OutOfMemoryError:
                # 3. Out of memory: halve the batch; at one image, offload to the CPU; then give up clearly.
                _empty_cuda_cache()
                if batch > 1:
                    batch = max(1, batch // 2)
                    continue
                if loaded.offload == "none" and loaded.device.startswith("cuda"):
                    loaded.pipe.to("cpu")
                    _place(loaded.pipe, loaded.device, "model")
                    loaded.offload = "model"
                    continue
                if loaded.offload == "model":
                    _place(loaded.pipe, loaded.device, "sequential")
                    loaded.offload = "sequential"
                    continue
                raise DiffusionUnavailable(
                    f"the GPU ran out of memory rendering {request.image.width}x{request.image.height} with "
                    f"{loaded.info.source} even one image at a time with CPU offload; close other GPU programs, "
                    "use a smaller model, or set LISTING_STUDIO_DEVICE=cpu"
                ) from None
            images.extend(img.convert("RGB") for img in out.images)
            done += len(chunk)
            if progress is not None:
                progress(done, len(seeds))
    return images


# -- garment segmentation (model swap) ----------------------------------------------------------------------


@dataclass
class _Segmenter:
    folder: str
    pipe: object


_SEGMENTER: list[_Segmenter] = []


def segment_garment(image: Image.Image, model: str, labels: Sequence[str]) -> Image.Image:
    """White = pixels a clothes-parsing model (a local transformers folder) labels as one of `labels`."""
    # 1. Load the segmentation model once (the last one asked for).
    path = Path(model).expanduser()
    if not (path / "config.json").is_file():
        raise DiffusionUnavailable(
            f"no segmentation model folder at {model!r} (it needs config.json): point segmentation_model at a "
            "transformers image-segmentation folder (e.g. a SegFormer clothes-parsing model), or supply a garment mask"
        )
    with _CACHE_LOCK:
        if not _SEGMENTER or _SEGMENTER[0].folder != str(path):
            from transformers import pipeline

            try:
                pipe = pipeline("image-segmentation", model=str(path), device="cpu")
            except (OSError, ValueError) as exc:
                raise DiffusionUnavailable(f"cannot load segmentation model {model!r}: {_first_line(exc)}") from None
            _SEGMENTER[:] = [_Segmenter(str(path), pipe)]
        segmenter = _SEGMENTER[0].pipe

    # 2. Union of the garment labels' masks.
    wanted = {label.lower() for label in labels}
    keep = np.zeros((image.height, image.width), dtype=bool)
    for segment in segmenter(image.convert("RGB")):
        if str(segment.get("label", "")).lower() in wanted:
            keep |= np.asarray(segment["mask"].convert("L").resize(image.size, Image.NEAREST)) > 127
    return Image.fromarray(keep.astype(np.uint8) * 255, "L")
