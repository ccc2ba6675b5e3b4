"""Tiny dedicated inpainting checkpoints (SD 1.x and SDXL, a 9-channel UNet: latents, mask and
masked-image latents) built from configs with seeded random weights and saved as their
inpaint pipelines, so the engine recognises and loads them through the real loaders."""

from __future__ import annotations

import io
from pathlib import Path

from PIL import Image

from tests.engine.local.tiny import build_sd, build_sdxl


def build_sd_inpaint(folder: Path) -> Path:
    return build_sd(folder, inpainting=True)


def build_sdxl_inpaint(folder: Path) -> Path:
    return build_sdxl(folder, inpainting=True)


def png(image: Image.Image) -> bytes:
    data = io.BytesIO()
    image.save(data, "PNG")
    return data.getvalue()


def picture(width: int, height: int) -> Image.Image:
    """A picture with detail everywhere, so a kept pixel can be told from a repainted one."""
    image = Image.new("RGB", (width, height))
    image.putdata(
        [((x * 7) % 256, (y * 5) % 256, (x * y) % 256) for y in range(height) for x in range(width)]
    )
    return image


def left_half(width: int, height: int) -> Image.Image:
    """A mask that repaints the left half and keeps the right."""
    mask = Image.new("L", (width, height), 0)
    mask.paste(255, (0, 0, width // 2, height))
    return mask
