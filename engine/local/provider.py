"""The local diffusers engine: one thread owns the GPU and runs every pipeline call, so the
event loop never waits on a step."""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import io
import json
import logging
import math
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import torch
from PIL import Image

from engine.errors import EngineError, InvalidRequest
from engine.local.captioner import Captioner
from engine.local.device import pick_device, pick_dtype
from engine.local.families import Family
from engine.local.hub import fetch
from engine.local.inputs import check_inputs, input_size
from engine.local.lora_families import lora_kind
from engine.local.loras import LoraLibrary
from engine.local.memory.cache import PipelineCache
from engine.local.memory.planner import MemoryPlanner
from engine.local.models import family_of, info_of, report_at_start
from engine.local.options import LocalOptions, ModelSpec, parse_local_options
from engine.local.pipelines import UPSCALER_FACTOR, ModelLoadError, load_model, load_upscaler
from engine.local.runner import UPSCALER_STEPS, Outcome, PipelineRunner
from engine.local.safety import SafetyClassifier
from engine.local.samplers import FLOW_SAMPLERS, MIN_STEPS, SAMPLERS
from engine.provider import CancelToken, ProgressCallback, Provider
from engine.registry import ProviderConfig
from engine.types import (
    CANVAS_WORDS,
    Capabilities,
    GenerationRequest,
    GenerationResult,
    Mode,
    ModelInfo,
)

log = logging.getLogger(__name__)

T = TypeVar("T")


class LocalProvider(PipelineRunner, Provider):
    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config.name)
        self.options: LocalOptions = parse_local_options(config.options)
        self.device = pick_device(self.options.device)
        self.dtype = pick_dtype(self.options.dtype, self.device)
        lora_dir = self.options.lora_dir
        self.loras = LoraLibrary(Path(lora_dir).expanduser() if lora_dir else None)
        self._families: dict[str, Family] = {}
        load = partial(
            load_model,
            device=self.device,
            cache_dir=self.options.cache_dir,
            compile_unet=self.options.compile,
            loras=lora_dir is not None,
        )
        self.memory = MemoryPlanner(self.device, self.options)
        self.cache = PipelineCache(
            dict(self.options.models),
            lambda name, spec, recipe: load(
                name, spec, self.family(name), dtype=self._dtype(name), recipe=recipe
            ),
            lambda name, spec, reclaimable: self.memory.plan(
                name, spec, self.family(name), self._dtype(name), reclaimable
            ),
            max_models=self.options.max_loaded_models,
            max_gpu_bytes=self.memory.gpu_budget,
            max_ram_bytes=self.memory.ram_budget,
        )
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-gpu")
        self._safety: SafetyClassifier | None = None
        self._upscaler: Any = None
        self._captioner: Captioner | None = None
        specs = self.options.models.values()
        self._capabilities = Capabilities(
            modes=self._modes(),
            models=tuple(self.options.models),
            samplers=tuple(SAMPLERS) + tuple(FLOW_SAMPLERS),
            loras=lora_dir is not None,
            max_size=max(spec.max_size or 4096 for spec in specs),
            max_steps=500,
            max_images=8,
            max_batch=self.options.max_batch,
            nsfw=any(spec.nsfw for spec in specs),
            describe=self.options.captioner is not None,
        )

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def default_model(self) -> str:
        return self.options.default

    def model_spec(self, name: str) -> ModelSpec:
        return self.options.models[name]

    def _dtype(self, name: str) -> torch.dtype:
        return pick_dtype(self.options.dtype, self.device, self.family(name).half)

    def family(self, name: str, online: bool = True) -> Family:
        """The model's family profile, read once (settings, model_index.json, known repos,
        and where ``online`` the hub)."""
        family = self._families.get(name)
        if family is None:
            spec = self.options.models[name]
            family = family_of(name, spec, self.options.cache_dir, online)
            self._families[name] = family
            if hasattr(self, "_capabilities") and not family.modes <= self._capabilities.modes:
                self._capabilities = replace(self._capabilities, modes=self._modes())
        return family

    def _modes(self) -> frozenset[Mode]:
        """txt2img, img2img and upscale, and each edit and canvas mode some configured model's
        family runs (as far as is known without the hub: a repo neither downloaded nor in the
        table of well-known ones adds its modes once its family is read)."""
        modes = {Mode.TXT2IMG, Mode.IMG2IMG, Mode.UPSCALE}
        for name in self.options.models:
            with contextlib.suppress(ModelLoadError):
                modes |= self.family(name, online=False).modes & CANVAS_WORDS.keys()
        return frozenset(modes)

    def models_taking(self, mode: Mode) -> list[str]:
        """The configured models whose family runs ``mode``, as far as is known offline."""
        able = []
        for name in self.options.models:
            with contextlib.suppress(ModelLoadError):
                if mode in self.family(name, online=False).modes:
                    able.append(name)
        return able

    def model_info(self, name: str) -> ModelInfo:
        """What the model is and takes, from its family; never waits on the hub (autocomplete
        and /models ask it on the event loop), so a repo not downloaded yet, of no family the
        table of well-known repos knows, is described as the provider as a whole."""
        spec = self.options.models.get(name)
        if spec is None:
            return super().model_info(name)
        try:
            family = self.family(name, online=False)
        except ModelLoadError:
            return super().model_info(name)
        return info_of(
            family,
            spec,
            loras=self.options.lora_dir is not None,
            upscaler=self.options.upscaler is not None,
        )

    def lora_names(self, model: str | None = None) -> list[str]:
        """The installed LoRAs, or those that may fit ``model``: made for its family, or for a
        family their file does not tell. Never waits on the hub (autocomplete asks it on the
        event loop): a model whose family is not known without it lists them all."""
        files = self.loras.files()
        family = None
        if model in self.options.models:
            with contextlib.suppress(ModelLoadError):
                family = self.family(model, online=False)
        if family is None:
            return sorted(files)
        shape = family.lora_shape
        return sorted(name for name, path in files.items() if lora_kind(path).fits(shape))

    def loaded_models(self) -> list[str]:
        return list(self.cache.loaded)

    def model_is_nsfw(self, model: str) -> bool:
        spec = self.options.models.get(model)
        return spec.nsfw if spec is not None else False

    def lora_is_nsfw(self, name: str) -> bool:
        return name in self.options.nsfw_loras

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        """Fill the model's defaults (its settings, else its family's); refuse options its
        family cannot honour, and sizes, samplers and LoRAs it cannot take."""
        name = request.model or self.default_model
        spec = self.options.models.get(name)
        if spec is None:
            raise InvalidRequest("model", name, "one of " + ", ".join(self.options.models))
        paths = [self.loras.path(lora.name) for lora in request.loras]
        family = self.family(name)
        if request.sampler is not None and request.sampler not in family.samplers:
            close = difflib.get_close_matches(request.sampler, list(family.samplers), 3, 0.4)
            if close:
                raise InvalidRequest(
                    "sampler",
                    request.sampler,
                    f"did you mean {', '.join(close)}? {name} ({family.label}) takes "
                    + ", ".join(family.samplers),
                )
        if request.mode in CANVAS_WORDS and request.mode not in family.modes:
            able = self.models_taking(request.mode)
            raise InvalidRequest(
                "mode",
                request.mode.value,
                f"{name} ({family.label}) can't {CANVAS_WORDS[request.mode]}; "
                + (f"{', '.join(able)} can" if able else "no model here can"),
            )
        check_inputs(request)
        family.check(request, name, explicit_guidance=request.guidance is not None)
        for lora, path in zip(request.loras, paths, strict=True):
            kind = lora_kind(path)
            if not kind.fits(family.lora_shape):
                raise InvalidRequest(
                    "loras",
                    lora.name,
                    f"it was made for {kind.label}; model {name} is {family.label}",
                )
        upscales = request.mode is Mode.UPSCALE and self.options.upscaler is None
        if upscales and family.image2img is None:
            raise InvalidRequest(
                "mode",
                request.mode.value,
                f"{name} ({family.label}) can't redraw an image larger; pick another model",
            )
        width, height = self._size(request, spec, family)
        steps = request.steps or spec.steps or family.steps
        strength = request.strength
        if request.mode is Mode.UPSCALE and self.options.upscaler is not None:
            steps, strength = request.steps or UPSCALER_STEPS, None
        elif request.mode is Mode.UPSCALE:
            strength = self.options.upscale_strength
        elif request.mode is Mode.INPAINT and strength is None:
            strength = family.inpaint_strength
        elif request.mode is Mode.OUTPAINT and strength is None:
            strength = 1.0  # the padding holds nothing worth keeping
        elif request.mode is Mode.EDIT:
            strength = None  # edit pipelines redraw as the instruction says
        if request.mode is not Mode.TXT2IMG and strength is not None:
            steps = max(steps, math.ceil(1 / strength))  # at least one denoising step
        sampler = request.sampler or spec.sampler
        if sampler is not None and sampler not in family.samplers:
            raise InvalidRequest("sampler", sampler, "one of " + ", ".join(family.samplers))
        if steps < family.min_steps:
            raise InvalidRequest("steps", steps, f"at least {family.min_steps} on {name}")
        if sampler in MIN_STEPS and steps < MIN_STEPS[sampler]:
            raise InvalidRequest("steps", steps, f"at least {MIN_STEPS[sampler]} with {sampler}")
        guidance = None
        if family.takes_guidance:
            default = spec.guidance if spec.guidance is not None else family.guidance
            guidance = default if request.guidance is None else request.guidance
        resolved = request.replace(
            model=name,
            width=width,
            height=height,
            steps=steps,
            guidance=guidance,
            sampler=sampler,
            strength=strength,
        )
        for field, value in (("width", width), ("height", height)):
            if request.mode is not Mode.UPSCALE and value % family.size_multiple:
                raise InvalidRequest(
                    field, value, f"a multiple of {family.size_multiple} for model {name}"
                )
        self.capabilities.check(resolved)
        max_size = spec.max_size or family.max_size
        for field, value in (("width", width), ("height", height)):
            if value > max_size:
                raise InvalidRequest(field, value, f"at most {max_size} for model {name}")
        return resolved

    def _size(self, request: GenerationRequest, spec: ModelSpec, family: Family) -> tuple[int, int]:
        if request.width and request.height:
            return request.width, request.height
        if request.mode is Mode.UPSCALE and request.init_image is not None:
            with Image.open(io.BytesIO(request.init_image)) as image:
                source = image.size
            if self.options.upscaler is not None:  # the x4 model's scale is fixed
                return source[0] * UPSCALER_FACTOR, source[1] * UPSCALER_FACTOR
            factor, multiple = self.options.upscale_factor, family.size_multiple
            return _multiple_of(source[0] * factor, multiple), _multiple_of(
                source[1] * factor, multiple
            )
        if request.mode in CANVAS_WORDS and request.init_image is not None:
            size = input_size(request.init_image, spec.max_size or family.max_size, family)
            if request.mode is Mode.EDIT:
                area = (spec.width or family.width) * (spec.height or family.height)
                size = family.within_area(size, area)
            return size
        width = request.width or spec.width or family.width
        return width, request.height or spec.height or family.height

    def batch_key(self, request: GenerationRequest) -> str:
        if request.mode is not Mode.TXT2IMG:
            return ""
        if request.model and self.options.models[request.model].cache != "none":
            # the cache skips blocks by how the whole batch changes: a job's image would
            # depend on the jobs beside it
            return ""
        loras = [[lora.name, lora.weight] for lora in request.loras]
        return json.dumps(
            [request.model, request.size, request.steps, request.guidance, request.sampler, loras]
        )

    async def start(self) -> None:
        await self._call(self._warm_up)

    async def close(self) -> None:
        await self._call(self.cache.clear)
        self._executor.shutdown(wait=True)

    async def generate(
        self, request: GenerationRequest, progress: ProgressCallback, cancel: CancelToken
    ) -> GenerationResult:
        [outcome] = await self.generate_batch([request], [progress], [cancel])
        if isinstance(outcome, EngineError):
            raise outcome
        return outcome

    async def generate_batch(
        self,
        requests: Sequence[GenerationRequest],
        progress: Sequence[ProgressCallback],
        cancel: Sequence[CancelToken],
    ) -> list[Outcome]:
        """One pipeline call for compatible requests, each with its own prompts and seeds."""
        abort = threading.Event()
        try:
            outcomes: list[Outcome] = await self._call(
                self._run, list(requests), list(progress), list(cancel), abort
            )
            return outcomes
        except asyncio.CancelledError:
            abort.set()  # a timeout or shutdown: stop at the next step
            raise

    async def describe(self, image: Image.Image) -> str:
        if self._captioner is None:
            return await super().describe(image)
        caption: str = await self._call(self._captioner.caption, image)
        if not caption:
            raise EngineError("The captioner found nothing to say about this image.")
        return caption

    async def _call(self, function: Any, *args: Any) -> Any:
        return await asyncio.wrap_future(self._executor.submit(function, *args))

    def _warm_up(self) -> None:
        report_at_start(self.options, self.default_model)
        self._safety = self._load_helper(
            "safety checker", self.options.safety_checker, SafetyClassifier
        )
        self._captioner = self._load_helper("captioner", self.options.captioner, Captioner)
        self._upscaler = self._load_helper("upscaler", self.options.upscaler, load_upscaler)
        self.cache.get(self.default_model)
        if self.options.compile or self.model_spec(self.default_model).compile:
            # the first call compiles: pay for it now, not in a job
            started = time.perf_counter()
            warm_up = self.prepare(GenerationRequest("warm-up", steps=2, seed=0))
            self._run([warm_up], [lambda _: None], [CancelToken()], threading.Event())
            log.info("Compiled %s in %.1f s", self.default_model, time.perf_counter() - started)

    def _load_helper(self, what: str, source: str | None, load: Callable[..., T]) -> T | None:
        """A model beside the pipelines (classifier, captioner, upscaler), loaded at start."""
        if source is None:
            return None
        try:
            where = source
            if ModelSpec(source=source).kind == "repo":
                where = str(fetch(source, None, self.options.cache_dir, what))
            return load(where, self.device, self.dtype, self.options.cache_dir)
        except ModelLoadError as err:
            raise ModelLoadError(f"Cannot load the {what} {source}: {err}") from err
        except Exception as err:
            raise ModelLoadError(f"Cannot load the {what} {source}: {err}") from err


def _multiple_of(value: float, multiple: int) -> int:
    """Rounded down to the family's size multiple, at least 64 pixels."""
    return max(64, int(value) // multiple * multiple)
