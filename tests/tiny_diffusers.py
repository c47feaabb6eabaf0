"""Tiny, seeded, random-weight diffusers pipelines built from configs, saved with `save_pretrained`.

Used by the diffusion tests and the CPU overhead benchmark: the engine loads them back through its
real loader (`from_pretrained(folder)`). A 4-block VAE (8x) and `sample_size=64` give a native size
of 512 px at about a second per candidate on a CPU. Nothing is downloaded; the CLIP tokenizer is
built from an in-code byte-level vocabulary.
"""

from __future__ import annotations

from pathlib import Path


def _byte_alphabet() -> list[str]:
    """GPT-2/CLIP byte-to-unicode table: every byte has a printable stand-in, so any text tokenizes."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    codes = printable[:]
    extra = 0
    for byte in range(256):
        if byte not in printable:
            printable.append(byte)
            codes.append(256 + extra)
            extra += 1
    return [chr(c) for c in codes]


def tiny_tokenizer():
    from transformers import CLIPTokenizer

    vocab: dict[str, int] = {}
    for suffix in ("", "</w>"):
        for ch in _byte_alphabet():
            vocab[ch + suffix] = len(vocab)
    vocab["<|startoftext|>"] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    return CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)


def _text_config():
    from transformers import CLIPTextConfig

    return CLIPTextConfig(bos_token_id=0, eos_token_id=2, hidden_size=32, intermediate_size=37, layer_norm_eps=1e-05,
                          num_attention_heads=4, num_hidden_layers=2, pad_token_id=1, vocab_size=600,
                          hidden_act="gelu", projection_dim=32)


def _vae():
    from diffusers import AutoencoderKL

    return AutoencoderKL(block_out_channels=(8, 16, 32, 32), in_channels=3, out_channels=3,
                         down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
                         latent_channels=4, norm_num_groups=8, layers_per_block=1, sample_size=512)


def _unet(in_channels: int, sdxl: bool):
    from diffusers import UNet2DConditionModel

    common = dict(block_out_channels=(16, 32), layers_per_block=1, sample_size=64, in_channels=in_channels,
                  out_channels=4, down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                  up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"), attention_head_dim=(2, 4), norm_num_groups=8)
    if sdxl:
        # SDXL conditioning: 6 time ids x 8 + the pooled text embedding (32) = 80.
        return UNet2DConditionModel(**common, use_linear_projection=True, addition_embed_type="text_time",
                                    addition_time_embed_dim=8, transformer_layers_per_block=(1, 1),
                                    projection_class_embeddings_input_dim=80, cross_attention_dim=64)
    return UNet2DConditionModel(**common, cross_attention_dim=32)


def build_tiny_pipeline(folder: str | Path, family: str = "sd-inpaint", seed: int = 0) -> Path:
    """Build and save a tiny pipeline; family: sd-inpaint, sdxl-inpaint, or sd / sdxl (text-to-image)."""
    import torch
    from diffusers import (
        DDIMScheduler,
        EulerDiscreteScheduler,
        StableDiffusionInpaintPipeline,
        StableDiffusionPipeline,
        StableDiffusionXLInpaintPipeline,
        StableDiffusionXLPipeline,
    )
    from transformers import CLIPTextModel, CLIPTextModelWithProjection

    torch.manual_seed(seed)
    folder = Path(folder)
    if family in ("sdxl-inpaint", "sdxl"):
        cls = StableDiffusionXLInpaintPipeline if family == "sdxl-inpaint" else StableDiffusionXLPipeline
        pipe = cls(
            vae=_vae(), text_encoder=CLIPTextModel(_text_config()),
            text_encoder_2=CLIPTextModelWithProjection(_text_config()), tokenizer=tiny_tokenizer(),
            tokenizer_2=tiny_tokenizer(), unet=_unet(9 if family == "sdxl-inpaint" else 4, sdxl=True),
            scheduler=EulerDiscreteScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                             steps_offset=1, timestep_spacing="leading"),
            **({"requires_aesthetics_score": False} if family == "sdxl-inpaint" else {}),
            force_zeros_for_empty_prompt=True,
        )
    elif family in ("sd-inpaint", "sd"):
        cls = StableDiffusionInpaintPipeline if family == "sd-inpaint" else StableDiffusionPipeline
        pipe = cls(
            vae=_vae(), text_encoder=CLIPTextModel(_text_config()), tokenizer=tiny_tokenizer(),
            unet=_unet(9 if family == "sd-inpaint" else 4, sdxl=False),
            scheduler=DDIMScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                    clip_sample=False, set_alpha_to_one=False, steps_offset=1),
            safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        )
    else:
        raise ValueError(f"unknown tiny family {family!r}")
    pipe.save_pretrained(folder)
    return folder


_BUILT: dict[str, Path] = {}


def tiny_model(family: str = "sd-inpaint") -> Path:
    """A tiny pipeline folder of this family, built once per process in a temp folder removed at exit."""
    import atexit
    import shutil
    import tempfile

    if family not in _BUILT:
        root = Path(tempfile.mkdtemp(prefix=f"tiny-{family}-"))
        atexit.register(shutil.rmtree, root, True)
        base = family.removesuffix("+ip-adapter")
        _BUILT[family] = build_tiny_pipeline(root / family, base)
        if family.endswith("+ip-adapter"):
            add_tiny_ip_adapter(_BUILT[family])
    return _BUILT[family]


def add_tiny_ip_adapter(folder: str | Path, seed: int = 0) -> Path:
    """Give a saved tiny SD pipeline an IP-Adapter the engine's convention finds:
    `<folder>/ip_adapter/ip-adapter.safetensors` and `<folder>/ip_adapter/image_encoder/`."""
    import torch
    from diffusers import UNet2DConditionModel
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    torch.manual_seed(seed)
    folder = Path(folder)
    target = folder / "ip_adapter"
    embed_dim = 32
    encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(
        hidden_size=32, projection_dim=embed_dim, num_hidden_layers=2, num_attention_heads=4, intermediate_size=37,
        image_size=32, patch_size=8))
    encoder.save_pretrained(target / "image_encoder")

    # The state dict layout of the original IP-Adapter releases: image_proj.* and ip_adapter.<n>.to_{k,v}_ip.
    unet = UNet2DConditionModel.from_pretrained(folder / "unet")
    cross = unet.config.cross_attention_dim
    tensors = {
        "image_proj.proj.weight": torch.randn(4 * cross, embed_dim) * 0.05,
        "image_proj.proj.bias": torch.zeros(4 * cross),
        "image_proj.norm.weight": torch.ones(cross),
        "image_proj.norm.bias": torch.zeros(cross),
    }
    key_id = 1
    channels = list(unet.config.block_out_channels)
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            hidden = channels[-1]
        elif name.startswith("up_blocks"):
            hidden = list(reversed(channels))[int(name[len("up_blocks.")])]
        else:
            hidden = channels[int(name[len("down_blocks.")])]
        tensors[f"ip_adapter.{key_id}.to_k_ip.weight"] = torch.randn(hidden, cross) * 0.2
        tensors[f"ip_adapter.{key_id}.to_v_ip.weight"] = torch.randn(hidden, cross) * 0.2
        key_id += 2
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(target / "ip-adapter.safetensors"))
    return folder


def build_tiny_segmenter(folder: str | Path, seed: int = 0) -> Path:
    """A tiny random SegFormer with clothes-parsing labels (Background, Upper-clothes, Face) and its processor."""
    import torch
    from transformers import SegformerConfig, SegformerForSemanticSegmentation, SegformerImageProcessor

    torch.manual_seed(seed)
    labels = {0: "Background", 1: "Upper-clothes", 2: "Face"}
    config = SegformerConfig(num_channels=3, num_encoder_blocks=2, depths=[1, 1], sr_ratios=[4, 2], hidden_sizes=[8, 16],
                             patch_sizes=[7, 3], strides=[4, 2], num_attention_heads=[1, 1], mlp_ratios=[2, 2],
                             decoder_hidden_size=16, id2label=labels, label2id={v: k for k, v in labels.items()})
    SegformerForSemanticSegmentation(config).save_pretrained(folder)
    SegformerImageProcessor(size={"height": 64, "width": 64}).save_pretrained(folder)
    return Path(folder)
