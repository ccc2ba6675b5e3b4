"""FLUX.1 Redux: reference images turned into tokens beside the prompt's, as
``FluxPriorReduxPipeline`` makes them (SigLIP, then Redux's embedder), each reference's tokens
scaled by its weight."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from diffusers.pipelines.flux.modeling_flux import ReduxImageEncoder
from PIL import Image
from transformers import SiglipImageProcessor, SiglipVisionModel


class Redux:
    """The Redux parts of a folder laid out as black-forest-labs/FLUX.1-Redux-dev is."""

    def __init__(self, folder: Path, device: torch.device, dtype: torch.dtype) -> None:
        self._processor: Any = SiglipImageProcessor.from_pretrained(folder / "feature_extractor")
        encoder: Any = SiglipVisionModel.from_pretrained(folder / "image_encoder", dtype=dtype)
        self._encoder = encoder.to(device).eval()
        embedder: Any = ReduxImageEncoder.from_pretrained(folder / "image_embedder")
        self._embedder = embedder.to(device, dtype).eval()
        self._device, self._dtype = device, dtype

    @torch.no_grad()
    def tokens(self, images: list[Image.Image], weights: list[float]) -> torch.Tensor:
        """The references' tokens, side by side: (1, tokens per image × images, width)."""
        pixels = self._processor.preprocess(
            images=images, do_resize=True, return_tensors="pt", do_convert_rgb=True
        )
        hidden = self._encoder(
            pixel_values=pixels["pixel_values"].to(self._device, self._dtype)
        ).last_hidden_state
        embeds = self._embedder(hidden).image_embeds
        scale = torch.tensor(weights, device=embeds.device, dtype=embeds.dtype)[:, None, None]
        embeds = embeds * scale
        tokens: torch.Tensor = embeds.reshape(1, -1, embeds.shape[-1])
        return tokens


@torch.no_grad()
def redux_arguments(pipe: Any, tokens: torch.Tensor, prompts: list[str]) -> dict[str, Any]:
    """A FLUX.1 call's prompt as embeddings, its T5 tokens followed by the references'."""
    device = pipe._execution_device
    prompt_embeds, pooled, _ = pipe.encode_prompt(
        prompt=prompts, prompt_2=None, device=device, num_images_per_prompt=1
    )
    tokens = tokens.to(device, prompt_embeds.dtype).expand(len(prompts), -1, -1)
    return {
        "prompt": None,
        "prompt_embeds": torch.cat([prompt_embeds, tokens], dim=1),
        "pooled_prompt_embeds": pooled,
    }
