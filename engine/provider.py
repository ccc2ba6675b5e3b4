"""The one interface every backend implements, with its progress and cancel plumbing."""

from __future__ import annotations

import abc
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from PIL import Image

from engine.errors import EngineError, GenerationCancelled, InvalidRequest
from engine.types import (
    DEFAULT_SIZE,
    Capabilities,
    GenerationRequest,
    GenerationResult,
    Mode,
    ModelInfo,
)


@dataclass(frozen=True, slots=True)
class Progress:
    """How far a run is. ``total`` is 0 when the backend cannot say (a remote queue)."""

    step: int
    total: int
    message: str = ""
    preview: Image.Image | None = None

    @property
    def fraction(self) -> float | None:
        return self.step / self.total if self.total else None


ProgressCallback = Callable[[Progress], None]


class CancelToken:
    """Set from the event loop, checked from wherever the provider runs (a thread included)."""

    def __init__(self) -> None:
        self._event = threading.Event()

    def cancel(self) -> None:
        self._event.set()

    @property
    def cancelled(self) -> bool:
        return self._event.is_set()

    def raise_if_cancelled(self) -> None:
        if self._event.is_set():
            raise GenerationCancelled


class Provider(abc.ABC):
    """A backend that turns requests into images. Progress callbacks may come from any thread."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.unavailable: str | None = None  # why, when a health check failed

    @property
    @abc.abstractmethod
    def capabilities(self) -> Capabilities: ...

    @property
    def default_model(self) -> str:
        models = self.capabilities.models
        return models[0] if models else self.name

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        """Fill what the request leaves to the provider (size, steps, ...) and refuse what it
        cannot honour, naming the option. Runs before anything is queued or charged."""
        resolved = request.replace(
            model=request.model or self.default_model,
            width=request.width or DEFAULT_SIZE,
            height=request.height or DEFAULT_SIZE,
        )
        self.capabilities.check(resolved)
        if not self.capabilities.models and resolved.model != self.default_model:
            # No list to check against (none configured, none discovered): a member's free
            # text would reach the backend, which may read it as a file name.
            raise InvalidRequest("model", resolved.model, f"{self.default_model} on {self.name}")
        return resolved

    async def start(self) -> None:
        """Open connections and load what the first job needs; called once before any job."""

    async def close(self) -> None:
        """Release connections and memory; called once at shutdown."""

    @abc.abstractmethod
    async def generate(
        self, request: GenerationRequest, progress: ProgressCallback, cancel: CancelToken
    ) -> GenerationResult: ...

    async def generate_batch(
        self,
        requests: Sequence[GenerationRequest],
        progress: Sequence[ProgressCallback],
        cancel: Sequence[CancelToken],
    ) -> list[GenerationResult | EngineError]:
        """Run compatible requests together. The default runs them one after another."""
        results: list[GenerationResult | EngineError] = []
        for request, report, token in zip(requests, progress, cancel, strict=True):
            try:
                results.append(await self.generate(request, report, token))
            except EngineError as err:
                results.append(err)
        return results

    def loaded_models(self) -> list[str]:
        """Models held in memory now, for a status display; empty for remote providers."""
        return []

    def model_info(self, model: str) -> ModelInfo:
        """What one of this provider's models is and takes; by default what the provider as a
        whole takes."""
        capabilities = self.capabilities
        return ModelInfo(
            negative_prompt=capabilities.negative_prompt,
            guidance=capabilities.guidance,
            samplers=capabilities.samplers,
            img2img=Mode.IMG2IMG in capabilities.modes,
            upscale=Mode.UPSCALE in capabilities.modes,
            loras=capabilities.loras,
            size_multiple=capabilities.size_multiple,
            tile=capabilities.tile,
        )

    def lora_names(self, model: str | None = None) -> list[str]:
        """The LoRAs a request may name, for autocomplete: those that fit ``model`` where the
        provider can tell; empty when it takes none."""
        return []

    def model_is_nsfw(self, model: str) -> bool:
        """Whether this model is meant for NSFW output; the bot keeps such models to
        age-restricted channels."""
        return self.capabilities.nsfw

    def lora_is_nsfw(self, name: str) -> bool:
        """Whether the owner flagged this LoRA NSFW; kept to age-restricted channels too."""
        return False

    async def describe(self, image: Image.Image) -> str:
        raise EngineError(f"The {self.name} provider cannot describe images.")

    async def segment(self, image: bytes, phrase: str) -> bytes:
        """The region of ``image`` (an encoded image) that ``phrase`` names ("the sky"), as a
        mask: a greyscale PNG of the image's size, 255 there and 0 elsewhere. Refused before
        anything runs where the provider can't (``Capabilities.segment``), and when nothing
        or everything matches."""
        raise InvalidRequest(
            "region",
            None,
            f"the {self.name} provider can't find a region by name; "
            "upload a mask or pick a preset region",
        )

    def batch_key(self, request: GenerationRequest) -> str:
        """Jobs with equal keys may run in one batch; the default never batches."""
        return ""
