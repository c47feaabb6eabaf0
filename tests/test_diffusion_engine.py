"""The diffusion engine (pipelines/diffusion.py): finding and loading models, seeds, sizes, the product lock.

Tiny random-weight pipelines are built from configs and saved with `save_pretrained`; the engine
loads them back through its real loader. CPU only, 2 steps, no network.
"""

from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
from PIL import Image
from tiny_diffusers import tiny_model

from pipelines import diffusion
from tools.demo import demo_cutout


@pytest.fixture(scope="module")
def sd_folder():
    return tiny_model("sd-inpaint")


def _fake_index(folder, class_name):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "model_index.json").write_text(json.dumps({"_class_name": class_name}))
    return folder


def test_family_is_read_from_model_index(sd_folder, tmp_path):
    assert diffusion.inspect_model(sd_folder).family == "sd-inpaint"
    assert diffusion.inspect_model(sd_folder).class_name == "StableDiffusionInpaintPipeline"
    assert diffusion.inspect_model(_fake_index(tmp_path / "flux", "FluxFillPipeline")).family == "flux-fill"
    assert diffusion.inspect_model(_fake_index(tmp_path / "xl", "StableDiffusionXLPipeline")).family == "sdxl"
    with pytest.raises(diffusion.DiffusionUnavailable, match="is a WanPipeline; the diffusers engine needs"):
        diffusion.inspect_model(_fake_index(tmp_path / "video", "WanPipeline"))


def test_hub_ids_honour_hf_hub_offline():
    assert diffusion.hub_offline()  # tests/conftest.py sets HF_HUB_OFFLINE=1 before huggingface_hub is imported
    with pytest.raises(diffusion.DiffusionUnavailable, match="HF_HUB_OFFLINE is set, so it cannot be downloaded"):
        diffusion.inspect_model("stabilityai/stable-diffusion-xl-1.0-inpainting-0.1-not-cached")


@pytest.mark.parametrize("model, expected", [
    (None, "no model configured: pass --model PATH"),
    ("", "no model configured"),
    ("./no/such/folder", "no model folder at './no/such/folder': pass --model PATH"),
    ("someone/not-cached-inpainting", "not in the local Hugging Face cache and HF_HUB_OFFLINE is set"),
])
def test_missing_weights_say_how_to_point_at_a_folder(model, expected):
    with pytest.raises(diffusion.DiffusionUnavailable) as info:
        diffusion.inspect_model(model, offline=True)
    assert expected in str(info.value)
    assert "LISTING_STUDIO_MODEL" in str(info.value)


def test_a_folder_without_model_index_is_refused(tmp_path):
    (tmp_path / "unet").mkdir()
    with pytest.raises(diffusion.DiffusionUnavailable, match="has no model_index.json"):
        diffusion.inspect_model(tmp_path)
    (tmp_path / "weights.safetensors").write_bytes(b"x")
    with pytest.raises(diffusion.DiffusionUnavailable, match="is a file, not a diffusers folder"):
        diffusion.inspect_model(tmp_path / "weights.safetensors")


def test_folder_with_broken_weights_is_a_clear_error(sd_folder, tmp_path):
    import shutil

    broken = tmp_path / "broken"
    shutil.copytree(sd_folder, broken)
    shutil.rmtree(broken / "unet")
    with pytest.raises(diffusion.DiffusionUnavailable, match="cannot load model"):
        diffusion.load_pipeline(broken, device="cpu")


def test_loads_once_per_process_at_native_size(sd_folder):
    loaded = diffusion.load_pipeline(sd_folder, device="cpu")
    assert type(loaded.pipe).__name__ == "StableDiffusionInpaintPipeline"
    assert (loaded.device, str(loaded.dtype), loaded.offload) == ("cpu", "torch.float32", "none")
    assert loaded.native_size == 512  # unet sample_size 64 x VAE scale 8
    assert diffusion.load_pipeline(str(sd_folder), device="cpu") is loaded


@pytest.mark.parametrize("family, inpaint_class", [("sd", "StableDiffusionInpaintPipeline"),
                                                   ("sdxl", "StableDiffusionXLInpaintPipeline")])
def test_text_to_image_folder_loads_as_its_inpainting_variant(family, inpaint_class):
    loaded = diffusion.load_pipeline(tiny_model(family), device="auto")
    assert loaded.family == family
    assert type(loaded.pipe).__name__ == inpaint_class
    image = Image.new("RGB", (256, 192), (120, 130, 140))
    mask = Image.new("L", (256, 192), 255)
    out = diffusion.inpaint(loaded, diffusion.InpaintRequest(image=image, mask=mask, prompt="a wooden table",
                                                             seeds=[1], num_inference_steps=2))
    assert [o.size for o in out] == [(256, 192)]


def test_one_generator_per_candidate_makes_seeds_reproducible(sd_folder):
    loaded = diffusion.load_pipeline(sd_folder, device="cpu")
    image = Image.new("RGB", (256, 256), (128, 128, 128))
    mask = Image.new("L", (256, 256), 255)
    request = diffusion.InpaintRequest(image=image, mask=mask, prompt="a marble table", seeds=[7, 8],
                                       num_inference_steps=2)
    first, second = diffusion.inpaint(loaded, request)
    again = diffusion.inpaint(loaded, diffusion.InpaintRequest(**{**request.__dict__, "seeds": [8]}))[0]
    assert first.size == second.size == (256, 256)
    assert np.array_equal(np.asarray(second), np.asarray(again))
    assert not np.array_equal(np.asarray(first), np.asarray(second))


def test_an_ip_adapter_in_the_folder_conditions_on_the_reference():
    loaded = diffusion.load_pipeline(tiny_model("sd-inpaint+ip-adapter"), device="cpu")
    assert loaded.ip_adapter and loaded.info.ip_adapter.name == "ip-adapter.safetensors"
    image, mask = Image.new("RGB", (128, 128), (128, 128, 128)), Image.new("L", (128, 128), 255)
    outputs = [
        np.asarray(diffusion.inpaint(loaded, diffusion.InpaintRequest(
            image=image, mask=mask, prompt="a shirt", seeds=[1], num_inference_steps=2, reference=reference))[0])
        for reference in (Image.new("RGB", (64, 64), (220, 30, 30)), Image.new("RGB", (64, 64), (30, 30, 220)), None)
    ]
    assert not np.array_equal(outputs[0], outputs[1])  # the reference image reaches the UNet
    assert outputs[2].shape == (128, 128, 3)  # no reference: a neutral image at scale 0


def test_sdxl_inpainting_folder_renders_at_its_native_size():
    loaded = diffusion.load_pipeline(tiny_model("sdxl-inpaint"), device="cpu")
    assert type(loaded.pipe).__name__ == "StableDiffusionXLInpaintPipeline"
    size = diffusion.generation_size(1600, 900, loaded.native_size, 16)
    assert size == (688, 384)
    image = Image.new("RGB", size, (128, 128, 128))
    out = diffusion.inpaint(loaded, diffusion.InpaintRequest(image=image, mask=Image.new("L", size, 255),
                                                             prompt="a sunny kitchen", seeds=[0],
                                                             num_inference_steps=2))
    assert [o.size for o in out] == [size]


def test_inputs_are_checked_with_the_value_echoed(sd_folder):
    loaded = diffusion.load_pipeline(sd_folder, device="cpu")
    image = Image.new("RGB", (256, 256))
    cases = [
        (dict(mask=Image.new("L", (128, 256))), "mask size (128, 256) must equal image size (256, 256)"),
        (dict(image=Image.new("RGB", (250, 256)), mask=Image.new("L", (250, 256))), "250x256 must be a multiple of 8"),
        (dict(seeds=[]), "at least one seed"),
        (dict(seeds=[-1]), "got -1"),
        (dict(strength=1.5), "strength must be in (0, 1], got 1.5"),
        (dict(strength=0.2, num_inference_steps=2), "leaves no denoising step"),
    ]
    for change, message in cases:
        request = diffusion.InpaintRequest(**{"image": image, "mask": Image.new("L", (256, 256)), "prompt": "x",
                                              "seeds": [0], **change})
        with pytest.raises(diffusion.DiffusionInputError) as info:
            diffusion.inpaint(loaded, request)
        assert message in str(info.value)
    with pytest.raises(diffusion.DiffusionInputError, match="device must be auto, cpu, cuda, cuda:N or mps, got 'tpu'"):
        diffusion.pick_device("tpu")


def test_generation_size_keeps_aspect_and_area():
    assert diffusion.generation_size(2000, 2000, 1024) == (1024, 1024)
    assert diffusion.generation_size(1000, 1500, 512) == (416, 624)
    w, h = diffusion.generation_size(2560, 1440, 1024, 64)
    assert w % 64 == 0 and h % 64 == 0 and abs(w / h - 16 / 9) < 0.05


def test_lock_copies_the_product_pixels_exactly():
    rng = np.random.default_rng(0)
    scene = Image.fromarray(rng.integers(0, 256, (900, 1200, 3), dtype=np.uint8))
    cutout = demo_cutout("DEMO-RING")
    box = (300, 150, 540, 540)
    locked = diffusion.lock_product(scene, cutout, box, feather_px=3.0)
    source = np.asarray(diffusion.resample_cutout(cutout, (540, 540)))
    candidate = np.asarray(locked.image)[150:690, 300:840]
    solid = (source[..., 3] == 255).astype(np.uint8)
    eroded = cv2.erode(solid, np.ones((9, 9), np.uint8)) > 0  # 4 px in: past the 3 px feather
    assert eroded.sum() > 20_000
    assert np.array_equal(candidate[eroded], source[..., :3][eroded])
    assert locked.exact[150:690, 300:840][eroded].all()
    # Outside the product the scene is untouched; on the feathered edge it is a blend.
    outside = np.ones(locked.exact.shape, bool)
    outside[150:690, 300:840] = source[..., 3] == 0
    assert np.array_equal(np.asarray(locked.image)[outside], np.asarray(scene)[outside])


def test_lock_region_keeps_masked_source_pixels():
    rng = np.random.default_rng(1)
    scene = Image.fromarray(rng.integers(0, 256, (200, 160, 3), dtype=np.uint8))
    source = Image.fromarray(rng.integers(0, 256, (200, 160, 3), dtype=np.uint8))
    keep = np.zeros((200, 160), np.uint8)
    keep[40:160, 30:130] = 255
    locked = diffusion.lock_region(scene, source, Image.fromarray(keep), feather_px=2)
    inner = np.zeros_like(keep, bool)
    inner[43:157, 33:127] = True
    assert np.array_equal(np.asarray(locked.image)[inner], np.asarray(source)[inner])
    assert np.array_equal(np.asarray(locked.image)[keep == 0], np.asarray(scene)[keep == 0])


def test_outpaint_mask_repaints_all_but_the_grown_product():
    alpha = np.zeros((100, 100), np.float32)
    alpha[40:60, 40:60] = 1.0
    mask = np.asarray(diffusion.outpaint_mask(alpha, 3))
    assert mask[50, 50] == 0 and mask[38, 50] == 0 and mask[35, 50] == 255 and mask[0, 0] == 255
    ring = np.asarray(diffusion.seam_mask(alpha, outer_px=4, inner_px=1))
    assert ring[50, 50] == 0 and ring[38, 50] == 255 and ring[20, 20] == 0


def test_out_of_memory_halves_the_batch_then_gives_a_clear_error(sd_folder):
    import dataclasses

    import torch

    loaded = diffusion.load_pipeline(sd_folder, device="cpu")
    calls = []

    class TightMemory:
        """The real pipeline behind a memory limit: more than `limit` images per call runs out of memory."""

        def __init__(self, limit):
            self.limit = limit

        def __call__(self, **kwargs):
            calls.append(len(kwargs["prompt"]))
            if len(kwargs["prompt"]) > self.limit:
                raise torch.OutOfMemoryError("CUDA out of memory (simulated)")
            return loaded.pipe(**kwargs)

    image, mask = Image.new("RGB", (128, 128), (128, 128, 128)), Image.new("L", (128, 128), 255)
    request = diffusion.InpaintRequest(image=image, mask=mask, prompt="a table", seeds=[1, 2, 3, 4],
                                       num_inference_steps=2, batch_size=4)
    tight = dataclasses.replace(loaded, pipe=TightMemory(limit=2))
    images = diffusion.inpaint(tight, request)
    assert calls == [4, 2, 2] and len(images) == 4
    alone = diffusion.inpaint(loaded, diffusion.InpaintRequest(**{**request.__dict__, "seeds": [3], "batch_size": 1}))
    assert np.abs(np.asarray(images[2], dtype=int) - np.asarray(alone[0], dtype=int)).max() <= 2  # same seed
    with pytest.raises(diffusion.DiffusionUnavailable, match="ran out of memory rendering 128x128 .* even one image"):
        diffusion.inpaint(dataclasses.replace(loaded, pipe=TightMemory(limit=0)), request)
