"""Diffusion engine benchmark: a real model on a CUDA GPU, and the engine's own overhead on the CPU.

GPU part (runs when torch sees a CUDA GPU and a model is given by --model or LISTING_STUDIO_MODEL,
a local diffusers folder or a cached hub id, e.g. an SDXL inpainting model): first-load time, seconds
per lifestyle candidate at the model's native size (1024² for SDXL), at one candidate per call and
at --count per call, and peak GPU memory. Otherwise it says why it skipped.

CPU part (always): a tiny random-weight SD-inpainting pipeline (tests/tiny_diffusers.py) built and
loaded through the engine's real loader; the pipeline call alone versus the whole lifestyle role
(placement, masks, scaling to a 2000x2000 shot, the product lock), so the difference is the engine's
overhead on top of the model.

Run: .venv/bin/python -m benchmarks.bench_diffusion [--model PATH] [--steps 30] [--count 4] [--device cuda]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _product_and_cutout():
    from tools.demo import DEMO_PRODUCTS, demo_cutout
    from tools.models import Product

    demo = DEMO_PRODUCTS["DEMO-RING"]
    product = Product(sku=demo.sku, category=demo.category, title=demo.title, materials=demo.materials,
                      colors=demo.colors, dimensions=demo.dimensions)
    return product, demo_cutout("DEMO-RING")


def _shot(size: int, steps: int, count: int):
    from tools.models import Channel, Role, Shot, Slot

    return Shot(role=Role.lifestyle, slot=Slot.gallery_3, channel=Channel.etsy, width=size, height=size, count=count,
                mood="warm holiday", options={"num_inference_steps": steps})


def _workspace(home: Path, model: str, device: str):
    from tools.settings import Settings
    from tools.workspace import Workspace

    return Workspace.open(Settings.from_env({}, home=home, engine="diffusers", diffusion_model=model, device=device))


def gpu_rows(model: str | None, steps: int, count: int, device: str) -> tuple[list[tuple], str]:
    """Rows (metric, value) for a real model on CUDA, or ([], why it was skipped)."""
    import torch

    from pipelines import diffusion
    from tools.diffusion_render import render_with_diffusers

    if not torch.cuda.is_available():
        return [], "no CUDA GPU visible to torch"
    if not model:
        return [], "no model: pass --model PATH (an SDXL inpainting folder) or set LISTING_STUDIO_MODEL"
    try:
        diffusion.inspect_model(model)
    except diffusion.DiffusionUnavailable as exc:
        return [], str(exc)

    # 1. First load (from disk to GPU), timed by the engine.
    diffusion.clear_cache()
    torch.cuda.reset_peak_memory_stats()
    started = time.perf_counter()
    loaded = diffusion.load_pipeline(model, device=device)
    load_s = time.perf_counter() - started
    product, cutout = _product_and_cutout()
    side = loaded.native_size
    rows = [("model", f"{loaded.info.name} ({loaded.family}, {str(loaded.dtype).removeprefix('torch.')}, "
                      f"offload {loaded.offload})"),
            ("device", torch.cuda.get_device_name(loaded.device)),
            ("native size", f"{side}x{side}"), ("steps", steps), ("first load s", f"{load_s:.1f}")]

    with tempfile.TemporaryDirectory() as home:
        ws = _workspace(Path(home), model, device)
        # 2. Warm-up (kernels, allocator), then one candidate per call, then `count` per call.
        render_with_diffusers(ws, product, _shot(side, steps, 1), cutout, seeds=[0])
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        timings = []
        for seed in (1, 2, 3):
            started = time.perf_counter()
            render_with_diffusers(ws, product, _shot(side, steps, 1), cutout, seeds=[seed])
            torch.cuda.synchronize()
            timings.append(time.perf_counter() - started)
        single_peak = torch.cuda.max_memory_allocated() / 2**30
        torch.cuda.reset_peak_memory_stats()
        started = time.perf_counter()
        render_with_diffusers(ws, product, _shot(side, steps, count), cutout, seeds=list(range(10, 10 + count)))
        torch.cuda.synchronize()
        batch_s = time.perf_counter() - started
        batch_peak = torch.cuda.max_memory_allocated() / 2**30
    timings.sort()
    rows += [("s / candidate (1 per call, median of 3)", f"{timings[1]:.2f}"),
             (f"s / candidate ({count} per call)", f"{batch_s / count:.2f}"),
             ("peak GPU memory GiB (1 per call)", f"{single_peak:.1f}"),
             (f"peak GPU memory GiB ({count} per call)", f"{batch_peak:.1f}")]
    return rows, ""


def cpu_rows(repeats: int = 3) -> list[tuple]:
    """Rows for the tiny pipeline on the CPU: load, pipeline call alone, whole lifestyle role, overhead."""
    sys.path.insert(0, str(REPO / "tests"))
    from tiny_diffusers import build_tiny_pipeline

    from pipelines import diffusion
    from tools.diffusion_render import product_box, render_with_diffusers, trim

    product, cutout = _product_and_cutout()
    with tempfile.TemporaryDirectory() as tmp:
        folder = build_tiny_pipeline(Path(tmp) / "tiny-sd-inpaint", "sd-inpaint")
        diffusion.clear_cache()
        started = time.perf_counter()
        loaded = diffusion.load_pipeline(folder, device="cpu")
        load_s = time.perf_counter() - started
        shot = _shot(2000, 2, 1)
        ws = _workspace(Path(tmp) / "home", str(folder), "cpu")

        # The same generation-size call the role makes, without the role around it.
        gw, gh = diffusion.generation_size(shot.width, shot.height, loaded.native_size, 2 * loaded.vae_scale_factor)
        item, _ = trim(cutout)
        box, _ = product_box(shot, product, item.size)
        gen_box = tuple(int(round(v * gw / shot.width)) for v in box)
        canvas, alpha = diffusion.place_on((gw, gh), item, gen_box, (128, 128, 128))
        request = diffusion.InpaintRequest(image=canvas, mask=diffusion.outpaint_mask(alpha, 4), prompt="a ring",
                                           seeds=[0], num_inference_steps=2)
        diffusion.inpaint(loaded, request)  # warm-up
        render_with_diffusers(ws, product, shot, cutout, seeds=[0])
        pipe_s, role_s = [], []
        for seed in range(1, repeats + 1):
            started = time.perf_counter()
            diffusion.inpaint(loaded, diffusion.InpaintRequest(**{**request.__dict__, "seeds": [seed]}))
            pipe_s.append(time.perf_counter() - started)
            started = time.perf_counter()
            render_with_diffusers(ws, product, shot, cutout, seeds=[seed])
            role_s.append(time.perf_counter() - started)
        started = time.perf_counter()
        for _ in range(repeats):
            diffusion.lock_product(canvas.resize((2000, 2000)), item, box, feather_px=6.0)
        lock_ms = (time.perf_counter() - started) / repeats * 1000
    pipe, role = min(pipe_s), min(role_s)
    return [("tiny model", f"sd-inpaint, 2 steps, native {loaded.native_size}, generation {gw}x{gh}"),
            ("load s (from disk, torch already imported)", f"{load_s:.2f}"),
            ("pipeline call s / candidate", f"{pipe:.2f}"),
            ("lifestyle role s / candidate (2000x2000 shot)", f"{role:.2f}"),
            ("engine overhead s / candidate", f"{role - pipe:.2f}"),
            ("product lock ms at 2000x2000", f"{lock_ms:.0f}")]


def _table(title: str, rows: list[tuple]) -> str:
    width = max(len(str(k)) for k, _ in rows)
    return "\n".join([title, *[f"  {str(k):<{width}}  {v}" for k, v in rows]])


def main(argv: list[str] | None = None) -> int:
    from tools.settings import Settings

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", help="diffusers folder or hub id (default: LISTING_STUDIO_MODEL)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--count", type=int, default=4, help="candidates per call for the batched timing")
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--skip-cpu", action="store_true")
    args = parser.parse_args(argv if argv is not None else sys.argv[1:])
    model = args.model or Settings.from_env().diffusion_model

    rows, why = gpu_rows(model, args.steps, args.count, args.device)
    print(_table("GPU: lifestyle candidate with a real inpainting model", rows) if rows else f"GPU part skipped: {why}")
    if not args.skip_cpu:
        print(_table("CPU: engine overhead with a tiny random-weight pipeline", cpu_rows()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
