"""Cheap previews: latents projected to RGB by a fixed linear map, no VAE decode."""

from __future__ import annotations

import torch
from PIL import Image

# Rows map the four latent channels to RGB; published approximations for each VAE family.
SD_FACTORS = torch.tensor(
    [
        [0.3512, 0.2297, 0.3227],
        [0.3250, 0.4974, 0.2350],
        [-0.2829, 0.1762, 0.2721],
        [-0.2120, -0.2616, -0.7177],
    ]
)
SDXL_FACTORS = torch.tensor(
    [
        [0.3651, 0.4232, 0.4341],
        [-0.2533, -0.0042, 0.1068],
        [0.1076, 0.1111, -0.0362],
        [-0.3165, -0.2492, -0.2188],
    ]
)


def latent_preview(latent: torch.Tensor, xl: bool) -> Image.Image:
    """A small RGB image (1/8 of the output size) from one latent of shape (4, h, w)."""
    factors = SDXL_FACTORS if xl else SD_FACTORS
    rgb = torch.einsum("chw,cr->hwr", latent.float().cpu(), factors)
    pixels = ((rgb + 1) * 127.5).clamp(0, 255).to(torch.uint8).numpy()
    return Image.fromarray(pixels, "RGB")
