"""An optional output classifier: the diffusers safety checker flags images the bot's policy
then hides or spoilers in SFW places. It only flags; it never alters an image."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from diffusers.pipelines.stable_diffusion.safety_checker import StableDiffusionSafetyChecker
from PIL import Image
from transformers import CLIPImageProcessor


class SafetyClassifier:
    def __init__(
        self, source: str, device: torch.device, dtype: torch.dtype, cache_dir: str | None
    ):
        checker: Any = StableDiffusionSafetyChecker.from_pretrained(source, cache_dir=cache_dir)
        self._checker = checker.to(device, dtype)
        self._processor: Any = CLIPImageProcessor.from_pretrained(source, cache_dir=cache_dir)
        self._device = device
        self._dtype = dtype

    @torch.no_grad()
    def flags(self, images: list[Image.Image]) -> list[bool]:
        if not images:
            return []
        clip_input = self._processor(images, return_tensors="pt").pixel_values
        arrays = np.stack([np.asarray(image, dtype=np.float32) / 255 for image in images])
        _, flagged = self._checker(
            clip_input=clip_input.to(self._device, self._dtype), images=arrays
        )
        return [bool(flag) for flag in flagged]
