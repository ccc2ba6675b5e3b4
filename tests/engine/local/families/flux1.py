"""Tiny FLUX.1 [dev] / [schnell]: ``build_flux1(folder, schnell=False)``.

- Pipelines: ``FluxPipeline`` (txt2img), ``FluxImg2ImgPipeline`` (``from_pipe``). Components:
  CLIPTextModel + CLIPTokenizer (``tiny.text_config()``, letters, model_max_length 77),
  T5EncoderModel + T5TokenizerFast (``t5.py``, d_model 32, model_max_length 512),
  FluxTransformer2DModel (1 double + 1 single block, 2 heads of 16, ``in_channels=64`` as in
  the real model: 16 latent channels packed 2x2, ``patch_size=1``; ``guidance_embeds`` True
  for [dev], False for [schnell]), AutoencoderKL kept at the real 16 latent channels and x8
  (four levels of 8 channels) with FLUX.1's ``scaling_factor=0.3611``,
  ``shift_factor=0.1159``, no quant convs.
- Default scheduler: ``FlowMatchEulerDiscreteScheduler`` with FLUX.1's own configs: [dev]
  ``shift=3.0, use_dynamic_shifting=True`` (the pipeline passes ``mu`` from the image token
  count); [schnell] ``shift=1.0, use_dynamic_shifting=False``. The pipeline always passes its
  own ``sigmas=np.linspace(1, 1/steps, steps)``.
- Step callback latents (``callback_on_step_end_tensor_inputs=["latents"]``) are packed:
  (B, (H/16)*(W/16), 64), so (B, 16, 64) at 64x64; ``output_type="latent"`` returns them
  packed too. Unpack with ``pipe._unpack_latents(latents, height, width,
  pipe.vae_scale_factor)`` (a staticmethod) to (B, 16, H/8, W/8).
- Before ``vae.decode``: unpack, then ``latents / vae.config.scaling_factor +
  vae.config.shift_factor`` (no batch-norm).
- Size multiple: 16 (``vae_scale_factor * 2``); other sizes are floored to it with a warning,
  not refused (72x40 gives 64x32).
- Guidance: [dev] ``guidance_scale`` (default 3.5) is fed to the transformer's guidance
  embedding (one pass, no CFG); [schnell] ignores ``guidance_scale``. Both honour
  ``negative_prompt`` / ``negative_prompt_2`` only with ``true_cfg_scale > 1`` (real CFG, two
  passes a step); ``prompt_2`` goes to T5. img2img: ``image``, ``strength`` (default 0.6) and
  the same guidance arguments.
- LoRA: ``FluxPipeline.save_lora_weights(out, transformer_lora_layers=...)``.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import FlowMatchEulerDiscreteScheduler, FluxPipeline, FluxTransformer2DModel
from transformers import CLIPTextModel

from tests.engine.local import tiny
from tests.engine.local.families.common import build_transformer_lora, clip_tokenizer, vae16
from tests.engine.local.families.t5 import t5_encoder, t5_tokenizer

# FLUX.1's VAE factors (black-forest-labs/FLUX.1-dev vae/config.json).
SCALING_FACTOR = 0.3611
SHIFT_FACTOR = 0.1159


def scheduler(schnell: bool) -> FlowMatchEulerDiscreteScheduler:
    """The scheduler configs FLUX.1 [dev] and [schnell] ship with."""
    return FlowMatchEulerDiscreteScheduler(
        num_train_timesteps=1000,
        shift=1.0 if schnell else 3.0,
        use_dynamic_shifting=not schnell,
        base_shift=0.5,
        max_shift=1.15,
        base_image_seq_len=256,
        max_image_seq_len=4096,
    )


def build_flux1(folder: Path, schnell: bool = False) -> Path:
    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(
        patch_size=1,
        in_channels=64,  # 16 latent channels packed 2x2
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        guidance_embeds=not schnell,
        axes_dims_rope=[4, 4, 8],
    )
    pipe = FluxPipeline(
        scheduler=scheduler(schnell),
        vae=vae16(SCALING_FACTOR, SHIFT_FACTOR),
        text_encoder=CLIPTextModel(tiny.text_config()),
        tokenizer=clip_tokenizer(),
        text_encoder_2=t5_encoder(d_model=32),
        tokenizer_2=t5_tokenizer(model_max_length=512),
        transformer=transformer,
    )
    pipe.save_pretrained(folder)
    return folder


def build_flux1_lora(pipe_folder: Path, out: Path, seed: int = 1) -> Path:
    return build_transformer_lora(FluxPipeline, FluxTransformer2DModel, pipe_folder, out, seed)
