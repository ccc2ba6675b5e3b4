"""FLOPs of one image, counted (``torch.utils.flop_counter.FlopCounterMode``: matmuls,
convolutions, attention) on the meta device from an architecture's config, with the shapes the
pipeline gives each part: the text encoders once per call, the denoiser once per step (twice
with classifier-free guidance), the VAE decoder once. Nothing runs, so the full-size models
are counted on any machine in a second."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from _archs import Arch, build
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

META = torch.device("meta")
DTYPE = torch.bfloat16


@dataclass(frozen=True)
class Flops:
    text: int  # the text encoders, for the whole call
    step: int  # one denoising step, every pass of it
    decode: int  # the VAE decoder, for the whole call
    steps: int
    batch: int

    @property
    def total(self) -> int:
        return self.text + self.steps * self.step + self.decode

    @property
    def per_image(self) -> float:
        return self.total / self.batch


def guided(arch: Arch, guidance: float) -> bool:
    """Whether the pipeline runs classifier-free guidance (a second pass a step) at this
    guidance: SD, SDXL and SD3 above 1, Z-Image above 0, FLUX.1 [schnell] never."""
    if arch.pipeline == "FluxPipeline":
        return False
    if arch.pipeline == "ZImagePipeline":
        return guidance > 0
    return guidance > 1


def count(
    arch: Arch,
    size: int,
    steps: int,
    guidance: float,
    prompt: str,
    batch: int = 1,
    pipe: Any = None,
) -> Flops:
    """``pipe``: the architecture already built on the meta device, else it is built here."""
    pipe = pipe if pipe is not None else build(arch, META, DTYPE)
    passes = 2 if guided(arch, guidance) else 1
    latent = size // pipe.vae_scale_factor
    channels = pipe.vae.config.latent_channels
    decode = _count(lambda: pipe.vae.decode(_meta(batch, channels, latent, latent)))
    text = sum(
        _count(lambda e=encoder, n=length: e(_ids(batch * passes, n)))
        for encoder, length in _encoders(arch, pipe, prompt)
    )
    step = _count(lambda: _denoise(arch, pipe, batch * passes, latent, prompt))
    return Flops(text=text, step=step, decode=decode, steps=steps, batch=batch)


def count_run(run: Callable[[], Any]) -> int:
    """The FLOPs of a real call, for checking the model above on a small run. Attention runs
    through SDPA's math backend, whose matmuls the counter sees: it has no formula for the
    CPU's fused kernel, and would leave attention out."""
    with sdpa_kernel(SDPBackend.MATH):
        return _count(run)


def _count(run: Callable[[], Any]) -> int:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        run()
    return int(counter.get_total_flops())


def _meta(*shape: int) -> torch.Tensor:
    return torch.empty(shape, device=META, dtype=DTYPE)


def _ids(*shape: int) -> torch.Tensor:
    return torch.zeros(shape, device=META, dtype=torch.long)


def _encoders(arch: Arch, pipe: Any, prompt: str) -> list[tuple[Any, int]]:
    """Each text encoder with the token count the pipeline gives it (padded to the length
    it pads to), negative prompts included where guidance runs them."""
    if arch.pipeline == "FluxPipeline":
        return [(pipe.text_encoder, 77), (pipe.text_encoder_2, 512)]
    if arch.pipeline == "StableDiffusion3Pipeline":
        return [(pipe.text_encoder, 77), (pipe.text_encoder_2, 77), (pipe.text_encoder_3, 256)]
    if arch.pipeline == "ZImagePipeline":
        return [(pipe.text_encoder, 512)]
    encoders = [pipe.text_encoder, getattr(pipe, "text_encoder_2", None)]
    return [(encoder, 77) for encoder in encoders if encoder is not None]


def _caption_tokens(pipe: Any, prompt: str) -> int:
    """Z-Image keeps only the prompt's own tokens (chat template included), not the padding."""
    text = pipe.tokenizer.apply_chat_template(
        [{"role": "user", "content": prompt}],
        tokenize=False,
        add_generation_prompt=True,
        enable_thinking=True,
    )
    return len(pipe.tokenizer(text).input_ids)


def _denoise(arch: Arch, pipe: Any, n: int, latent: int, prompt: str) -> Any:
    """One call of the denoiser on ``n`` latents, with the shapes its pipeline passes."""
    if arch.pipeline == "FluxPipeline":
        config = pipe.transformer.config
        tokens = (latent // 2) ** 2
        return pipe.transformer(
            hidden_states=_meta(n, tokens, config.in_channels),
            encoder_hidden_states=_meta(n, 512, config.joint_attention_dim),
            pooled_projections=_meta(n, config.pooled_projection_dim),
            timestep=_meta(n),
            guidance=_meta(n) if config.guidance_embeds else None,
            img_ids=_meta(tokens, 3),
            txt_ids=_meta(512, 3),
            return_dict=False,
        )
    if arch.pipeline == "StableDiffusion3Pipeline":
        config = pipe.transformer.config
        return pipe.transformer(
            hidden_states=_meta(n, config.in_channels, latent, latent),
            encoder_hidden_states=_meta(n, 77 + 256, config.joint_attention_dim),
            pooled_projections=_meta(n, config.pooled_projection_dim),
            timestep=_meta(n),
            return_dict=False,
        )
    if arch.pipeline == "ZImagePipeline":
        config = pipe.transformer.config
        caption = _caption_tokens(pipe, prompt)
        return pipe.transformer(
            [_meta(config.in_channels, 1, latent, latent) for _ in range(n)],
            _meta(n),
            [_meta(caption, config.cap_feat_dim) for _ in range(n)],
            return_dict=False,
        )
    config = pipe.unet.config
    extra: dict[str, Any] = {}
    if config.addition_embed_type == "text_time":
        extra["added_cond_kwargs"] = {
            "text_embeds": _meta(n, pipe.text_encoder_2.config.projection_dim),
            "time_ids": _meta(n, 6),
        }
    return pipe.unet(
        _meta(n, config.in_channels, latent, latent),
        _meta(n),
        encoder_hidden_states=_meta(n, 77, config.cross_attention_dim),
        return_dict=False,
        **extra,
    )
