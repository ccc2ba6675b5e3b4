"""Image to prompt text with a BLIP captioning model (for example
Salesforce/blip-image-captioning-base), run on the engine's GPU thread."""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image
from transformers import BlipForConditionalGeneration, BlipProcessor

MAX_NEW_TOKENS = 60


class Captioner:
    def __init__(
        self, source: str, device: torch.device, dtype: torch.dtype, cache_dir: str | None
    ):
        self._processor: Any = BlipProcessor.from_pretrained(source, cache_dir=cache_dir)
        model: Any = BlipForConditionalGeneration.from_pretrained(source, cache_dir=cache_dir)
        self._model = model.to(device, dtype).eval()
        self._device = device
        self._dtype = dtype

    @torch.no_grad()
    def caption(self, image: Image.Image) -> str:
        inputs = self._processor(images=image.convert("RGB"), return_tensors="pt")
        pixels = inputs["pixel_values"].to(self._device, self._dtype)
        tokens = self._model.generate(pixel_values=pixels, max_new_tokens=MAX_NEW_TOKENS)
        return str(self._processor.decode(tokens[0], skip_special_tokens=True)).strip()
