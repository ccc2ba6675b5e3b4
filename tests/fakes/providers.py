"""A provider for tests: draws a colour from the seed, and can be told to wait, fail or hang."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import io
import time
from collections.abc import Mapping
from typing import Any

from PIL import Image

from bot.control_maps import CONTROL_MAP
from engine import (
    CancelToken,
    Capabilities,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    InvalidRequest,
    Mode,
    Progress,
    ProgressCallback,
    Provider,
    ProviderConfigError,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
)
from engine.registry import ProviderConfig
from engine.types import MAX_BLEND, ControlKind, ModelInfo, ReferenceKind

FAILURES = {
    "unavailable": lambda: ProviderUnavailable("The fake provider is down."),
    "ratelimited": lambda: RateLimited("Slow down.", retry_after=0.05),
    "broken": lambda: ProviderError("The fake provider rejected it."),
    "crash": lambda: RuntimeError("an unexpected bug"),
}


def colour_of(seed: int) -> tuple[int, int, int]:
    digest = hashlib.sha256(str(seed).encode()).digest()
    return digest[0], digest[1], digest[2]


class FakeProvider(Provider):
    """Options: ``steps`` (progress steps), ``step_seconds``, ``fail`` (a FAILURES key),
    ``fail_times`` (how many calls fail first; default every call), ``max_batch``, ``flag``
    (mark every image as flagged by an output classifier), ``upscale`` (also upscale, by 2),
    ``describe`` (caption images), ``fail_describe`` (a FAILURES key for every caption),
    ``previews`` (send a preview with each step), ``nsfw_models`` (models meant for NSFW),
    ``loras`` (LoRA names it knows), ``model_loras`` (model -> the LoRAs that fit it, where
    not all), ``nsfw_loras`` (those of them flagged NSFW), ``threaded``
    (run the steps in a thread and report progress from it, as the local engine does),
    ``down_at_start`` (the reason its start-up health check gives), ``edit``, ``inpaint`` and
    ``outpaint`` (the models that take each mode, or true for all), ``model_modes`` (model ->
    the modes of those three it takes, overriding them), ``max_input_images`` (what its edit
    models take), ``segment`` (find regions by name: the top half for a phrase with "sky" in
    it, nothing otherwise), ``references`` and ``controls`` (the models that follow reference
    images and control maps, or true for all; every kind unless ``reference_kinds`` or
    ``control_kinds`` name some), ``max_references`` (what they take, 5 unless given),
    ``control_map`` (bytes every result that followed a control image hands over as its map),
    ``tile`` (the models that draw seamless tiles, or true for all)."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config.name)
        options: Mapping[str, Any] = config.options
        self.steps = int(options.get("steps", 2))
        self.step_seconds = float(options.get("step_seconds", 0.0))
        self.fail = options.get("fail")
        if self.fail is not None and self.fail not in FAILURES:
            raise ProviderConfigError("fail", self.fail, "one of " + ", ".join(FAILURES))
        self.fail_times = int(options.get("fail_times", 10**9))
        self.fail_describe = options.get("fail_describe")
        if self.fail_describe is not None and self.fail_describe not in FAILURES:
            raise ProviderConfigError("fail_describe", self.fail_describe, "a FAILURES key")
        self.api_key = config.api_key
        self.flag = bool(options.get("flag", False))
        self.previews = bool(options.get("previews", False))
        self.threaded = bool(options.get("threaded", False))
        self.nsfw_models = frozenset(options.get("nsfw_models", ()))
        self.loras = list(options.get("loras", ()))
        self.model_loras = {
            model: list(names) for model, names in options.get("model_loras", {}).items()
        }
        self.nsfw_loras = frozenset(options.get("nsfw_loras", ()))
        modes = {Mode.TXT2IMG} | ({Mode.IMG2IMG} if options.get("img2img", True) else set())
        modes |= {Mode.UPSCALE} if options.get("upscale") else set()
        self.canvas = {
            mode: _models(options.get(mode.value, ()))
            for mode in (Mode.EDIT, Mode.INPAINT, Mode.OUTPAINT)
        }
        modes |= {mode for mode, models in self.canvas.items() if models}
        self.model_modes = {
            model: frozenset(Mode(mode) for mode in listed)
            for model, listed in options.get("model_modes", {}).items()
        }
        self.max_input_images = int(options.get("max_input_images", 1))
        self.referencing = _models(options.get("references", ()))
        self.reference_kinds = frozenset(
            ReferenceKind(kind) for kind in options.get("reference_kinds", list(ReferenceKind))
        )
        self.max_references = int(options.get("max_references", MAX_BLEND))
        self.tiling = _models(options.get("tile", ()))
        self.control_map: bytes | None = options.get("control_map")
        self.controlling = _models(options.get("controls", ()))
        self.control_kinds = frozenset(
            ControlKind(kind) for kind in options.get("control_kinds", list(ControlKind))
        )
        self._capabilities = Capabilities(
            modes=frozenset(modes),
            models=("fake-v1", "fake-v2", *sorted(self.nsfw_models)),
            samplers=("Euler", "Euler a"),
            max_batch=int(options.get("max_batch", 1)),
            max_size=int(options.get("max_size", 2048)),
            loras=bool(self.loras),
            nsfw=bool(self.nsfw_models),
            describe=bool(options.get("describe", False)),
            segment=bool(options.get("segment", False)),
        )
        self.calls: list[GenerationRequest] = []
        self.segmented: list[tuple[tuple[int, int], str]] = []  # each image's size and phrase
        self.described: list[tuple[int, int]] = []  # the size of each image captioned
        self.batches: list[int] = []
        self.started = asyncio.Event()
        self.release: asyncio.Event | None = None
        self.down_at_start: str | None = options.get("down_at_start")

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    async def start(self) -> None:
        self.unavailable = self.down_at_start

    def batch_key(self, request: GenerationRequest) -> str:
        return f"{request.model}:{request.width}x{request.height}:{request.steps}"

    async def generate(
        self, request: GenerationRequest, progress: ProgressCallback, cancel: CancelToken
    ) -> GenerationResult:
        self.calls.append(request)
        self.started.set()
        if self.fail is not None and len(self.calls) <= self.fail_times:
            raise FAILURES[self.fail]()
        if request.prompt == "refuse me":
            raise InvalidRequest("prompt", request.prompt, "anything else")
        if self.threaded:
            await asyncio.to_thread(self._steps_in_thread, progress, cancel)
        for step in range(1, 0 if self.threaded else self.steps + 1):
            cancel.raise_if_cancelled()
            if self.release is not None:
                await self.release.wait()
            await asyncio.sleep(self.step_seconds)
            progress(Progress(step, self.steps, preview=self._preview(step)))
        cancel.raise_if_cancelled()
        if request.mode is Mode.UPSCALE and request.init_image is not None:
            with Image.open(io.BytesIO(request.init_image)) as source:
                larger = source.convert("RGB").resize((source.width * 2, source.height * 2))
            return GenerationResult((GeneratedImage(larger, None, self.flag),), "fake-upscaler")
        images = tuple(
            GeneratedImage(Image.new("RGB", request.size, colour_of(s)), s, self.flag)
            for s in request.seeds
        )
        info: dict[str, Any] = {}
        if self.control_map is not None and request.control is not None:
            info[CONTROL_MAP] = self.control_map
        return GenerationResult(images=images, model=request.model or "fake-v1", info=info)

    def _steps_in_thread(self, progress: ProgressCallback, cancel: CancelToken) -> None:
        for step in range(1, self.steps + 1):
            cancel.raise_if_cancelled()
            time.sleep(self.step_seconds)
            progress(Progress(step, self.steps, preview=self._preview(step)))

    def _preview(self, step: int) -> Image.Image | None:
        return Image.new("RGB", (32, 32), (step * 40, 0, 0)) if self.previews else None

    def model_is_nsfw(self, model: str) -> bool:
        return model in self.nsfw_models

    def model_info(self, model: str) -> ModelInfo:
        def takes(mode: Mode) -> bool:
            if mode not in self._capabilities.modes:
                return False
            if model in self.model_modes:
                return mode in self.model_modes[model]
            return _listed(self.canvas[mode], model)

        edit = takes(Mode.EDIT)
        return dataclasses.replace(
            super().model_info(model),
            edit=edit,
            inpaint=takes(Mode.INPAINT),
            outpaint=takes(Mode.OUTPAINT),
            max_input_images=self.max_input_images if edit else 1,
            references=self.reference_kinds if _listed(self.referencing, model) else frozenset(),
            max_references=self.max_references if _listed(self.referencing, model) else 0,
            controls=self.control_kinds if _listed(self.controlling, model) else frozenset(),
            tile=_listed(self.tiling, model),
        )

    def lora_names(self, model: str | None = None) -> list[str]:
        return self.model_loras.get(model, self.loras) if model is not None else self.loras

    def lora_is_nsfw(self, name: str) -> bool:
        return name in self.nsfw_loras

    async def describe(self, image: Image.Image) -> str:
        if not self._capabilities.describe:
            return await super().describe(image)
        self.described.append(image.size)
        self.started.set()
        if self.fail_describe is not None:
            raise FAILURES[self.fail_describe]()
        if self.release is not None:
            await self.release.wait()
        return f"a fake caption of a {image.width}x{image.height} picture"

    async def segment(self, image: bytes, phrase: str) -> bytes:
        """The top half for a phrase that names the sky, nothing for any other."""
        if not self._capabilities.segment:
            return await super().segment(image, phrase)
        with Image.open(io.BytesIO(image)) as source:
            size = source.size
        self.segmented.append((size, phrase))
        if self.release is not None:
            await self.release.wait()
        mask = Image.new("L", size, 0)
        if "sky" in phrase:
            mask.paste(255, (0, 0, size[0], size[1] // 2))
        buffer = io.BytesIO()
        mask.save(buffer, format="PNG")
        return buffer.getvalue()

    async def generate_batch(self, requests, progress, cancel):  # type: ignore[no-untyped-def]
        self.batches.append(len(requests))
        return await super().generate_batch(requests, progress, cancel)


ALL_MODELS: frozenset[str] = frozenset({"*"})


def _models(given: bool | list[str] | tuple[str, ...]) -> frozenset[str]:
    """A canvas option: true for every model, else the models named."""
    if given is True:
        return ALL_MODELS
    return frozenset(given or ())


def _listed(models: frozenset[str], model: str) -> bool:
    return models is ALL_MODELS or model in models


def fake_provider(config: ProviderConfig) -> FakeProvider:
    return FakeProvider(config)
