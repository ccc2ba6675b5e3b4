"""Depth maps through transformers' depth models (Depth Anything V2 by default), run on the
engine's GPU thread: near is white, far is black, as depth ControlNets were trained."""

from __future__ import annotations

from typing import Any

import torch
from PIL import Image
from transformers import AutoImageProcessor, AutoModelForDepthEstimation

from engine.local.resident import ResidentModel

DEFAULT_DEPTH = "depth-anything/Depth-Anything-V2-Small-hf"
"""About 25M parameters, Apache-2.0."""


class DepthEstimator(ResidentModel):
    """A depth model, kept in RAM and moved to the GPU only while it runs."""

    def __init__(
        self, source: str, device: torch.device, dtype: torch.dtype, cache_dir: str | None
    ):
        processor = AutoImageProcessor.from_pretrained(source, cache_dir=cache_dir)
        model: Any = AutoModelForDepthEstimation.from_pretrained(source, cache_dir=cache_dir)
        super().__init__(processor, model, device, dtype)

    @torch.no_grad()
    def depth(self, image: Image.Image) -> Image.Image:
        """The depth map of ``image`` at its size: RGB, grey levels 0–255 stretched from the
        farthest to the nearest point (Depth Anything predicts relative inverse depth, larger
        nearer)."""
        inputs = self._processor(images=image, return_tensors="pt")
        predicted = self.run(pixel_values=self.pixels(inputs)).predicted_depth
        depth = predicted.reshape(1, 1, *predicted.shape[-2:]).float()
        depth = torch.nn.functional.interpolate(
            depth, size=(image.height, image.width), mode="bicubic", align_corners=False
        )[0, 0]
        low, high = depth.min(), depth.max()
        # a flat prediction has no depth to show
        depth = (depth - low) / (high - low) * 255.0 if high > low else torch.zeros_like(depth)
        plane = depth.round().clamp(0, 255).to(torch.uint8)
        return Image.fromarray(plane.cpu().numpy()).convert("RGB")
