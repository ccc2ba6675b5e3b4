"""Tiny FLUX.2 [klein]: ``Flux2KleinPipeline`` (``is_distilled`` in its config).

There is no img2img pipeline for it in diffusers 0.42.1 (only ``Flux2KleinInpaintPipeline``
and ``Flux2KleinKVPipeline``); ``Flux2KleinPipeline(image=...)`` takes reference images for
in-context editing, which is not strength-based img2img.

Built like diffusers' own ``get_dummy_components()`` (tests/pipelines/flux2), but offline: the
tokenizer is our own (``qwen_tokenizer``, with the Qwen3 chat template the pipeline applies with
``enable_thinking=False``); the text encoder a tiny ``Qwen3ForCausalLM`` with 27 layers, as the
pipeline stacks hidden states 9, 18 and 27 by default (``text_encoder_out_layers``), so the
transformer's ``joint_attention_dim`` is 3 x 16. Kept from the real model: the VAE
(``AutoencoderKLFlux2``) has 32 latent channels, x8, the 2x2 patch (128 channels for the
transformer) and batch-norm statistics (set to non-trivial values here); the scheduler has
FLUX.2's settings as we know them (not checked against the hub). ``build_flux2_klein(folder,
distilled=False)`` makes the base (CFG) variant.

Facts (diffusers 0.42.1), for a 64x64 image:

- The first positional parameter of ``__call__`` is ``image``: always pass ``prompt=`` by name.
- Latents in ``callback_on_step_end``: packed, ``(B, (H/16)*(W/16), 128)`` = ``(1, 16, 128)``.
  The pipeline unpacks with ``pipe._unpack_latents_with_ids(latents, latent_ids)``; the ids are
  not given to the callback, but they are plain row-major, so
  ``pipe._unpack_latents_with_ids(latents, pipe._prepare_latent_ids(torch.empty(B, 128, H/16,
  W/16)))`` or simply ``latents.reshape(B, H/16, W/16, 128).permute(0, 3, 1, 2)`` gives
  ``(B, 128, H/16, W/16)``; after the batch-norm step ``pipe._unpatchify_latents(x)`` gives
  ``(B, 32, H/8, W/8)``.
- VAE input: ``x * sqrt(vae.bn.running_var + vae.config.batch_norm_eps) + vae.bn.running_mean``
  on the 128-channel patched latents, then ``pipe._unpatchify_latents``, then
  ``vae.decode(x)[0]`` (no scaling/shift factor; ``vae_input()`` below).
- Size multiple: ``vae_scale_factor * 2`` = 16; other sizes log a warning and are floored.
- Guidance: ``guidance_scale`` (default 4.0) is real CFG only when > 1 and
  ``is_distilled`` is False; for distilled models it is ignored (with a warning). There is no
  ``negative_prompt`` argument: the negative is always ``""`` (or ``negative_prompt_embeds``).
- Default scheduler: ``FlowMatchEulerDiscreteScheduler`` (dynamic shifting); the pipeline
  passes its own ``sigmas`` and an empirical ``mu``. Swaps: as for Qwen-Image (Euler with
  Karras/beta/stochastic work, stochastic not repeatable by seed; Heun fails).
- Prompts are padded to ``max_sequence_length`` (512) and all 512 tokens go to the transformer.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import (
    AutoencoderKLFlux2,
    FlowMatchEulerDiscreteScheduler,
    Flux2KleinPipeline,
    Flux2Transformer2DModel,
)
from transformers import Qwen3Config, Qwen3ForCausalLM

from tests.engine.local.families.lora import build_transformer_lora
from tests.engine.local.families.qwen_tokenizer import VOCAB_SIZE, qwen_tokenizer, special_id

TEXT_HIDDEN = 16
# The pipeline stacks the text encoder's hidden states 9, 18 and 27 by default
# (text_encoder_out_layers), so the tiny encoder keeps 27 layers (28 hidden states).
TEXT_LAYERS = 27


def scheduler() -> FlowMatchEulerDiscreteScheduler:
    """FLUX.2's scheduler settings (dynamic shift; the pipeline computes an empirical mu)."""
    return FlowMatchEulerDiscreteScheduler(
        base_image_seq_len=256,
        base_shift=0.5,
        max_image_seq_len=4096,
        max_shift=1.15,
        shift=3.0,
        use_dynamic_shifting=True,
    )


def build_flux2_klein(folder: Path, distilled: bool = True) -> Path:
    torch.manual_seed(0)
    tokenizer = qwen_tokenizer()
    transformer = Flux2Transformer2DModel(
        patch_size=1,
        in_channels=128,  # 32 latent channels x 2x2 patch
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=3 * TEXT_HIDDEN,
        timestep_guidance_channels=256,
        axes_dims_rope=[4, 4, 4, 4],
        guidance_embeds=False,
    )
    vae = AutoencoderKLFlux2(  # the real layout: 32 channels, x8, 2x2 patch, batch-norm stats
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        latent_channels=32,
        norm_num_groups=8,
        sample_size=64,
    )
    with torch.no_grad():  # real running statistics are not 0 and 1: exercise the scaling
        vae.bn.running_mean.copy_(torch.randn(vae.bn.running_mean.shape) * 0.1)
        vae.bn.running_var.copy_(torch.rand(vae.bn.running_var.shape) + 0.5)
    text_encoder = Qwen3ForCausalLM(
        Qwen3Config(
            hidden_size=TEXT_HIDDEN,
            intermediate_size=16,
            num_hidden_layers=TEXT_LAYERS,
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
    pipe = Flux2KleinPipeline(
        scheduler=scheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
        is_distilled=distilled,
    )
    pipe.save_pretrained(folder)
    return folder


LORA_TARGETS = [
    "to_q",
    "to_k",
    "to_v",
    "to_out.0",
    "add_q_proj",
    "add_k_proj",
    "add_v_proj",
    "to_add_out",
    "to_qkv_mlp_proj",
]


def build_flux2_klein_lora(pipe_folder: Path, out: Path, seed: int = 1) -> Path:
    """A random LoRA on the transformer's attention projections, in diffusers format."""
    return build_transformer_lora(Flux2KleinPipeline, pipe_folder, out, LORA_TARGETS, seed)


def vae_input(pipe: Flux2KleinPipeline, latents: torch.Tensor, height: int, width: int):
    """What the pipeline hands ``vae.decode`` for the packed ``latents`` the step callback
    sees: ``(B, 32, h, w)``, batch-norm statistics undone and the 2x2 patches unfolded."""
    batch, _, channels = latents.shape
    rows, columns = height // (pipe.vae_scale_factor * 2), width // (pipe.vae_scale_factor * 2)
    latents = latents.reshape(batch, rows, columns, channels).permute(0, 3, 1, 2)
    bn = pipe.vae.bn
    std = torch.sqrt(bn.running_var.view(1, -1, 1, 1) + pipe.vae.config.batch_norm_eps)
    latents = latents * std.to(latents) + bn.running_mean.view(1, -1, 1, 1).to(latents)
    return pipe._unpatchify_latents(latents)
