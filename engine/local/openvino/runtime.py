"""The OpenVINO path in the engine: which models run there, converting them once at start-up
(or in `models pull`), loading their conversions beside the PyTorch pipeline, and per job
whether OpenVINO runs it or PyTorch does (LoRAs, tiled sizes), said in the log."""

from __future__ import annotations

import dataclasses
import logging
import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import diffusers

from engine.local.families import Family
from engine.local.openvino.convert import convert
from engine.local.openvino.modules import Compiled, TextEncoder, TinyDecoder, UNet, Vae
from engine.local.openvino.options import Choice, choose_runtime, installed
from engine.local.openvino.store import Store, conversion_key, sources
from engine.local.options import LocalOptions, ModelSpec
from engine.local.pipelines import LoadedModel, ModelLoadError
from engine.types import CANVAS_WORDS, GenerationRequest

log = logging.getLogger(__name__)

Load = Callable[[str], LoadedModel]
Report = Callable[[str], None]


def folder_for(options: LocalOptions, data_dir: Path | None) -> Path | None:
    """Where converted models are kept: the setting, else the bot's data folder's "openvino"."""
    if options.openvino.folder is not None:
        return Path(options.openvino.folder).expanduser()
    return data_dir / "openvino" if data_dir is not None else None


class OpenVinoRuntime:
    """One engine's OpenVINO side. Used only from the engine's own thread."""

    def __init__(
        self,
        options: LocalOptions,
        folder: Path | None,
        device: str,
        family: Callable[[str], Family],
        load: Load | None = None,
    ) -> None:
        self._options = options
        self._load = load
        self._settings = options.openvino
        self._device = device
        self._family = family
        self._choices: dict[str, Choice] = {}
        self._failed: dict[str, str] = {}
        self._temporary: tempfile.TemporaryDirectory[str] | None = None
        self._folder = folder
        self._kept = folder is not None
        self._core: Any = None

    def choice(self, name: str) -> Choice:
        """The model's runtime, said once in the log (a warning where "openvino" was asked
        for and cannot be had)."""
        choice = self._choices.get(name)
        if choice is None:
            spec = self._options.models[name]
            available = installed()
            torch_only = _torch_only(spec, self._options)
            family = None
            if spec.runtime != "torch" and self._device == "cpu" and available and not torch_only:
                try:
                    family = self._family(name)
                except ModelLoadError as err:
                    self._choices[name] = Choice("torch", f"its family is unknown: {err}")
                    return self._choices[name]
            choice = choose_runtime(
                spec.runtime,
                self._device,
                family.key if family else "",
                available=available,
                family_label=family.label if family else "",
                torch_only=torch_only,
                kept=self._kept,
            )
            self._choices[name] = choice
            if choice.runtime == "torch" and spec.runtime == "openvino":
                log.warning("Model %s runs on PyTorch, not OpenVINO: %s", name, choice.reason)
            else:
                log.info("Model %s runs on %s (%s)", name, _label(choice), choice.reason)
        return choice

    @property
    def store(self) -> Store:
        if self._folder is None:
            self._temporary = tempfile.TemporaryDirectory(prefix="imagebot-openvino-")
            self._folder = Path(self._temporary.name)
            log.info(
                "No folder for converted models (openvino.folder, or the bot's data folder): "
                "OpenVINO conversions last until the engine stops"
            )
        return Store(self._folder.expanduser())

    def _key(self, name: str) -> str:
        spec = self._options.models[name]
        return conversion_key(sources(spec, self._options.cache_dir), self._settings.weights)

    def convert_missing(
        self, load: Load, names: list[str] | None = None, report: Report | None = None
    ) -> dict[str, str]:
        """Convert each model that runs on OpenVINO and has no conversion for its current
        files, loading it with ``load`` and dropping it after. A model that fails runs on
        PyTorch, said in the log; those are returned with the reason."""
        say = report or (lambda line: log.info("%s", line))
        failed = {}
        for name in names or list(self._options.models):
            if self.choice(name).runtime != "openvino":
                continue
            model = partial = None
            try:
                try:
                    key = self._key(name)
                except FileNotFoundError:  # not downloaded yet: loading fetches it
                    model = load(name)
                    key = self._key(name)
                store = self.store
                place = store.complete(name, key)
                if place is not None:
                    say(f"{name}: converted for OpenVINO already, in {place}")
                    continue
                partial = store.begin(name, key)
                model = model or load(name)
                about = convert(
                    name, model.text2img, model.tiny_decoder, partial, self._settings.weights, say
                )
                store.finish(name, key, partial, about)
            except Exception as err:  # any failure leaves the model on PyTorch
                failed[name] = str(err)
                self._fail(name, f"the conversion failed: {err}")
                if partial is not None:
                    shutil.rmtree(partial, ignore_errors=True)
            finally:
                del model
        return failed

    def _fail(self, name: str, reason: str) -> None:
        self._failed[name] = reason
        log.warning("Model %s runs on PyTorch instead of OpenVINO: %s", name, reason)

    def attach(self, model: LoadedModel) -> LoadedModel:
        """The model as loaded, with its OpenVINO variant beside it where it runs there: its
        conversion read, and its default size compiled now rather than in the first job."""
        if self.choice(model.name).runtime != "openvino" or model.name in self._failed:
            return model
        try:
            place = self.store.complete(model.name, self._key(model.name))
        except FileNotFoundError:
            place = None
        if place is None:
            self._fail(
                model.name, "it has no conversion for its current files (restart to convert)"
            )
            return model
        try:
            model.runtime = self._variant(model, place)
        except Exception as err:
            self._fail(
                model.name,
                f"its conversion in {place} did not load ({err}); delete it to convert again",
            )
            return model
        converted = sum(p.stat().st_size for p in place.glob("*.bin"))
        if self._load is not None:
            log.info(
                "Model %s: OpenVINO runs its jobs, so its PyTorch weights (%.0f MB) are "
                "released; a job that needs PyTorch (LoRAs) loads them again",
                model.name,
                model.bytes / 2**20,
            )
            model.text2img = model.image2img = model.tiny_decoder = None
            model.canvas = {}
            model.bytes = model.ram_bytes = model.gpu_bytes = 0
        model.bytes += converted
        model.ram_bytes += converted
        return model

    def _torch(self, model: LoadedModel) -> LoadedModel:
        """The model's PyTorch pipeline, loaded again where it was released (and kept)."""
        if model.text2img is not None or self._load is None:
            return model
        started = time.perf_counter()
        loaded = self._load(model.name)
        model.text2img, model.image2img = loaded.text2img, loaded.image2img
        model.canvas = loaded.canvas
        model.tiny_decoder = loaded.tiny_decoder
        model.bytes += loaded.bytes
        model.ram_bytes += loaded.ram_bytes
        model.gpu_bytes += loaded.gpu_bytes
        log.info(
            "Loaded %s's PyTorch pipeline again in %.1f s",
            model.name,
            time.perf_counter() - started,
        )
        return model

    def _variant(self, model: LoadedModel, place: Path) -> LoadedModel:
        """The LoadedModel the runner uses for an OpenVINO job: diffusers' own pipelines of
        the family over the converted parts, sharing the tokenizer and scheduler."""
        import openvino as ov  # noqa: PLC0415

        if self._core is None:
            self._core = ov.Core()
        properties = {"PERFORMANCE_HINT": "LATENCY"}
        if self._settings.precision != "auto":
            properties["INFERENCE_PRECISION_HINT"] = self._settings.precision

        def part(name: str, label: str) -> Compiled:
            model_ir = self._core.read_model(str(place / f"{name}.xml"))
            return Compiled(self._core, model_ir, properties, self._settings.shapes, label)

        pipe = model.text2img
        text = part("text_encoder", f"{model.name} text encoder")
        unet = part("unet", f"{model.name} UNet")
        decoder = part("vae_decoder", f"{model.name} VAE decoder")
        vae = Vae(decoder, part("vae_encoder", f"{model.name} VAE encoder"), pipe.vae.config)
        components = {
            "vae": vae,
            "text_encoder": TextEncoder(text, pipe.text_encoder.config),
            "tokenizer": pipe.tokenizer,
            "unet": UNet(unet, pipe.unet.config),
            "scheduler": pipe.scheduler,
            "safety_checker": None,
            "feature_extractor": None,
            "requires_safety_checker": False,
        }
        text2img = getattr(diffusers, model.family.text2img)(**components)
        image2img = None
        if model.image2img is not None and model.family.image2img is not None:
            image2img = getattr(diffusers, model.family.image2img)(**components)
        for built in (text2img, image2img):
            if built is not None:
                built.set_progress_bar_config(disable=True)
        tiny = None
        final = decoder
        if model.tiny_decoder is not None:
            final = part("tiny_decoder", f"{model.name} tiny decoder")
            tiny = TinyDecoder(final, model.tiny_decoder.config)
        self._compile_default(model, text, unet, final)
        return dataclasses.replace(
            model,
            text2img=text2img,
            image2img=image2img,
            tiny_decoder=tiny,
            runtime=None,
            canvas={},  # edits and repaints run on PyTorch
        )

    def _compile_default(
        self, model: LoadedModel, text: Compiled, unet: Compiled, decoder: Compiled
    ) -> None:
        pipe = model.text2img
        width = model.spec.width or model.family.width
        height = model.spec.height or model.family.height
        scale = 2 ** (len(pipe.vae.config.block_out_channels) - 1)
        latent = (1, pipe.unet.config.in_channels, height // scale, width // scale)
        tokens = (1, pipe.tokenizer.model_max_length)
        text.compile((tokens,))
        unet.compile((latent, (1,), (*tokens, pipe.text_encoder.config.hidden_size)))
        decoder.compile((latent,))

    def for_job(self, model: LoadedModel, request: GenerationRequest) -> LoadedModel:
        """The model the job runs on: the OpenVINO variant, unless the job needs what only
        PyTorch does here (LoRAs; sizes the VAE tiles), which the log says."""
        variant = model.runtime
        if variant is None:
            return model
        if request.mode in CANVAS_WORDS:
            log.info(
                "A job to %s on %s runs on PyTorch, not OpenVINO",
                CANVAS_WORDS[request.mode],
                model.name,
            )
            return self._torch(model)
        if request.control is not None:
            log.info("A job with a control map on %s runs on PyTorch, not OpenVINO", model.name)
            return self._torch(model)
        if request.references:
            log.info("A job on %s with references runs on PyTorch, not OpenVINO", model.name)
            return self._torch(model)
        if request.tile:  # its convolutions are compiled with their padding
            log.info("A seamless-tile job on %s runs on PyTorch, not OpenVINO", model.name)
            return self._torch(model)
        if request.loras:
            names = ", ".join(lora.name for lora in request.loras)
            log.info("A job on %s with LoRAs (%s) runs on PyTorch, not OpenVINO", model.name, names)
            return self._torch(model)
        width, height = request.size
        if width * height > self._options.vae_tiling_pixels:
            log.info(
                "A job of %dx%d on %s runs on PyTorch, not OpenVINO: above vae_tiling_pixels the "
                "VAE works in tiles, which the OpenVINO path does not",
                width,
                height,
                model.name,
            )
            return self._torch(model)
        assert isinstance(variant, LoadedModel)
        return variant


def _torch_only(spec: ModelSpec, options: LocalOptions) -> str:
    """The model's first setting that only its PyTorch pipeline honours, or ""."""
    if spec.compile or options.compile:
        return "compile = true"
    for name in ("quantize", "quantize_text_encoders"):
        value = getattr(spec, name)
        if value not in (None, "none"):
            return f'{name} = "{value}"'
    if spec.fp8_storage:
        return "fp8_storage = true"
    return ""


def _label(choice: Choice) -> str:
    return "OpenVINO" if choice.runtime == "openvino" else "PyTorch"
