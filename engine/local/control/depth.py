"""Depth maps through transformers' depth models (Depth Anything V2 by default), run on the
engine's GPU thread: near is white, far is black, as depth ControlNets were trained."""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForDepthEstimation

DEFAULT_DEPTH = "depth-anything/Depth-Anything-V2-Small-hf"
"""About 25M parameters, Apache-2.0."""


class DepthEstimator:
    """A depth model kept in RAM and moved to the GPU only while it runs, as the segmenter."""

    def __init__(
        self, source: str, device: torch.device, dtype: torch.dtype, cache_dir: str | None
    ):
        self._processor: Any = AutoImageProcessor.from_pretrained(source, cache_dir=cache_dir)
        model: Any = AutoModelForDepthEstimation.from_pretrained(source, cache_dir=cache_dir)
        self._model = model.to(dtype).eval()
        self._device = device
        self._dtype = dtype

    @torch.no_grad()
    def depth(self, image: Image.Image) -> Image.Image:
        """The depth map of ``image`` at its size: RGB, grey levels 0–255 stretched from the
        farthest to the nearest point (Depth Anything predicts relative inverse depth, larger
        nearer)."""
        inputs = self._processor(images=image, return_tensors="pt")
        pixels = inputs["pixel_values"].to(self._device, self._dtype)
        model = self._model.to(self._device)
        try:
            predicted = model(pixel_values=pixels).predicted_depth
        finally:
            self._model = model.to("cpu")
        depth = predicted.reshape(1, 1, *predicted.shape[-2:]).float()
        depth = torch.nn.functional.interpolate(
            depth, size=(image.height, image.width), mode="bicubic", align_corners=False
        )[0, 0]
        low, high = depth.min(), depth.max()
        # a flat prediction has no depth to show
        depth = (depth - low) / (high - low) * 255.0 if high > low else torch.zeros_like(depth)
        plane = depth.round().clamp(0, 255).to(torch.uint8)
        return Image.fromarray(plane.cpu().numpy()).convert("RGB")
