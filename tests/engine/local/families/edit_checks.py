"""Inputs and checks the tiny edit and inpaint pipelines share: a picture, a mask whose left
half is white (repaint) and a seeded call that returns uint8 pixels."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from PIL import Image

WIDTH, HEIGHT = 96, 64  # not square, so a swapped width and height shows
PROMPT = "make it night"


def picture(seed: int = 0, size: tuple[int, int] = (WIDTH, HEIGHT)) -> Image.Image:
    values = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    return Image.fromarray(values)


def left_half_mask(size: tuple[int, int] = (WIDTH, HEIGHT)) -> Image.Image:
    mask = Image.new("L", size, 0)
    mask.paste(255, (0, 0, size[0] // 2, size[1]))
    return mask


def call(pipe: Any, seed: int = 1, **kwargs: Any) -> np.ndarray:
    """Two steps at WIDTH x HEIGHT; the images as uint8 pixels (B, H, W, 3)."""
    kwargs = {
        "prompt": PROMPT,
        "height": HEIGHT,
        "width": WIDTH,
        "num_inference_steps": 2,
        "generator": torch.Generator("cpu").manual_seed(seed),
        **kwargs,
    }
    images = pipe(**kwargs).images
    return np.stack([np.asarray(image) for image in images])


def differ(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.abs(a.astype(int) - b.astype(int)).max() > 0)
