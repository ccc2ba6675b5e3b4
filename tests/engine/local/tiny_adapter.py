"""Tiny random reference adapters. An IP-Adapter for a tiny UNet (or FLUX.1), laid out as
the published ones are: a CLIP image encoder saved with save_pretrained under
``models/image_encoder`` and the adapter's weights (``image_proj.*`` and
``ip_adapter.N.to_k_ip/to_v_ip``) in ``models/ip-adapter.safetensors``, so diffusers' own
``load_ip_adapter`` reads them; FLUX.1 Redux as its repo is. Nothing is downloaded."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from diffusers import UNet2DConditionModel
from diffusers.pipelines.flux.modeling_flux import ReduxImageEncoder
from safetensors.torch import save_file
from transformers import (
    CLIPVisionConfig,
    CLIPVisionModelWithProjection,
    SiglipImageProcessor,
    SiglipVisionConfig,
    SiglipVisionModel,
)

IMAGE_EMBED = 16  # the encoder's projection, what the adapter's image projection takes
TOKENS = 4  # image tokens the projection makes


def _image_encoder(models: Path, seed: int) -> None:
    torch.manual_seed(seed)
    encoder = CLIPVisionModelWithProjection(
        CLIPVisionConfig(
            hidden_size=32,
            intermediate_size=37,
            projection_dim=IMAGE_EMBED,
            num_hidden_layers=2,
            num_attention_heads=4,
            image_size=32,
            patch_size=8,
        )
    )
    encoder.save_pretrained(models / "image_encoder")


def _projection(cross: int, random: Any) -> dict[str, torch.Tensor]:
    """IP-Adapter's image projection: the encoder's embedding to TOKENS tokens of ``cross``."""
    return {
        "image_proj.proj.weight": random(cross * TOKENS, IMAGE_EMBED),
        "image_proj.proj.bias": random(cross * TOKENS),
        "image_proj.norm.weight": torch.ones(cross),
        "image_proj.norm.bias": torch.zeros(cross),
    }


def _random(seed: int) -> Any:
    generator = torch.Generator().manual_seed(seed)

    def random(*shape: int) -> torch.Tensor:
        return torch.randn(shape, generator=generator) * 0.5

    return random


def build_ip_adapter(unet_folder: Path, out: Path, seed: int = 3) -> Path:
    """An adapter for the UNet saved in ``unet_folder`` (a pipeline folder's ``unet``)."""
    unet = UNet2DConditionModel.from_pretrained(unet_folder / "unet")
    models = out / "models"
    _image_encoder(models, seed)
    random = _random(seed)
    cross = unet.config.cross_attention_dim
    tensors = _projection(cross, random)
    # diffusers numbers the cross-attention layers 1, 3, 5, ... in attn_processors' order
    key = 1
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        tensors[f"ip_adapter.{key}.to_k_ip.weight"] = random(_width(unet, name), cross)
        tensors[f"ip_adapter.{key}.to_v_ip.weight"] = random(_width(unet, name), cross)
        key += 2
    save_file({k: v.contiguous() for k, v in tensors.items()}, models / "ip-adapter.safetensors")
    return out


def build_flux_ip_adapter(pipe_folder: Path, out: Path, seed: int = 4) -> Path:
    """An adapter for the FLUX.1 transformer saved in ``pipe_folder``, in the layout XLabs'
    FLUX.1 IP-Adapter has after diffusers' conversion: each double block's attention takes
    the image tokens (keys ``ip_adapter.N.to_k_ip/to_v_ip`` with biases, N from 0)."""
    config = json.loads((pipe_folder / "transformer" / "config.json").read_text())
    models = out / "models"
    _image_encoder(models, seed)
    random = _random(seed)
    joint = config["joint_attention_dim"]
    inner = config["num_attention_heads"] * config["attention_head_dim"]
    tensors = _projection(joint, random)
    for block in range(config["num_layers"]):
        for name in ("to_k_ip", "to_v_ip"):
            tensors[f"ip_adapter.{block}.{name}.weight"] = random(inner, joint)
            tensors[f"ip_adapter.{block}.{name}.bias"] = random(inner)
    save_file({k: v.contiguous() for k, v in tensors.items()}, models / "ip-adapter.safetensors")
    return out


def _width(unet: UNet2DConditionModel, name: str) -> int:
    """The hidden size of the attention layer ``name``."""
    channels = list(unet.config.block_out_channels)
    if name.startswith("mid_block"):
        return int(channels[-1])
    block = int(name.split(".")[1])
    if name.startswith("up_blocks"):
        return int(list(reversed(channels))[block])
    return int(channels[block])


def build_redux(pipe_folder: Path, out: Path, seed: int = 5) -> Path:
    """FLUX.1 Redux for the FLUX.1 transformer saved in ``pipe_folder``, laid out as
    black-forest-labs/FLUX.1-Redux-dev is: a SigLIP vision encoder, its image processor and
    Redux's embedder (SigLIP width -> the transformer's text-token width)."""
    config = json.loads((pipe_folder / "transformer" / "config.json").read_text())
    torch.manual_seed(seed)
    vision = SiglipVisionConfig(
        hidden_size=32,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        image_size=32,
        patch_size=8,
    )
    SiglipVisionModel(vision).save_pretrained(out / "image_encoder")
    SiglipImageProcessor(size={"height": 32, "width": 32}).save_pretrained(
        out / "feature_extractor"
    )
    embedder = ReduxImageEncoder(redux_dim=32, txt_in_features=config["joint_attention_dim"])
    with torch.no_grad():
        for parameter in embedder.parameters():
            parameter.copy_(torch.randn(parameter.shape) * 0.5)
    embedder.save_pretrained(out / "image_embedder")
    return out
