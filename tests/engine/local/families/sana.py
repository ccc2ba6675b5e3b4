"""Tiny Sana: ``SanaPipeline``; tiny Sana Sprint: ``SanaSprintPipeline``, img2img
``SanaSprintImg2ImgPipeline.from_pipe(pipe)``. Plain Sana has no img2img pipeline in diffusers
0.42.1.

Built like diffusers' own ``get_dummy_components()`` (tests/pipelines/sana), but offline: the
tokenizer is our own (``gemma_tokenizer``), the text encoder a tiny ``Gemma2Model``. Kept from
the real models: the VAE (``AutoencoderDC``, DC-AE f32c32) has 32 latent channels and six
stages, so x32 (the last stage is 32 wide because the DC-AE shortcuts need a multiple of the
latent channels); ``scaling_factor=0.41407``; the transformer's ``sample_size`` is 32 as in the
1024 px models. Sana gets ``DPMSolverMultistepScheduler`` with flow sigmas and
``flow_shift=3.0`` (the class its ``__init__`` is typed for; the settings as we know the 1024 px
checkpoints' config, not checked against the hub), Sprint ``SCMScheduler()``; Sprint's
transformer has ``guidance_embeds=True`` and ``qk_norm="rms_norm_across_heads"``.

Facts (diffusers 0.42.1), for a 64x64 image:

- ``use_resolution_binning`` defaults to True: the size is first mapped to the nearest
  1024 px aspect-ratio bin (``sample_size`` 32; Sprint accepts no other sample size, Sana also
  16/64/128), generated there (1024x1024 for 64x64) and resized back. Pass
  ``use_resolution_binning=False`` to generate at the asked size.
- Latents in ``callback_on_step_end``: not packed, ``(B, 32, H/32, W/32)`` = ``(1, 32, 2, 2)``.
  Sprint's are in trigflow units, i.e. times ``scheduler.config.sigma_data`` (0.5): divide by
  it; Sprint decodes ``denoised / sigma_data`` after the loop (equal to the last step's latents
  with the SCM scheduler), so a callback changing ``latents`` on the last step has no effect.
- VAE input: ``latents / vae.config.scaling_factor`` then ``vae.decode(x)[0]`` (``vae_input()``).
- Size multiple: 32 (hard-coded); other sizes raise ``ValueError`` (binning avoids it).
- Guidance: Sana: ``guidance_scale`` (default 4.5) is real CFG when > 1, with
  ``negative_prompt`` (default ``""``). Sprint: ``guidance_scale`` (default 4.5) is an embedded
  guidance (times ``guidance_embeds_scale`` 0.1), no CFG and no ``negative_prompt`` argument;
  ``max_timesteps``/``intermediate_timesteps`` set its 2-step schedule. Sprint img2img: the
  same plus ``image`` and ``strength`` (default 0.6).
- Default schedulers: ``DPMSolverMultistepScheduler`` (Sana), ``SCMScheduler`` (Sprint).
  Sana's swaps to ``FlowMatchEulerDiscreteScheduler`` (plain, Karras, beta, stochastic, which
  here is repeatable by seed as Sana passes ``generator`` to ``step``) and to
  ``FlowMatchHeunDiscreteScheduler`` all run, but ``from_config`` of the DPM config drops
  ``flow_shift=3`` (their ``shift`` stays 1.0). Sprint takes none of them: it passes
  ``max_timesteps``/``intermediate_timesteps`` to ``set_timesteps`` (``TypeError``).
- Prompts get Sana's "complex human instruction" prepended by default (pass
  ``complex_human_instruction=None`` to skip it); the embeddings keep ``<bos>`` and the last
  ``max_sequence_length - 1`` (299) tokens.
"""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import (
    AutoencoderDC,
    DPMSolverMultistepScheduler,
    SanaPipeline,
    SanaSprintPipeline,
    SanaTransformer2DModel,
    SCMScheduler,
)
from transformers import Gemma2Config, Gemma2Model

from tests.engine.local.families.gemma_tokenizer import VOCAB_SIZE, gemma_tokenizer
from tests.engine.local.families.lora import build_transformer_lora

TEXT_HIDDEN = 16
STAGES = 6  # DC-AE f32c32: six stages, x32, 32 latent channels


def vae() -> AutoencoderDC:
    return AutoencoderDC(
        in_channels=3,
        latent_channels=32,
        attention_head_dim=4,
        encoder_block_types=("ResBlock",) * (STAGES - 1) + ("EfficientViTBlock",),
        decoder_block_types=("ResBlock",) * (STAGES - 1) + ("EfficientViTBlock",),
        encoder_block_out_channels=(8, 8, 8, 16, 16, 32),  # the last a multiple of 32
        decoder_block_out_channels=(8, 8, 8, 16, 16, 32),
        encoder_qkv_multiscales=((),) * (STAGES - 1) + ((5,),),
        decoder_qkv_multiscales=((),) * (STAGES - 1) + ((5,),),
        encoder_layers_per_block=(1,) * STAGES,
        decoder_layers_per_block=(1,) * STAGES,
        downsample_block_type="pixel_unshuffle",
        upsample_block_type="pixel_shuffle",
        decoder_norm_types="rms_norm",
        decoder_act_fns="silu",
        scaling_factor=0.41407,
    )


def text_encoder() -> Gemma2Model:
    return Gemma2Model(
        Gemma2Config(
            head_dim=8,
            hidden_size=TEXT_HIDDEN,
            intermediate_size=16,
            max_position_embeddings=8192,
            num_attention_heads=2,
            num_hidden_layers=1,
            num_key_value_heads=2,
            vocab_size=VOCAB_SIZE,
            pad_token_id=0,
            eos_token_id=1,
            bos_token_id=2,
            attn_implementation="eager",
        )
    ).eval()


def transformer(**extra) -> SanaTransformer2DModel:
    return SanaTransformer2DModel(
        patch_size=1,
        in_channels=32,
        out_channels=32,
        num_layers=1,
        num_attention_heads=2,
        attention_head_dim=4,
        num_cross_attention_heads=2,
        cross_attention_head_dim=4,
        cross_attention_dim=8,
        caption_channels=TEXT_HIDDEN,
        sample_size=32,  # the 1024 px bins, as the real 1024 px models (Sprint knows no other)
        **extra,
    )


def build_sana(folder: Path) -> Path:
    torch.manual_seed(0)
    pipe = SanaPipeline(
        tokenizer=gemma_tokenizer(),
        text_encoder=text_encoder(),
        vae=vae(),
        transformer=transformer(),
        scheduler=DPMSolverMultistepScheduler(  # Sana's own: flow sigmas, shift 3
            flow_shift=3.0,
            use_flow_sigmas=True,
            prediction_type="flow_prediction",
            beta_schedule="linear",
            beta_start=0.0001,
            beta_end=0.02,
            solver_order=2,
            algorithm_type="dpmsolver++",
            final_sigmas_type="zero",
        ),
    )
    pipe.save_pretrained(folder)
    return folder


def build_sana_sprint(folder: Path) -> Path:
    torch.manual_seed(0)
    pipe = SanaSprintPipeline(
        tokenizer=gemma_tokenizer(),
        text_encoder=text_encoder(),
        vae=vae(),
        transformer=transformer(qk_norm="rms_norm_across_heads", guidance_embeds=True),
        scheduler=SCMScheduler(),
    )
    pipe.save_pretrained(folder)
    return folder


LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


def build_sana_lora(pipe_folder: Path, out: Path, seed: int = 1) -> Path:
    """A random LoRA on the transformer's attention projections, in diffusers format."""
    return build_transformer_lora(SanaPipeline, pipe_folder, out, LORA_TARGETS, seed)


def build_sana_sprint_lora(pipe_folder: Path, out: Path, seed: int = 1) -> Path:
    """The same for Sana Sprint (its transformer has the same attention layout)."""
    return build_transformer_lora(SanaSprintPipeline, pipe_folder, out, LORA_TARGETS, seed)


def vae_input(
    pipe: SanaPipeline | SanaSprintPipeline, latents: torch.Tensor, height: int, width: int
):
    """What the pipeline hands ``vae.decode`` for the ``latents`` the step callback sees
    (for Sprint: those of the last step)."""
    if isinstance(pipe.scheduler, SCMScheduler):
        latents = latents / pipe.scheduler.config.sigma_data
    return latents / pipe.vae.config.scaling_factor
