"""Tiny dedicated inpainting checkpoints (SD 1.x and SDXL, a 9-channel UNet: latents, mask and
masked-image latents) built from configs with seeded random weights and saved as their
inpaint pipelines, so the engine recognises and loads them through the real loaders."""

from __future__ import annotations

import io
from pathlib import Path

import torch
from diffusers import (
    StableDiffusionInpaintPipeline,
    StableDiffusionXLInpaintPipeline,
    UNet2DConditionModel,
)
from PIL import Image
from transformers import CLIPTextModel, CLIPTextModelWithProjection

from tests.engine.local.tiny import TWO_LEVEL_UNET, scheduler, text_config, tokenizer, vae

INPAINT_UNET = {**TWO_LEVEL_UNET, "in_channels": 9}


def build_sd_inpaint(folder: Path) -> Path:
    torch.manual_seed(0)
    pipe = StableDiffusionInpaintPipeline(
        unet=UNet2DConditionModel(**INPAINT_UNET, cross_attention_dim=32),
        vae=vae(),
        text_encoder=CLIPTextModel(text_config()),
        tokenizer=tokenizer(folder / "_tokenizer"),
        scheduler=scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.save_pretrained(folder)
    return folder


def build_sdxl_inpaint(folder: Path) -> Path:
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        **INPAINT_UNET,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        transformer_layers_per_block=(1, 2),
        projection_class_embeddings_input_dim=80,  # 6 time ids x 8 + the 32-wide pooled text
        cross_attention_dim=64,
    )
    pipe = StableDiffusionXLInpaintPipeline(
        unet=unet,
        vae=vae(),
        text_encoder=CLIPTextModel(text_config()),
        text_encoder_2=CLIPTextModelWithProjection(text_config()),
        tokenizer=tokenizer(folder / "_tokenizer"),
        tokenizer_2=tokenizer(folder / "_tokenizer2"),
        scheduler=scheduler(),
    )
    pipe.save_pretrained(folder)
    return folder


def png(image: Image.Image) -> bytes:
    data = io.BytesIO()
    image.save(data, "PNG")
    return data.getvalue()


def picture(width: int, height: int) -> Image.Image:
    """A picture with detail everywhere, so a kept pixel can be told from a repainted one."""
    image = Image.new("RGB", (width, height))
    image.putdata(
        [((x * 7) % 256, (y * 5) % 256, (x * y) % 256) for y in range(height) for x in range(width)]
    )
    return image


def left_half(width: int, height: int) -> Image.Image:
    """A mask that repaints the left half and keeps the right."""
    mask = Image.new("L", (width, height), 0)
    mask.paste(255, (0, 0, width // 2, height))
    return mask
