"""The AUTOMATIC1111 / Forge web UI API (``--api``): txt2img, img2img, inpaint and outpaint
(img2img with a mask), upscale through extras, interrogate, live progress with previews,
interrupt, and discovery of models, samplers and LoRAs; control maps and references through the
ControlNet extension where the server has it. Optional HTTP basic auth
(``--api-auth user:password``). It has no instruction edit."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import dataclasses
import io
import logging
import re
import time
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from PIL import Image
from pydantic import Field

from engine.chaos import run_spread
from engine.errors import EngineError, InvalidRequest, ProviderError, ProviderRejected
from engine.loras import EXTRA_NETWORK
from engine.provider import CancelToken, Progress, ProgressCallback
from engine.redact import scrub
from engine.registry import ProviderConfig
from engine.remote.a1111_controlnet import (
    ControlNetCatalog,
    ControlNetOptions,
    detect,
    split_images,
    units_for,
)
from engine.remote.base import RemoteOptions, RemoteProvider, parse
from engine.remote.http import RemoteClient, png_base64
from engine.remote.inputs import canvas_size, fresh_png, paint_mask, png_bytes
from engine.types import (
    IMAGE_MODES,
    MASK_MODES,
    Capabilities,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    Mode,
    ModelInfo,
)

log = logging.getLogger(__name__)

# A1111 titles a checkpoint "file.safetensors [e197c56444]": the short hash tells apart two
# files of one name. Members see and type the name; the request sent and the stored
# parameters keep the full title.
_HASH = re.compile(r"\s*\[[0-9a-fA-F]{8,64}\]$")

MODES = frozenset({Mode.TXT2IMG, Mode.IMG2IMG, Mode.UPSCALE, Mode.INPAINT, Mode.OUTPAINT})
# The strength of a masked mode that leaves it out: A1111's default for a repaint; a canvas's
# padding holds nothing worth keeping, so outpainting replaces it whole.
DEFAULT_STRENGTH = {Mode.INPAINT: 0.75, Mode.OUTPAINT: 1.0}
# A1111's "masked content": 0 fill, 1 original, 2 latent noise, 3 latent nothing.
MaskedContent = Literal[0, 1, 2, 3]


def plain_title(title: str) -> str:
    return _HASH.sub("", title)


class A1111Options(RemoteOptions, ControlNetOptions):
    base_url: str = "http://127.0.0.1:7860"
    username: str | None = None
    upscaler: str = "R-ESRGAN 4x+"
    upscale_factor: float = 2.0
    interrogator: str = "clip"
    progress_seconds: float = 1.0
    max_images: int = 8
    # img2img's inpainting fields, named as its API names them (inpainting_fill, ...)
    inpainting_fill: MaskedContent = 1
    outpainting_fill: MaskedContent = 2
    inpaint_full_res: bool = True  # "only masked": paints the region's box at the full size
    outpaint_full_res: bool = False  # "whole picture": the new edges see all of the image
    inpaint_full_res_padding: Annotated[int, Field(ge=0, le=256)] = 32
    mask_blur: Annotated[int, Field(ge=0, le=64)] = 4


class A1111Provider(RemoteProvider):
    options: A1111Options

    def __init__(self, config: ProviderConfig) -> None:
        options = parse(A1111Options, config.options)
        password = config.api_key
        auth = (options.username, password or "") if options.username else None
        # a server that echoes its Authorization header shows the password only in base64
        basic = base64.b64encode(f"{options.username}:{password}".encode()).decode()
        client = RemoteClient(
            config.name,
            options.base_url,
            auth=auth,
            policy=options.policy,
            secrets=[password, basic] if password and auth else [password or ""],
        )
        super().__init__(config, options, client)
        self._titles: dict[str, str] = {}
        self._models = self._learn(options.models)
        self._samplers = options.samplers
        self._loras = options.loras
        self.controlnet: ControlNetCatalog | None = None

    @property
    def capabilities(self) -> Capabilities:
        return Capabilities(
            modes=MODES,
            models=self._models,
            samplers=self._samplers,
            loras=True,
            max_images=self.options.max_images,
            nsfw=self.options.nsfw,
            describe=True,
            tile=True,  # its "tiling" option (Forge may ignore it on a transformer model)
        )

    @property
    def default_model(self) -> str:
        return self._models[0] if self._models else "default"

    async def start(self) -> None:
        """Health check and discovery: lists the API offers fill what settings leave empty."""
        try:
            if not self._models:
                self._models = self._learn(
                    str(m.get("title") or m.get("model_name"))
                    for m in await self._get_list("/sdapi/v1/sd-models")
                )
            if not self._samplers:
                self._samplers = tuple(
                    str(s["name"]) for s in await self._get_list("/sdapi/v1/samplers")
                )
            if not self._loras:
                self._loras = tuple(str(x["name"]) for x in await self._get_list("/sdapi/v1/loras"))
            self.unavailable = None
        except ProviderError as err:
            self.unavailable = err.user_message
            log.warning("Provider %s is unavailable: %s", self.name, err.user_message)
            return
        if self.options.controlnet:
            self.controlnet = await detect(self.client, self.options.controlnet_settings)
            if self.controlnet is not None:
                for model in self._models:
                    log.info(
                        "Provider %s, %s: %s",
                        self.name,
                        model,
                        self.controlnet.describe(self.title_of(model)),
                    )

    def model_info(self, model: str) -> ModelInfo:
        info = super().model_info(model)
        catalog = self.controlnet
        if catalog is None:
            return info
        title = self.title_of(model)
        references = catalog.references(title)
        return dataclasses.replace(
            info,
            controls=catalog.controls(title),
            references=references,
            max_references=catalog.max_references if references else 0,
        )

    def _learn(self, titles: Iterable[str]) -> tuple[str, ...]:
        """The names members see, remembering each one's full title."""
        names = []
        for title in titles:
            name = plain_title(title)
            if name not in self._titles:
                self._titles[name] = title
                names.append(name)
        return tuple(names)

    def title_of(self, model: str) -> str:
        return self._titles.get(model, model)

    async def _get_list(self, path: str) -> list[dict[str, Any]]:
        data = (await self.client.request("GET", path)).json()
        if not isinstance(data, list):
            raise ProviderError(f"The {self.name} provider sent an unexpected list from {path}.")
        return [item for item in data if isinstance(item, dict)]

    def lora_names(self, model: str | None = None) -> list[str]:
        return list(self._loras)

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        if request.model:
            # the full title, as a saved preference or an older job may hold it
            request = request.replace(model=plain_title(request.model))
        if request.mode is Mode.UPSCALE and request.init_image is not None:
            with Image.open(io.BytesIO(request.init_image)) as image:
                width, height = image.size
            factor = self.options.upscale_factor
            request = request.replace(width=int(width * factor), height=int(height * factor))
            if request.count != 1:
                raise InvalidRequest("count", request.count, "1 for an upscale")
        if request.mode in MASK_MODES:
            request = canvas_size(request, self.capabilities.size_multiple)
        resolved = super().prepare(request)
        for field, text in (
            ("prompt", resolved.prompt),
            ("negative_prompt", resolved.negative_prompt),
        ):
            # The web UI would act on any <type:args> left in the text, past every check here.
            if tag := EXTRA_NETWORK.search(text):
                raise InvalidRequest(
                    field, tag[0], "no <type:...> tags; LoRAs as <lora:name:weight>"
                )
        for lora in resolved.loras:
            if lora.name not in self._loras:
                allowed = ", ".join(self._loras) or "none: no LoRA is installed"
                raise InvalidRequest("lora", lora.name, f"one of {allowed}")
        if resolved.control is not None or resolved.references:
            if resolved.mode is Mode.UPSCALE:
                raise InvalidRequest("mode", "upscale", "an upscale takes no control or reference")
            self._units(resolved, images=False)  # refused here, before anything is queued
        return resolved

    def _units(self, request: GenerationRequest, images: bool = True) -> list[dict[str, Any]]:
        titled = request.replace(model=self.title_of(request.model or self.default_model))
        return units_for(self.controlnet, titled, self.name, images)

    async def generate(
        self, request: GenerationRequest, progress: ProgressCallback, cancel: CancelToken
    ) -> GenerationResult:
        if request.chaos and request.mode is not Mode.UPSCALE:
            # one call per image, each at its own cfg_scale (engine.chaos)
            guided = request.replace(guidance=_cfg_scale(request))
            spread = await run_spread(self.generate, guided, progress, cancel)
            if isinstance(spread, EngineError):
                raise spread
            return spread
        started = time.perf_counter()
        info: dict[str, Any] = {}
        if request.mode is Mode.UPSCALE:
            images = await self._upscale(request)
        else:
            path = "/sdapi/v1/img2img" if request.mode in IMAGE_MODES else "/sdapi/v1/txt2img"
            body = self._body(request)
            if request.mode in MASK_MODES:
                body |= await asyncio.to_thread(self._mask_fields, request)
            if units := await asyncio.to_thread(self._units, request):
                body["alwayson_scripts"] = {"controlnet": {"args": units}}
            call = asyncio.ensure_future(
                self.client.request("POST", path, json_body=body, idempotent=False)
            )
            watcher = asyncio.ensure_future(self._watch(progress, cancel))
            try:
                answer = await call
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
            cancel.raise_if_cancelled()
            data = answer.json()
            if not isinstance(data, dict) or not isinstance(data.get("images"), list):
                raise ProviderError(f"The {self.name} provider sent an answer the bot cannot read.")
            texts = [text for text in data["images"] if isinstance(text, str)]
            maps = 1 if request.control is not None else 0
            kept, extras = split_images(texts, data.get("info"), request.count, maps)
            images = [self.client.decode_base64_image(text) for text in kept]
            if maps and extras:
                try:  # decoded and encoded afresh: only its pixels reach members
                    mapped = self.client.decode_base64_image(extras[0]).convert("RGB")
                    info["control_map"] = png_bytes(mapped)
                except ProviderError as err:  # the images stand without their map
                    log.warning("Provider %s sent a map it can't read: %s", self.name, err)
        seeds = request.seeds if request.seed is not None else [None] * len(images)
        generated = tuple(
            GeneratedImage(image, seed) for image, seed in zip(images, seeds, strict=False)
        )
        if len(generated) != request.count:
            raise ProviderError(
                f"The {self.name} provider sent {len(generated)} of {request.count} images."
            )
        return GenerationResult(
            generated,
            self.title_of(request.model or self.default_model),
            time.perf_counter() - started,
            info,
        )

    def _body(self, request: GenerationRequest) -> dict[str, Any]:
        width, height = request.size
        loras = "".join(f" <lora:{lora.name}:{lora.weight:g}>" for lora in request.loras)
        body: dict[str, Any] = {
            "prompt": request.prompt + loras,
            "negative_prompt": request.negative_prompt,
            "seed": request.seed if request.seed is not None else -1,
            "steps": request.steps or 20,
            "cfg_scale": _cfg_scale(request),
            "width": width,
            "height": height,
            "batch_size": request.count,
            "n_iter": 1,
            "send_images": True,
            "save_images": False,
        }
        if request.sampler:
            body["sampler_name"] = request.sampler
        if request.tile:
            body["tiling"] = True
        if request.model and request.model != "default":
            body["override_settings"] = {"sd_model_checkpoint": self.title_of(request.model)}
            body["override_settings_restore_afterwards"] = True
        if request.mode is Mode.IMG2IMG:
            assert request.init_image is not None
            body["init_images"] = [base64.b64encode(request.init_image).decode("ascii")]
            body["denoising_strength"] = request.strength
        return body

    def _mask_fields(self, request: GenerationRequest) -> dict[str, Any]:
        """img2img's inpainting fields: the image and its mask, each decoded and encoded
        afresh; white paints (so not inverted); outpainting fills its padding with noise."""
        assert request.init_image is not None and request.mask_image is not None
        options = self.options
        outpaint = request.mode is Mode.OUTPAINT
        return {
            "init_images": [_base64(fresh_png(request.init_image))],
            "mask": _base64(png_bytes(paint_mask(request.mask_image))),
            "inpainting_fill": options.outpainting_fill if outpaint else options.inpainting_fill,
            "inpaint_full_res": options.outpaint_full_res if outpaint else options.inpaint_full_res,
            "inpaint_full_res_padding": options.inpaint_full_res_padding,
            "mask_blur": options.mask_blur,
            "inpainting_mask_invert": 0,
            "denoising_strength": (
                request.strength if request.strength is not None else DEFAULT_STRENGTH[request.mode]
            ),
            "resize_mode": 0,
        }

    async def _watch(self, progress: ProgressCallback, cancel: CancelToken) -> None:
        """Poll progress while a generation runs; on cancel, interrupt it once."""
        interrupted = False
        while True:
            await asyncio.sleep(self.options.progress_seconds)
            if cancel.cancelled and not interrupted:
                interrupted = True
                with contextlib.suppress(ProviderError):
                    await self.client.request("POST", "/sdapi/v1/interrupt")
            try:
                data = (
                    await self.client.request("GET", "/sdapi/v1/progress?skip_current_image=false")
                ).json()
            except ProviderError:
                continue
            if not isinstance(data, dict):
                continue
            state = data.get("state") or {}
            step, total = (
                int(state.get("sampling_step") or 0),
                int(state.get("sampling_steps") or 0),
            )
            preview = None
            if isinstance(data.get("current_image"), str) and data["current_image"]:
                with contextlib.suppress(ProviderError):
                    preview = self.client.decode_base64_image(data["current_image"])
            progress(Progress(step, total, preview=preview))

    async def _upscale(self, request: GenerationRequest) -> list[Image.Image]:
        assert request.init_image is not None
        body = {
            "image": base64.b64encode(request.init_image).decode("ascii"),
            "upscaling_resize": self.options.upscale_factor,
            "upscaler_1": self.options.upscaler,
        }
        data = (
            await self.client.request(
                "POST", "/sdapi/v1/extra-single-image", json_body=body, idempotent=False
            )
        ).json()
        if not isinstance(data, dict) or not isinstance(data.get("image"), str):
            raise ProviderError(f"The {self.name} provider sent an answer the bot cannot read.")
        return [self.client.decode_base64_image(data["image"])] * request.count

    async def describe(self, image: Image.Image) -> str:
        body = {"image": png_base64(image), "model": self.options.interrogator}
        data = (await self.client.request("POST", "/sdapi/v1/interrogate", json_body=body)).json()
        if isinstance(data, dict) and isinstance(data.get("caption"), str) and data["caption"]:
            return scrub(str(data["caption"]))
        raise ProviderRejected(self.client.say("could not describe the image"))


def _base64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def create(config: ProviderConfig) -> A1111Provider:
    return A1111Provider(config)


def _cfg_scale(request: GenerationRequest) -> float:
    return request.guidance if request.guidance is not None else 7.0
