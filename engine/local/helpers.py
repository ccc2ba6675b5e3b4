"""The models beside the local pipelines (safety classifier, captioner, upscaler, segmenter,
the models making control maps): where their files are, and loading them on the GPU thread."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import torch

from engine.errors import InvalidRequest
from engine.local.hub import fetch
from engine.local.options import LocalOptions, ModelSpec
from engine.local.pipelines import ModelLoadError
from engine.local.segmenter import Segmenter, decode, encode

T = TypeVar("T")


class HelperModels:
    """The part of ``LocalProvider`` that loads and runs its helper models."""

    options: LocalOptions
    device: torch.device
    dtype: torch.dtype
    _segmenter: Segmenter | None

    def _segment(self, data: bytes, phrase: str) -> bytes:
        image = decode(data)
        if self._segmenter is None:
            self._segmenter = self._load_helper("segmenter", self.options.segmenter, Segmenter)
        assert self._segmenter is not None  # a source is configured
        mask = self._segmenter.segment(image, phrase)
        if mask.getbbox() is None:
            raise InvalidRequest(
                "region", None, f"nothing matched {phrase!r}; name it another way, or upload a mask"
            )
        if mask.getextrema() == (255, 255):
            raise InvalidRequest(
                "region", None, f"all of the image matched {phrase!r}; name a smaller part"
            )
        return encode(mask)

    def _load_helper(self, what: str, source: str | None, load: Callable[..., T]) -> T | None:
        """A model beside the pipelines (classifier, captioner, upscaler at start; the
        segmenter when first used)."""
        if source is None:
            return None
        where = self._helper_folder(what, source)
        try:
            return load(where, self.device, self.dtype, self.options.cache_dir)
        except Exception as err:
            raise ModelLoadError(f"Cannot load the {what} {source}: {err}") from err

    def _helper_folder(self, what: str, source: str) -> str:
        """Where a helper's files are: a hub repo is downloaded first if it is not cached."""
        if ModelSpec(source=source).kind != "repo":
            return source
        try:
            return str(fetch(source, None, self.options.cache_dir, what))
        except ModelLoadError as err:
            raise ModelLoadError(f"Cannot load the {what} {source}: {err}") from err
