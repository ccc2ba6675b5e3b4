"""Tiny Z-Image: ``ZImagePipeline``; img2img ``ZImageImg2ImgPipeline.from_pipe(pipe)``.

Built like diffusers' own ``get_dummy_components()`` (tests/pipelines/z_image), but offline:
the tokenizer is our own (``qwen_tokenizer``, with the Qwen3 chat template the pipeline
applies with ``enable_thinking=True``), the text encoder a tiny ``Qwen3Model``. Kept from the
real model: the VAE is an ``AutoencoderKL`` laid out like the Flux VAE Z-Image uses: 16 latent
channels, four levels so x8, ``scaling_factor=0.3611``, ``shift_factor=0.1159``; the scheduler
has Z-Image-Turbo's settings as we know them (``shift=3.0``, no dynamic shifting). The transformer's
``x_pad_token``/``cap_pad_token`` are made with ``torch.empty``, so they are set to ones.

Facts (diffusers 0.42.1), for a 64x64 image:

- Latents in ``callback_on_step_end``: not packed, ``(B, 16, H/8, W/8)`` = ``(1, 16, 8, 8)``
  (the transformer patchifies inside). Nothing to unpack.
- VAE input: ``latents / vae.config.scaling_factor + vae.config.shift_factor``, then
  ``vae.decode(x)[0]`` (``vae_input()`` below).
- Size multiple: ``vae_scale_factor * 2`` = 16; other sizes raise ``ValueError``.
- Guidance: ``guidance_scale`` (default 5.0) is real CFG, on whenever it is > 0 (not > 1!),
  with ``negative_prompt`` (default ``""``); ``cfg_normalization`` (bool) and
  ``cfg_truncation`` (default 1.0) also apply. Z-Image-Turbo is meant to run at
  ``guidance_scale=0``. Img2img: the same plus ``image`` and ``strength`` (default 0.6).
- Default scheduler: ``FlowMatchEulerDiscreteScheduler``; the pipeline passes its own
  ``sigmas`` (``linspace(1, 1/steps, steps)``) and ``mu`` to ``set_timesteps``. Swaps: as for
  Qwen-Image (Euler with Karras/beta/stochastic work, stochastic not repeatable by seed;
  ``FlowMatchHeunDiscreteScheduler`` fails: no ``sigmas`` in its ``set_timesteps``).
- Prompts go through ``tokenizer.apply_chat_template(..., enable_thinking=True)``, are padded to
  ``max_sequence_length`` (512) and only the unpadded tokens of hidden state ``[-2]`` are used.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    FlowMatchEulerDiscreteScheduler,
    ZImagePipeline,
    ZImageTransformer2DModel,
)
from transformers import Qwen3Config, Qwen3Model

from tests.engine.local.families.lora import build_transformer_lora
from tests.engine.local.families.qwen_tokenizer import VOCAB_SIZE, qwen_tokenizer, special_id

TEXT_HIDDEN = 16


def build_z_image(folder: Path) -> Path:
    torch.manual_seed(0)
    tokenizer = qwen_tokenizer()
    transformer = ZImageTransformer2DModel(
        all_patch_size=(2,),
        all_f_patch_size=(1,),
        in_channels=16,
        dim=32,
        n_layers=2,
        n_refiner_layers=1,
        n_heads=2,
        n_kv_heads=2,
        norm_eps=1e-5,
        qk_norm=True,
        cap_feat_dim=TEXT_HIDDEN,
        rope_theta=256.0,
        t_scale=1000.0,
        axes_dims=[8, 4, 4],
        axes_lens=[256, 32, 32],
    )
    with torch.no_grad():  # created with torch.empty: give them values
        transformer.x_pad_token.copy_(torch.ones_like(transformer.x_pad_token))
        transformer.cap_pad_token.copy_(torch.ones_like(transformer.cap_pad_token))
    vae = AutoencoderKL(  # the Flux VAE's layout: 16 channels, x8, scaling and shift
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=[8, 8, 8, 8],
        layers_per_block=1,
        latent_channels=16,
        norm_num_groups=8,
        sample_size=64,
        scaling_factor=0.3611,
        shift_factor=0.1159,
        use_quant_conv=False,
        use_post_quant_conv=False,
    )
    text_encoder = Qwen3Model(
        Qwen3Config(
            hidden_size=TEXT_HIDDEN,
            intermediate_size=16,
            num_hidden_layers=2,
            num_attention_heads=2,
            num_key_value_heads=2,
            head_dim=8,
            vocab_size=VOCAB_SIZE,
            max_position_embeddings=1024,
            bos_token_id=None,
            eos_token_id=special_id(tokenizer, "<|im_end|>"),
            pad_token_id=special_id(tokenizer, "<|endoftext|>"),
        )
    ).eval()
    pipe = ZImagePipeline(
        scheduler=FlowMatchEulerDiscreteScheduler(shift=3.0, use_dynamic_shifting=False),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
    )
    pipe.save_pretrained(folder)
    return folder


LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def build_z_image_lora(pipe_folder: Path, out: Path, seed: int = 1) -> Path:
    """A random LoRA on the transformer's attention projections, in diffusers format."""
    return build_transformer_lora(ZImagePipeline, pipe_folder, out, LORA_TARGETS, seed)


def vae_input(pipe: ZImagePipeline, latents: torch.Tensor, height: int, width: int):
    """What the pipeline hands ``vae.decode`` for the ``latents`` the step callback sees."""
    return latents / pipe.vae.config.scaling_factor + pipe.vae.config.shift_factor
