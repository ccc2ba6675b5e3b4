"""The local diffusers engine: one thread owns the GPU and runs every pipeline call, so the
event loop never waits on a step."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from engine.chaos import run_spread
from engine.errors import EngineError
from engine.local.canvas_modes import provider_modes
from engine.local.captioner import Captioner
from engine.local.control.maker import MapMaker
from engine.local.control.nets import ControlNets
from engine.local.device import pick_device, pick_dtype, set_cpu_threads
from engine.local.families import Family
from engine.local.helpers import HelperModels
from engine.local.loras import LoraLibrary
from engine.local.memory.cache import PipelineCache
from engine.local.memory.planner import MemoryPlanner
from engine.local.memory.recipe import Recipe
from engine.local.models import map_models, report_at_start
from engine.local.openvino.runtime import OpenVinoRuntime, folder_for
from engine.local.options import LocalOptions, parse_local_options
from engine.local.pipelines import LoadedModel, load_model, load_upscaler
from engine.local.prepare import LocalRequests
from engine.local.reference_adapters import ReferenceAdapters
from engine.local.runner import Outcome, PipelineRunner
from engine.local.safety import SafetyClassifier
from engine.local.samplers import FLOW_SAMPLERS, SAMPLERS
from engine.local.segmenter import Segmenter, check_phrase
from engine.provider import CancelToken, ProgressCallback
from engine.registry import ProviderConfig
from engine.types import Capabilities, GenerationRequest, GenerationResult

log = logging.getLogger(__name__)


class LocalProvider(PipelineRunner, HelperModels, LocalRequests):
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
