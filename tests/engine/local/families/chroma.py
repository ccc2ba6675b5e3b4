"""Tiny Chroma: ``build_chroma(folder)``.

- Pipelines: ``ChromaPipeline`` (txt2img), ``ChromaImg2ImgPipeline`` (``from_pipe``).
  Components: T5EncoderModel + T5TokenizerFast only (``t5.py``, d_model 32,
  model_max_length 512; Chroma masks all but the first padding token), ChromaTransformer2DModel
  (1 double + 1 single block, 2 heads of 16, ``in_channels=64``: 16 channels packed 2x2, a
  one-layer 32-wide approximator in place of the modulation layers), and FLUX.1's VAE layout
  kept at 16 channels, x8, ``scaling_factor=0.3611``, ``shift_factor=0.1159``.
- Default scheduler: ``FlowMatchEulerDiscreteScheduler`` configured as FLUX.1 [dev]'s
  (``shift=3.0``, dynamic shifting with ``mu`` from the token count); the pipeline passes its
  own ``sigmas``.
- Step callback latents are packed like Flux's: (B, 16, 64) at 64x64; ``output_type="latent"``
  too. Unpack with ``pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor)``.
- Before ``vae.decode``: unpack, then ``latents / scaling_factor + shift_factor``.
- Size multiple: 16, floored with a warning like Flux.
- Guidance: ``guidance_scale`` (default 5.0) is real classifier-free guidance; above 1 it runs
  the ``negative_prompt`` (default "") as a second pass, at 1 or below the negative prompt is
  ignored. No ``prompt_2``, no guidance embedding, no ``true_cfg_scale``. img2img: ``image``,
  ``strength`` (default 0.9).
- LoRA: ``ChromaPipeline.save_lora_weights(out, transformer_lora_layers=...)`` (Flux's LoRA
  mixin).
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import ChromaPipeline, ChromaTransformer2DModel

from tests.engine.local.families import flux1
from tests.engine.local.families.common import build_transformer_lora, vae16
from tests.engine.local.families.t5 import t5_encoder, t5_tokenizer


def build_chroma(folder: Path) -> Path:
    torch.manual_seed(0)
    transformer = ChromaTransformer2DModel(
        patch_size=1,
        in_channels=64,  # 16 latent channels packed 2x2
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        axes_dims_rope=[4, 4, 8],
        approximator_hidden_dim=32,
        approximator_layers=1,
        approximator_num_channels=16,
    )
    pipe = ChromaPipeline(
        scheduler=flux1.scheduler(schnell=False),
        vae=vae16(flux1.SCALING_FACTOR, flux1.SHIFT_FACTOR),  # Chroma uses FLUX.1's VAE
        text_encoder=t5_encoder(d_model=32),
        tokenizer=t5_tokenizer(model_max_length=512),
        transformer=transformer,
    )
    pipe.save_pretrained(folder)
    return folder


def build_chroma_lora(pipe_folder: Path, out: Path, seed: int = 1) -> Path:
    return build_transformer_lora(ChromaPipeline, ChromaTransformer2DModel, pipe_folder, out, seed)
