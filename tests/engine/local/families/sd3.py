"""Tiny Stable Diffusion 3: ``build_sd3(folder)``.

- Pipelines: ``StableDiffusion3Pipeline`` (txt2img), ``StableDiffusion3Img2ImgPipeline``
  (``from_pipe``). Components: two CLIPTextModelWithProjection (``tiny.text_config()``: 32
  wide, projection 32) with CLIP tokenizers (model_max_length 77), T5EncoderModel +
  T5TokenizerFast (``t5.py``, d_model 64 so that it matches the two CLIP states side by side,
  model_max_length 256), SD3Transformer2DModel (one joint block, 4 heads of 8,
  ``patch_size=2`` and ``in_channels=16`` as in the real model, ``pos_embed_max_size=32``, so
  up to 512 px), AutoencoderKL kept at 16 latent channels and x8 with SD3's
  ``scaling_factor=1.5305``, ``shift_factor=0.0609``, no quant convs.
- Default scheduler: ``FlowMatchEulerDiscreteScheduler(shift=3.0)`` as SD3 ships it (no
  dynamic shifting; the pipeline passes no ``sigmas`` of its own).
- Step callback latents are not packed: (B, 16, H/8, W/8), so (B, 16, 8, 8) at 64x64, the
  same as ``output_type="latent"``; nothing to unpack.
- Before ``vae.decode``: ``latents / vae.config.scaling_factor + vae.config.shift_factor``.
- Size multiple: 16 (``vae_scale_factor * patch_size``); other sizes raise ``ValueError``.
- Guidance: ``guidance_scale`` (default 7.0) is real classifier-free guidance; above 1 it runs
  ``negative_prompt`` (``negative_prompt_2``, ``negative_prompt_3`` for the second CLIP and T5;
  default "") as a second pass, at 1 or below they are ignored. Also ``prompt_2``/``prompt_3``,
  ``clip_skip``, skip-layer guidance (``skip_guidance_layers`` and friends), ``mu``.
  img2img: ``image``, ``strength`` (default 0.6).
- LoRA: ``StableDiffusion3Pipeline.save_lora_weights(out, transformer_lora_layers=...)``; the
  one joint block is the last one (``context_pre_only``), so it has no ``to_add_out``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import (
    FlowMatchEulerDiscreteScheduler,
    SD3Transformer2DModel,
    StableDiffusion3Pipeline,
)
from transformers import CLIPTextModelWithProjection

from tests.engine.local import tiny
from tests.engine.local.families.common import build_transformer_lora, clip_tokenizer, vae16
from tests.engine.local.families.t5 import t5_encoder, t5_tokenizer

# SD3's VAE factors (stabilityai/stable-diffusion-3-medium-diffusers vae/config.json).
SCALING_FACTOR = 1.5305
SHIFT_FACTOR = 0.0609


def build_sd3(folder: Path) -> Path:
    torch.manual_seed(0)
    transformer = SD3Transformer2DModel(
        sample_size=8,  # 64 px by default
        patch_size=2,
        in_channels=16,
        out_channels=16,
        num_layers=1,
        attention_head_dim=8,
        num_attention_heads=4,
        caption_projection_dim=32,
        joint_attention_dim=64,  # the two 32-wide CLIP states side by side; T5 is 64 wide
        pooled_projection_dim=64,  # the two 32-wide CLIP projections side by side
        pos_embed_max_size=32,  # up to 512 px
    )
    pipe = StableDiffusion3Pipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(num_train_timesteps=1000, shift=3.0),
        vae=vae16(SCALING_FACTOR, SHIFT_FACTOR),
        text_encoder=CLIPTextModelWithProjection(tiny.text_config()),
        tokenizer=clip_tokenizer(),
        text_encoder_2=CLIPTextModelWithProjection(tiny.text_config()),
        tokenizer_2=clip_tokenizer(),
        text_encoder_3=t5_encoder(d_model=64),
        tokenizer_3=t5_tokenizer(model_max_length=256),
        transformer=transformer,
    )
    pipe.save_pretrained(folder)
    return folder


def build_sd3_lora(pipe_folder: Path, out: Path, seed: int = 1) -> Path:
    return build_transformer_lora(
        StableDiffusion3Pipeline, SD3Transformer2DModel, pipe_folder, out, seed
    )
