"""One pipeline call on the GPU thread: its arguments, the step callback (progress, previews,
cancel), the LoRAs applied for the call, the final decode and the safety verdicts."""

from __future__ import annotations

import inspect
import io
import threading
import time
from collections.abc import Callable, Mapping
from functools import partial
from pathlib import Path
from typing import Any

import torch
from PIL import Image

from engine.errors import EngineError, GenerationCancelled, ProviderError
from engine.local.control.maker import MapMaker
from engine.local.control.maps import encode
from engine.local.control.nets import ControlNets
from engine.local.control.run import ControlRun, ready_control
from engine.local.inputs import image_arguments, keep_unmasked, read_inputs
from engine.local.lora_slot import load_lora
from engine.local.loras import LoraLibrary
from engine.local.memory.cache import PipelineCache
from engine.local.openvino.runtime import OpenVinoRuntime
from engine.local.options import LocalOptions
from engine.local.pipelines import LoadedModel
from engine.local.preview import latent_preview
from engine.local.reference_adapters import ReferenceAdapters, with_references
from engine.local.safety import SafetyClassifier
from engine.local.samplers import make_scheduler
from engine.local.tiling import tiled, tiling_modules
from engine.provider import CancelToken, Progress, ProgressCallback
from engine.types import (
    CANVAS_WORDS,
    MASK_MODES,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    Mode,
)

Outcome = GenerationResult | EngineError
UPSCALER_STEPS = 20
PREVIEW_SIDE = 256


class _Stop(Exception):
    """Raised from the step callback to end a run before decoding."""


class PipelineRunner:
    """The part of ``LocalProvider`` that runs on its GPU thread, one call at a time."""

    options: LocalOptions
    device: torch.device
    cache: PipelineCache
    openvino: OpenVinoRuntime
    loras: LoraLibrary
    references: ReferenceAdapters
    _safety: SafetyClassifier | None
    _upscaler: Any
    maps: MapMaker
    controlnets: ControlNets
    _dtype: Callable[[str], torch.dtype]

    def _run(
        self,
        requests: list[GenerationRequest],
        progress: list[ProgressCallback],
        cancel: list[CancelToken],
        abort: threading.Event,
    ) -> list[Outcome]:
        started = time.perf_counter()
        first = requests[0]
        if first.mode is Mode.UPSCALE and self._upscaler is not None:
            return [self._run_upscaler(first, progress[0], cancel[0], abort, started)]
        assert first.model is not None
        model = self.openvino.for_job(self.cache.get(first.model), first)
        pipe = model.pipeline(first.mode)
        if pipe is None:  # prepare() refuses this; a job queued before a settings change
            what = CANVAS_WORDS.get(first.mode, "start from an image")
            return [
                ProviderError(f"{model.name} ({model.family.label}) can't {what}.")
                for _ in requests
            ]
        try:
            inputs = read_inputs(first, model.family)
        except ProviderError as err:
            return [err for _ in requests]
        pipe.scheduler = (
            make_scheduler(model.family.samplers[first.sampler], model.scheduler_config)
            if first.sampler
            else model.default_scheduler
        )
        width, height = first.size
        if width * height > self.options.vae_tiling_pixels:
            pipe.vae.enable_tiling()
        else:
            pipe.vae.disable_tiling()
        control: ControlRun | None = None
        if first.control is not None:
            try:
                control = ready_control(
                    self.maps,
                    self.controlnets,
                    pipe,
                    model.family,
                    first,
                    self._dtype(model.name),
                    partial(self.cache.make_room, keep=model.name),
                )
            except EngineError as err:
                return [err for _ in requests]
            pipe = control.pipe
        arguments = self._arguments(model, requests, progress, cancel, abort)
        arguments.update(image_arguments(model.family, pipe, first, inputs))
        if isinstance(arguments.get("image"), Image.Image) and first.mode is not Mode.EDIT:
            # one copy an image: the pipelines encode it with each image's own generator, so
            # image k of a batch is the one its seed gives alone
            arguments["image"] = [arguments["image"]] * len(arguments["prompt"])
        if control is not None:
            arguments.update(control.arguments)
        arguments.update(_taken(pipe, model.family.size_arguments(width, height)))
        tiny = self._final_decoder(model)
        if tiny is not None:
            arguments["output_type"] = "latent"
        label = f"{model.name} ({model.family.label})"
        try:
            with tiled(first.tile, *tiling_modules(pipe, tiny)):
                with (
                    self.references.applied(model.family, pipe, first, label) as referenced,
                    self._loras(model, pipe, first),
                    model.speed.calling(),
                ):
                    images = pipe(**with_references(arguments, referenced)).images
                if tiny is not None:
                    latents = model.family.unpack(pipe, images, width, height)
                    images = _decode(tiny, pipe, latents)
        except _Stop:
            return [GenerationCancelled() for _ in requests]
        except torch.cuda.OutOfMemoryError:
            torch.cuda.empty_cache()
            return [
                ProviderError("The GPU ran out of memory; try a smaller size or fewer images.")
                for _ in requests
            ]
        if first.mode in MASK_MODES:
            images = keep_unmasked(images, inputs)
        flags = self._flags(images)
        seconds = time.perf_counter() - started
        outcomes: list[Outcome] = []
        for request, token in zip(requests, cancel, strict=True):
            own, images = images[: request.count], images[request.count :]
            flagged, flags = flags[: request.count], flags[request.count :]
            if token.cancelled:
                outcomes.append(GenerationCancelled())
                continue
            generated = tuple(
                GeneratedImage(image, seed, flag)
                for image, seed, flag in zip(own, request.seeds, flagged, strict=True)
            )
            info = {} if control is None else {"control_map": encode(control.control_map)}
            outcomes.append(GenerationResult(generated, model.name, seconds, info))
        return outcomes

    def _run_upscaler(
        self,
        request: GenerationRequest,
        progress: ProgressCallback,
        cancel: CancelToken,
        abort: threading.Event,
        started: float,
    ) -> Outcome:
        """The dedicated x4 upscaler: the input at its own size, four times larger out."""
        assert request.init_image is not None
        with Image.open(io.BytesIO(request.init_image)) as image:
            source = image.convert("RGB")
        total = request.steps or UPSCALER_STEPS

        def on_step(index: int, timestep: Any, latents: Any) -> None:
            if abort.is_set() or cancel.cancelled:
                raise _Stop
            progress(Progress(index + 1, total))

        try:
            images = self._upscaler(
                prompt=[request.prompt] * request.count,
                negative_prompt=[request.negative_prompt] * request.count,
                image=[source] * request.count,
                num_inference_steps=total,
                guidance_scale=request.guidance if request.guidance is not None else 7.0,
                generator=[torch.Generator("cpu").manual_seed(s) for s in request.seeds],
                callback=on_step,
                callback_steps=1,
            ).images
        except _Stop:
            return GenerationCancelled()
        flags = self._flags(images)
        generated = tuple(
            GeneratedImage(image, seed, flag)
            for image, seed, flag in zip(images, request.seeds, flags, strict=True)
        )
        return GenerationResult(generated, "upscaler", time.perf_counter() - started)

    def _flags(self, images: list[Image.Image]) -> list[bool]:
        """The output classifier's verdicts, all clear when none is configured."""
        return self._safety.flags(images) if self._safety else [False] * len(images)

    def _final_decoder(self, model: LoadedModel) -> Any:
        """The tiny decoder for the final image: when asked, or by default on CPU, where the
        full VAE decode costs more than a one-step UNet."""
        decoder = model.spec.decoder
        if model.tiny_decoder is None or decoder == "full":
            return None
        if decoder == "tiny" or self.device.type == "cpu":
            return model.tiny_decoder
        return None

    def _arguments(
        self,
        model: LoadedModel,
        requests: list[GenerationRequest],
        progress: list[ProgressCallback],
        cancel: list[CancelToken],
        abort: threading.Event,
    ) -> dict[str, Any]:
        first = requests[0]
        assert first.steps is not None  # prepare() resolved it
        arguments: dict[str, Any] = {
            "prompt": [r.prompt for r in requests for _ in range(r.count)],
            "generator": [torch.Generator("cpu").manual_seed(s) for r in requests for s in r.seeds],
            "num_inference_steps": first.steps,
            "callback_on_step_end": self._step_callback(model, requests, progress, cancel, abort),
            "callback_on_step_end_tensor_inputs": ["latents"],
            **model.family.guidance_arguments(
                first.guidance or 0.0,
                [r.negative_prompt for r in requests for _ in range(r.count)],
            ),
            **model.family.arguments(first.steps),
        }
        return arguments

    def _step_callback(
        self,
        model: LoadedModel,
        requests: list[GenerationRequest],
        progress: list[ProgressCallback],
        cancel: list[CancelToken],
        abort: threading.Event,
    ) -> Any:
        every = self.options.preview_every
        offsets = [sum(r.count for r in requests[:k]) for k in range(len(requests))]

        def on_step(pipe: Any, index: int, timestep: Any, tensors: dict[str, Any]) -> Any:
            if abort.is_set() or all(token.cancelled for token in cancel):
                raise _Stop
            step, total = index + 1, pipe.num_timesteps
            show = every and step % every == 0 and step < total
            latents = tensors["latents"]
            if show:
                latents = model.family.unpack(pipe, latents, *requests[0].size)
            for report, offset in zip(progress, offsets, strict=True):
                preview = self._preview(model, pipe, latents[offset]) if show else None
                report(Progress(step, total, preview=preview))
            return tensors

        return on_step

    @staticmethod
    def _preview(model: LoadedModel, pipe: Any, latent: torch.Tensor) -> Image.Image:
        """A picture of one image's current latents, (channels, h, w) in the denoiser's space:
        through the tiny decoder when there is one, else the family's linear map to RGB, else
        its own autoencoder; at most PREVIEW_SIDE pixels a side."""
        family = model.family
        if model.tiny_decoder is not None:
            image = _decode(model.tiny_decoder, pipe, latent[None])[0]
        elif family.rgb_factors is not None:
            image = latent_preview(latent, family.rgb_factors, family.rgb_bias)
        elif family.decode is not None:
            with torch.no_grad():
                pixels = family.decode(pipe, latent[None])
            image = pipe.image_processor.postprocess(pixels.float(), output_type="pil")[0]
        else:
            raise ProviderError(f"{family.label} has no way to preview its latents")
        image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
        return image

    def _loras(self, model: LoadedModel, pipe: Any, request: GenerationRequest) -> Any:
        loras = [(self.loras.path(x.name), x.weight) for x in request.loras]
        if model.speed.slot is not None:  # compiled: the LoRAs go into its slot
            return model.speed.slot.applied(pipe, loras)
        return _AppliedLoras(pipe, loras, f"{model.name} ({model.family.label})")


class _AppliedLoras:
    """LoRAs for one call: loaded before, unloaded after, so none leaks into the next job. One
    that fails to load takes those loaded before it away too, and is named in the error."""

    def __init__(self, pipe: Any, loras: list[tuple[Path, float]], model: str) -> None:
        self._pipe = pipe
        self._loras = loras
        self._model = model

    def __enter__(self) -> None:
        if not self._loras:
            return
        names = []
        for index, (path, _) in enumerate(self._loras):
            try:
                load_lora(self._pipe, path, f"lora{index}", self._model)
            except ProviderError:
                self._pipe.unload_lora_weights()  # and those loaded before it
                raise
            names.append(f"lora{index}")
        self._pipe.set_adapters(names, adapter_weights=[weight for _, weight in self._loras])

    def __exit__(self, *exc: object) -> None:
        if self._loras:
            self._pipe.unload_lora_weights()


def _taken(pipe: Any, arguments: Mapping[str, Any]) -> dict[str, Any]:
    """Those of a family's arguments that this pipeline's call takes."""
    parameters = inspect.signature(pipe.__call__).parameters
    return {name: value for name, value in arguments.items() if name in parameters}


@torch.no_grad()
def _decode(tiny: Any, pipe: Any, latents: torch.Tensor) -> list[Image.Image]:
    """Latents, (batch, channels, h, w) in the denoiser's space, to pictures through a
    TAESD-style decoder. TAESD and TAESDXL take that space as it is (their scaling factor is
    1); TAESD3 and TAEF1 carry their autoencoder's scaling and shift, undone here as the
    pipeline does before its own decode."""
    config = tiny.config
    latents = latents / config.scaling_factor + getattr(config, "shift_factor", 0.0)
    decoded = tiny.decode(latents.to(tiny.device, tiny.dtype)).sample
    images: list[Image.Image] = pipe.image_processor.postprocess(decoded.float(), output_type="pil")
    return images
