"""Cheap previews: latents projected to RGB by a fixed linear map, no VAE decode."""

from __future__ import annotations

import torch
from PIL import Image


def latent_preview(
    latent: torch.Tensor,
    factors: tuple[tuple[float, float, float], ...],
    bias: tuple[float, float, float] = (0.0, 0.0, 0.0),
) -> Image.Image:
    """A small RGB image (one pixel per latent) from one latent of shape (channels, h, w),
    through the family's published linear map (one row of RGB weights per channel)."""
    weights = torch.tensor(factors, dtype=torch.float32)
    rgb = torch.einsum("chw,cr->hwr", latent.float().cpu(), weights) + torch.tensor(bias)
    pixels = ((rgb + 1) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(pixels, "RGB")
