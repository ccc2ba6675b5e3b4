"""A small helper model (the segmenter, the depth, person and pose models) kept in RAM and
moved to the GPU only while it runs: each is small, so the move costs milliseconds and the
pipelines' GPU budget stays theirs (it runs between pipeline calls on the engine's thread,
inside the working memory a run already leaves free)."""

from __future__ import annotations

from typing import Any

import torch


class ResidentModel:
    def __init__(self, processor: Any, model: Any, device: torch.device, dtype: torch.dtype):
        self._processor: Any = processor
        self._model: Any = model.to(dtype).eval()
        self._device = device
        self._dtype = dtype

    def pixels(self, inputs: Any) -> torch.Tensor:
        """The processor's ``pixel_values`` on the model's device, in its dtype."""
        pixels: torch.Tensor = inputs["pixel_values"].to(self._device, self._dtype)
        return pixels

    def run(self, **inputs: Any) -> Any:
        """The model's output for ``inputs``: on the GPU for the call, back in RAM after it,
        whether or not it raised."""
        model = self._model.to(self._device)
        try:
            return model(**inputs)
        finally:
            self._model = model.to("cpu")
