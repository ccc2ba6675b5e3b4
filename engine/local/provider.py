"""The local diffusers engine: one thread owns the GPU and runs every pipeline call, so the
event loop never waits on a step."""

from __future__ import annotations

import asyncio
import contextlib
import difflib
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

from engine.chaos import run_spread
from engine.errors import EngineError, InvalidRequest
from engine.local.canvas_modes import canvas_strength, check_mode, provider_modes
from engine.local.captioner import Captioner
from engine.local.control.maker import MapMaker
from engine.local.control.nets import ControlNets
from engine.local.control.run import check_control
from engine.local.device import pick_device, pick_dtype, set_cpu_threads
from engine.local.families import Family
from engine.local.hub import fetch
from engine.local.inputs import check_inputs, draw_size
from engine.local.lora_families import lora_kind
from engine.local.loras import LoraLibrary
from engine.local.memory.cache import PipelineCache
from engine.local.memory.planner import MemoryPlanner
from engine.local.memory.recipe import Recipe
from engine.local.models import family_of, info_of, map_models, report_at_start
from engine.local.openvino.runtime import OpenVinoRuntime, folder_for
from engine.local.options import LocalOptions, ModelSpec, parse_local_options
from engine.local.pipelines import (
    LoadedModel,
    ModelLoadError,
    load_model,
    load_upscaler,
)
from engine.local.reference_adapters import ReferenceAdapters
from engine.local.references import check_references, max_references, reference_kinds
from engine.local.runner import UPSCALER_STEPS, Outcome, PipelineRunner
from engine.local.safety import SafetyClassifier
from engine.local.samplers import FLOW_SAMPLERS, MIN_STEPS, SAMPLERS
from engine.local.segmenter import Segmenter, check_phrase, decode, encode
from engine.provider import CancelToken, ProgressCallback, Provider
from engine.registry import ProviderConfig
from engine.types import (
    CANVAS_WORDS,
    Capabilities,
    ControlKind,
    GenerationRequest,
    GenerationResult,
    Mode,
    ModelInfo,
    ReferenceKind,
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
        self.references = ReferenceAdapters(
            self.options.adapters, self.options.cache_dir, self.device
        )
        self.openvino = OpenVinoRuntime(
            self.options,
            folder_for(self.options, config.data_dir),
            self.device.type,
            self.family,
            self._load,
        )
        self.memory = MemoryPlanner(self.device, self.options)
        self.controlnets = ControlNets(
            self.options.controlnets, self.device, self.options.cache_dir
        )
        self.cache = PipelineCache(
            dict(self.options.models),
            lambda name, spec, recipe: self.openvino.attach(self._load(name, recipe=recipe)),
            lambda name, spec, reclaimable: self.memory.plan(
                name, spec, self.family(name), self._dtype(name), reclaimable
            ),
            max_models=self.options.max_loaded_models,
            max_gpu_bytes=self.memory.gpu_budget,
            max_ram_bytes=self.memory.ram_budget,
            beside=self.controlnets.held,
        )
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"{self.name}-gpu")
        self._safety: SafetyClassifier | None = None
        self._upscaler: Any = None
        self._captioner: Captioner | None = None
        self._segmenter: Segmenter | None = None
        self.maps = MapMaker(
            self.options.depth_model,
            self.options.pose_model,
            self._load_helper,
            self.options.pose_detector,
        )
        specs = self.options.models.values()
        self._capabilities = Capabilities(
            modes=provider_modes(family for _, family in self._known_families()),
            models=tuple(self.options.models),
            samplers=tuple(SAMPLERS) + tuple(FLOW_SAMPLERS),
            loras=lora_dir is not None,
            max_size=max(spec.max_size or 4096 for spec in specs),
            max_steps=500,
            max_images=8,
            max_batch=self.options.max_batch,
            nsfw=any(spec.nsfw for spec in specs),
            describe=self.options.captioner is not None,
            segment=self.options.segmenter is not None,
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
                modes = provider_modes(family for _, family in self._known_families())
                self._capabilities = replace(self._capabilities, modes=modes)
        return family

    def _load(
        self, name: str, dtype: torch.dtype | None = None, recipe: Recipe | None = None
    ) -> LoadedModel:
        return load_model(
            name,
            self.options.models[name],
            self.family(name),
            device=self.device,
            dtype=dtype or self._dtype(name),
            cache_dir=self.options.cache_dir,
            compile_unet=self.options.compile,
            recipe=recipe,
            loras=self.options.lora_dir is not None,
        )

    def _known_families(self) -> list[tuple[str, Family]]:
        """Each configured model's family, as far as is known without the hub (a repo neither
        downloaded nor in the table of well-known ones is learnt when first loaded)."""
        known = []
        for name in self.options.models:
            with contextlib.suppress(ModelLoadError):
                known.append((name, self.family(name, online=False)))
        return known

    def able(self, mode: Mode) -> list[str]:
        """The configured models whose family runs ``mode``, as far as is known offline."""
        return [name for name, family in self._known_families() if mode in family.modes]

    def able_references(self, kind: ReferenceKind) -> list[str]:
        """The configured models that follow ``kind`` of reference, as far as is known offline."""
        return [
            name
            for name, family in self._known_families()
            if kind in reference_kinds(family, self.options.adapters)
            and not self._compiled(name, family)
        ]

    def _compiled(self, name: str, family: Family) -> bool:
        """Compiled, with references through adapters, which change its attention."""
        compiled = self.options.compile or self.options.models[name].compile
        return compiled and family.references == "ip_adapter"

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
        info = info_of(
            family,
            spec,
            loras=self.options.lora_dir is not None,
            upscaler=self.options.upscaler is not None,
        )
        info = replace(info, controls=self._controls(family))
        if self._compiled(name, family):
            return info
        return replace(
            info,
            references=reference_kinds(family, self.options.adapters),
            max_references=max_references(family, self.options.adapters),
        )

    def _controls(self, family: Family) -> frozenset[ControlKind]:
        """The maps a model of ``family`` follows here: a ControlNet for it, and a way to make
        the map."""
        return self.controlnets.kinds(family) & self.maps.kinds()

    def able_to_follow(self, kind: ControlKind) -> list[str]:
        """The configured models that follow ``kind`` maps, as far as is known offline."""
        return [name for name, family in self._known_families() if kind in self._controls(family)]

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
        check_mode(request, name, family, self.able)
        check_inputs(request)
        check_control(
            request,
            name,
            family,
            self._controls(family),
            self.able_to_follow,
            partial(self.controlnets.fixed, family),
        )
        family.check(request, name, explicit_guidance=request.guidance is not None)
        if request.tile and not family.unet:
            raise InvalidRequest(
                "tile",
                None,
                f"{name} ({family.label}) can't draw seamless tiles; SD 1.x, SD 2.x and SDXL "
                "models can",
            )
        check_references(
            request,
            name,
            family,
            self.options.adapters,
            self.able_references,
            self._compiled(name, family),
        )
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
        upscale = None if self.options.upscaler else self.options.upscale_factor
        width, height = draw_size(request, spec, family, upscale)
        steps = request.steps or spec.steps or family.steps
        strength = request.strength
        if request.mode is Mode.UPSCALE and self.options.upscaler is not None:
            steps, strength = request.steps or UPSCALER_STEPS, None
        elif request.mode is Mode.UPSCALE:
            strength = self.options.upscale_strength
        elif request.mode in CANVAS_WORDS:
            strength = canvas_strength(request, family)
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

    def batch_key(self, request: GenerationRequest) -> str:
        if request.mode is not Mode.TXT2IMG or request.control is not None or request.references:
            return ""
        if request.chaos:  # its images run one by one, each at its own guidance
            return ""
        if request.model and self.options.models[request.model].cache != "none":
            # the cache skips blocks by how the whole batch changes: a job's image would
            # depend on the jobs beside it
            return ""
        loras = [[lora.name, lora.weight] for lora in request.loras]
        return json.dumps(
            [
                request.model,
                request.size,
                request.steps,
                request.guidance,
                request.sampler,
                loras,
                request.tile,
            ]
        )

    async def start(self) -> None:
        await self._call(self._warm_up)

    async def close(self) -> None:
        await self._call(self.cache.clear)
        await self._call(self.references.clear)
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
        """One pipeline call for compatible requests, each with its own prompts and seeds; a
        request with chaos (always alone: see ``batch_key``) one call per image."""
        if len(requests) == 1 and requests[0].chaos and requests[0].guidance is not None:
            one = self.generate
            return [await run_spread(one, requests[0], progress[0], cancel[0])]
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

    async def segment(self, image: bytes, phrase: str) -> bytes:
        if self.options.segmenter is None:
            return await super().segment(image, phrase)
        mask: bytes = await self._call(self._segment, image, check_phrase(phrase))
        return mask

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

    async def _call(self, function: Any, *args: Any) -> Any:
        return await asyncio.wrap_future(self._executor.submit(function, *args))

    def _warm_up(self) -> None:
        if self.device.type == "cpu":  # on the thread that runs every pipeline call
            set_cpu_threads(self.options.threads)
        report_at_start(self.options, self.default_model)
        self._safety = self._load_helper(
            "safety checker", self.options.safety_checker, SafetyClassifier
        )
        self._captioner = self._load_helper("captioner", self.options.captioner, Captioner)
        self._upscaler = self._load_helper("upscaler", self.options.upscaler, load_upscaler)
        # Conversion happens here, never in a job; from full-precision weights.
        self.openvino.convert_missing(partial(self._load, dtype=torch.float32))
        if self.options.segmenter is not None:  # downloaded now, loaded when first used
            self._helper_folder("segmenter", self.options.segmenter)
        self.controlnets.download()  # as are the ControlNets and the models making maps
        for what, source in map_models(self.options):
            self._helper_folder(what, source)
        self.cache.get(self.default_model)
        if self.options.compile or self.model_spec(self.default_model).compile:
            # the first call compiles: pay for it now, not in a job
            started = time.perf_counter()
            warm_up = self.prepare(GenerationRequest("warm-up", steps=2, seed=0))
            self._run([warm_up], [lambda _: None], [CancelToken()], threading.Event())
            log.info("Compiled %s in %.1f s", self.default_model, time.perf_counter() - started)

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
