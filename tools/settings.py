"""One typed Settings object, read at the edge (environment + CLI flags) and passed down explicitly.

No other module reads the environment. Every variable is listed in `ENVIRONMENT` (and the README).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Literal

from tools.errors import BadInput

# variable -> (Settings field, meaning). The README's configuration table mirrors this.
ENVIRONMENT: dict[str, tuple[str, str]] = {
    "LISTING_STUDIO_HOME": ("home", "home folder: catalog, checkpoints, index, assets, exports (default ~/.listing-studio)"),
    "LISTING_STUDIO_ENGINE": ("engine", "default engine for lifestyle/on-model shots: studio or diffusers (default studio)"),
    "LISTING_STUDIO_MODEL": ("diffusion_model", "diffusers model folder or hub id for --engine diffusers"),
    "LISTING_STUDIO_SEGMENTER": ("segmenter", "a stronger local segmentation model for cutouts: an .onnx file or a transformers image-segmentation folder (default: the embedded u2netp)"),
    "LISTING_STUDIO_DEVICE": ("device", "torch device for diffusion: auto, cpu, cuda, mps (default auto)"),
    "LISTING_STUDIO_LLM_BASE_URL": ("llm_base_url", "OpenAI-compatible endpoint (OpenAI, Ollama, vLLM); unset = offline reader"),
    "LISTING_STUDIO_LLM_MODEL": ("llm_model", "chat model name at that endpoint"),
    "LISTING_STUDIO_LLM_API_KEY": ("llm_api_key", "API key for that endpoint (falls back to OPENAI_API_KEY)"),
    "LISTING_STUDIO_VLM_MODEL": ("vlm_model", "vision model at that endpoint for an extra critique check (optional)"),
    "LISTING_STUDIO_LLM_TIMEOUT": ("llm_timeout", "seconds per LLM request (default 60)"),
    "LISTING_STUDIO_LLM_MAX_TOKENS": ("llm_max_tokens", "max_tokens sent with every LLM request (default per call: "
                                      "700 brief, 400 reply, 300 vision check)"),
    "LISTING_STUDIO_MAX_RERENDERS": ("max_rerenders", "re-render attempts for a failing candidate (default 2)"),
    "LISTING_STUDIO_AUTH": ("auth", "user:password required when the app binds a non-loopback address"),
    "LISTING_STUDIO_C2PA_CERT": ("c2pa_cert", "PEM certificate chain for optional C2PA signing of exports"),
    "LISTING_STUDIO_C2PA_KEY": ("c2pa_key", "PEM private key for optional C2PA signing of exports"),
    "LISTING_STUDIO_RAY_ADDRESS": ("ray_address", "Ray cluster for `batch --executor ray` (falls back to RAY_ADDRESS; "
                                                  "unset = start a local Ray instance)"),
}


@dataclass(frozen=True)
class Settings:
    home: Path = field(default_factory=lambda: Path("~/.listing-studio").expanduser())
    engine: Literal["studio", "diffusers"] = "studio"
    diffusion_model: str | None = None
    segmenter: str | None = None
    device: str = "auto"
    llm_base_url: str | None = None
    llm_model: str | None = None
    llm_api_key: str | None = None
    vlm_model: str | None = None
    llm_timeout: float = 60.0
    llm_max_tokens: int | None = None
    max_rerenders: int = 2
    auth: str | None = None
    c2pa_cert: str | None = None
    c2pa_key: str | None = None
    ray_address: str | None = None

    def __post_init__(self):
        if self.engine not in ("studio", "diffusers"):
            raise BadInput(f"unknown engine {self.engine!r}: use studio or diffusers")
        if self.llm_max_tokens is not None and not 16 <= self.llm_max_tokens <= 32768:
            raise BadInput(f"llm_max_tokens must be 16..32768, got {self.llm_max_tokens}")
        if self.max_rerenders < 0 or self.max_rerenders > 10:
            raise BadInput(f"max_rerenders must be 0..10, got {self.max_rerenders}")
        if self.device not in ("auto", "cpu", "cuda", "mps") and not self.device.startswith("cuda:"):
            raise BadInput(f"unknown device {self.device!r}: use auto, cpu, cuda, cuda:N or mps")

    @property
    def llm_configured(self) -> bool:
        return bool(self.llm_base_url and self.llm_model)

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides) -> Settings:
        """Settings from the environment, then explicit overrides (CLI flags); None overrides are ignored."""
        environ = os.environ if environ is None else environ
        values: dict = {}
        types = {f.name: f.type for f in fields(cls)}
        for var, (name, _) in ENVIRONMENT.items():
            raw = environ.get(var)
            if raw is None or raw == "":
                continue
            values[name] = _coerce(var, raw, types[name])
        if "llm_api_key" not in values and environ.get("OPENAI_API_KEY"):
            values["llm_api_key"] = environ["OPENAI_API_KEY"]
        if "ray_address" not in values and environ.get("RAY_ADDRESS"):
            values["ray_address"] = environ["RAY_ADDRESS"]
        values.update({k: v for k, v in overrides.items() if v is not None})
        if "home" in values:
            values["home"] = Path(values["home"]).expanduser()
        return cls(**values)

    def with_(self, **changes) -> Settings:
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _coerce(var: str, raw: str, type_name) -> object:
    type_name = str(type_name)
    try:
        if "float" in type_name:
            return float(raw)
        if "int" in type_name:
            return int(raw)
    except ValueError:
        raise BadInput(f"{var}={raw!r} is not a number") from None
    return raw
