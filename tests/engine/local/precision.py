"""How close two images of the same request must be when they were computed another way (a
batch of another shape, another attention kernel, a compiled graph): in fp32 within one level
of 255; in bf16, which rounds every product to 8 significant bits, the same sum taken in
another order lands further off, so within PSNR_FLOOR."""

from __future__ import annotations

import math

import numpy as np
import torch
from PIL import Image

# 40 dB: a root-mean-square difference of 1 % of the pixel range.
PSNR_FLOOR = 40.0


def psnr(a: Image.Image | np.ndarray, b: Image.Image | np.ndarray) -> float:
    first, second = np.asarray(a, np.float64), np.asarray(b, np.float64)
    assert first.shape == second.shape
    error = np.mean((first - second) ** 2)
    return math.inf if error == 0 else 10 * math.log10(255**2 / error)


def assert_same_picture(
    a: Image.Image | np.ndarray, b: Image.Image | np.ndarray, dtype: torch.dtype
) -> None:
    if dtype == torch.float32:
        difference = np.abs(np.asarray(a, np.int16) - np.asarray(b, np.int16)).max()
        assert difference <= 1, f"{difference} levels apart in fp32"
    else:
        assert psnr(a, b) >= PSNR_FLOOR, f"{psnr(a, b):.1f} dB apart in {dtype}"
