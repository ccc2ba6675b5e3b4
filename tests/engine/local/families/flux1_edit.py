"""Tiny FLUX.1 Kontext [dev] and FLUX.1 Fill [dev]: ``build_kontext(folder)``,
``build_fill(folder)``.

Both are FLUX.1 [dev] pipelines (``flux1.py``: the same CLIP, T5, 16-channel x8 VAE, scheduler
and guidance-embedded transformer) saved under another ``_class_name``; only Fill's transformer
differs.

- Kontext (``FluxKontextPipeline``, the transformer of FLUX.1 [dev], ``in_channels=64``): the
  input image is encoded and its packed latents appended to the sequence (ids offset by 1 on
  the first axis). One input image (a list is a batch, not several references).
  ``guidance_scale`` (default 3.5; the model card uses 2.5) is embedded. Two sizes are changed
  behind the caller's back: the output size is rescaled to ``max_area`` (default 1024**2) at
  the asked aspect ratio, so pass ``max_area=width*height`` to get the asked size; and with
  ``_auto_resize=True`` (the default) the input image is resized to the nearest of Kontext's
  preferred ~1 MP resolutions before encoding (``_auto_resize=False`` keeps its own size,
  floored to 16). Step latents are packed like FLUX.1's: ``(B, (H/16)*(W/16), 64)``.
- Fill (``FluxFillPipeline``): ``image`` + ``mask_image`` (white = repaint), ``strength``
  (default 1.0: start from pure noise), ``guidance_scale`` (default 30) embedded. The
  transformer takes 384 channels: 64 packed noisy latents + 64 packed latents of the masked
  image + 256 of the mask (8x8 pixels a latent x 2x2 packing), and gives 64 back
  (``out_channels=64``), as FLUX.1-Fill-dev's config says.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import FluxFillPipeline, FluxKontextPipeline, FluxTransformer2DModel
from transformers import CLIPTextModel

from tests.engine.local import tiny
from tests.engine.local.families.common import clip_tokenizer, vae16
from tests.engine.local.families.flux1 import SCALING_FACTOR, SHIFT_FACTOR, scheduler
from tests.engine.local.families.t5 import t5_encoder, t5_tokenizer


def _transformer(in_channels: int) -> FluxTransformer2DModel:
    return FluxTransformer2DModel(
        patch_size=1,
        in_channels=in_channels,
        out_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        guidance_embeds=True,
        axes_dims_rope=[4, 4, 8],
    )


def _save(pipeline_class: type, folder: Path, in_channels: int) -> Path:
    torch.manual_seed(0)
    pipe = pipeline_class(
        scheduler=scheduler(schnell=False),
        vae=vae16(SCALING_FACTOR, SHIFT_FACTOR),
        text_encoder=CLIPTextModel(tiny.text_config()),
        tokenizer=clip_tokenizer(),
        text_encoder_2=t5_encoder(d_model=32),
        tokenizer_2=t5_tokenizer(model_max_length=512),
        transformer=_transformer(in_channels),
    )
    pipe.save_pretrained(folder)
    return folder


def build_kontext(folder: Path) -> Path:
    return _save(FluxKontextPipeline, folder, in_channels=64)


def build_fill(folder: Path) -> Path:
    return _save(FluxFillPipeline, folder, in_channels=384)
