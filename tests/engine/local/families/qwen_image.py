"""Tiny Qwen-Image: ``QwenImagePipeline``; img2img ``QwenImageImg2ImgPipeline.from_pipe(pipe)``.

Built like diffusers' own ``get_dummy_components()`` (tests/pipelines/qwenimage), but offline:
the tokenizer is our own (``qwen_tokenizer``), the text encoder a tiny
``Qwen2_5_VLForConditionalGeneration`` (vision tower of depth 1, never used for text-to-image).
Kept from the real model: the VAE (``AutoencoderKLQwenImage``, Wan-style 3D causal VAE) has 16
latent channels, x8 (``temperal_downsample=[False, True, True]``) and the real
``latents_mean``/``latents_std``; the transformer sees 2x2-patched latents (64 channels); the
scheduler has Qwen-Image's settings (as published by others, not checked against the hub). About
3 MB on disk.

Facts (diffusers 0.42.1), for a 64x64 image:

- Latents in ``callback_on_step_end`` (``callback_on_step_end_tensor_inputs=["latents"]``):
  packed, ``(B, (H/16)*(W/16), 64)`` = ``(1, 16, 64)``. Unpack with the pipeline's own
  ``pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor)`` which gives a 5-D
  ``(B, 16, 1, H/8, W/8)`` (a frame axis for the video VAE); ``[:, :, 0]`` makes it
  ``(B, C, h, w)``.
- VAE input: ``latents * latents_std + latents_mean`` (per channel, from ``vae.config``; the
  code writes it ``latents / (1 / std) + mean``), on the 5-D tensor; then
  ``vae.decode(x)[0][:, :, 0]``. ``vae_input()`` below does exactly this.
- Size multiple: ``vae_scale_factor * 2`` = 16. Other sizes only log a warning and are floored
  to a multiple of 16 (the image comes out smaller).
- Guidance: ``true_cfg_scale`` (default 4.0) is real CFG, on only when it is > 1 AND a
  ``negative_prompt`` (or ``negative_prompt_embeds``) is given (``negative_prompt=""`` counts);
  the combined prediction is rescaled to the norm of the conditional one. Without a negative
  prompt ``true_cfg_scale`` is ignored (with a warning). ``guidance_scale`` is only for
  guidance-distilled transformers (``guidance_embeds=True``); here (as in Qwen-Image) it is
  ignored with a warning. Img2img: the same plus ``image`` and ``strength`` (default 0.6).
- Default scheduler: ``FlowMatchEulerDiscreteScheduler`` (dynamic shifting with
  ``time_shift_type="exponential"``, ``shift_terminal=0.02``); the pipeline passes its own
  ``sigmas`` and ``mu`` to ``set_timesteps``. With ``shift_terminal`` set (as in the real
  model) ``num_inference_steps=1`` gives NaN sigmas and a black image: use 2 or more.
  Swaps: ``FlowMatchEulerDiscreteScheduler.from_config(config)`` with ``use_karras_sigmas``,
  ``use_beta_sigmas`` or ``stochastic_sampling`` work (txt2img and img2img), but stochastic
  noise comes from the global torch RNG, not ``generator`` (not repeatable by seed);
  ``FlowMatchHeunDiscreteScheduler`` fails (its ``set_timesteps`` takes no ``sigmas``).
- ``max_sequence_length`` defaults to 512 (1024 at most); the first 34 template tokens are
  dropped from the text encoder's output.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import (
    AutoencoderKLQwenImage,
    FlowMatchEulerDiscreteScheduler,
    QwenImagePipeline,
    QwenImageTransformer2DModel,
)
from transformers import Qwen2_5_VLConfig, Qwen2_5_VLForConditionalGeneration

from tests.engine.local.families.lora import build_transformer_lora
from tests.engine.local.families.qwen_tokenizer import VOCAB_SIZE, qwen_tokenizer, special_id

TEXT_HIDDEN = 16


def scheduler() -> FlowMatchEulerDiscreteScheduler:
    """Qwen-Image's own scheduler settings (dynamic exponential shift, terminal 0.02)."""
    return FlowMatchEulerDiscreteScheduler(
        base_image_seq_len=256,
        base_shift=0.5,
        max_image_seq_len=8192,
        max_shift=0.9,
        shift=1.0,
        shift_terminal=0.02,
        time_shift_type="exponential",
        use_dynamic_shifting=True,
    )


def build_qwen_image(folder: Path) -> Path:
    torch.manual_seed(0)
    tokenizer = qwen_tokenizer()
    transformer = QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=64,  # 16 latent channels x 2x2 patch
        out_channels=16,
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=TEXT_HIDDEN,
        guidance_embeds=False,
        axes_dims_rope=(8, 4, 4),
    )
    vae = AutoencoderKLQwenImage(
        base_dim=8,
        z_dim=16,
        dim_mult=[1, 2, 4, 4],
        num_res_blocks=1,
        temperal_downsample=[False, True, True],
    )
    config = Qwen2_5_VLConfig(
        text_config={
            "hidden_size": TEXT_HIDDEN,
            "intermediate_size": 16,
            "num_hidden_layers": 2,
            "num_attention_heads": 2,
            "num_key_value_heads": 2,
            "vocab_size": VOCAB_SIZE,
            "rope_scaling": {"mrope_section": [1, 1, 2], "rope_type": "default", "type": "default"},
            "rope_theta": 1000000.0,
            "bos_token_id": None,
            "eos_token_id": special_id(tokenizer, "<|im_end|>"),
            "pad_token_id": special_id(tokenizer, "<|endoftext|>"),
        },
        vision_config={
            "depth": 1,
            "hidden_size": 16,
            "intermediate_size": 16,
            "num_heads": 2,
            "out_hidden_size": TEXT_HIDDEN,
        },
        hidden_size=TEXT_HIDDEN,
        vocab_size=VOCAB_SIZE,
        bos_token_id=None,
        eos_token_id=special_id(tokenizer, "<|im_end|>"),
        pad_token_id=special_id(tokenizer, "<|endoftext|>"),
        vision_start_token_id=special_id(tokenizer, "<|vision_start|>"),
        vision_end_token_id=special_id(tokenizer, "<|vision_end|>"),
        vision_token_id=special_id(tokenizer, "<|vision_pad|>"),
        image_token_id=special_id(tokenizer, "<|image_pad|>"),
        video_token_id=special_id(tokenizer, "<|video_pad|>"),
    )
    text_encoder = Qwen2_5_VLForConditionalGeneration(config).eval()
    pipe = QwenImagePipeline(
        scheduler=scheduler(),
        vae=vae,
        text_encoder=text_encoder,
        tokenizer=tokenizer,
        transformer=transformer,
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
]


def build_qwen_image_lora(pipe_folder: Path, out: Path, seed: int = 1) -> Path:
    """A random LoRA on the transformer's attention projections, in diffusers format."""
    return build_transformer_lora(QwenImagePipeline, pipe_folder, out, LORA_TARGETS, seed)


def vae_input(pipe: QwenImagePipeline, latents: torch.Tensor, height: int, width: int):
    """What the pipeline hands ``vae.decode`` for the packed ``latents`` the step callback
    sees: ``(B, 16, 1, h, w)``, de-normalised with the VAE's per-channel mean and std."""
    latents = pipe._unpack_latents(latents, height, width, pipe.vae_scale_factor)
    shape = (1, pipe.vae.config.z_dim, 1, 1, 1)
    mean = torch.tensor(pipe.vae.config.latents_mean).view(shape).to(latents)
    std = torch.tensor(pipe.vae.config.latents_std).view(shape).to(latents)
    return latents * std + mean
