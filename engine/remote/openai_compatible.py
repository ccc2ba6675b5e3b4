"""OpenAI-compatible image generation (provider-docs/openai-compatible.md): POST
``{base}/v1/images/generations`` with model, prompt, n, size and response_format; images come
back as base64 or as URLs to download. Works with any compatible server.

Where the owner says the server has it (``edits = true``), edits, inpainting and outpainting go
to ``/v1/images/edits`` as OpenAI's API reference defines it: a multipart form with the image
(several as ``image[]``), an optional mask (a PNG of the first image's size whose fully
transparent pixels mark where to edit), and prompt, n, size, model and response_format."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from typing import Annotated, Any, Literal

from PIL import Image
from pydantic import Field, field_validator, model_validator

from engine.errors import ContentRefused, InvalidRequest, ProviderError, ProviderRejected
from engine.provider import CancelToken, Progress, ProgressCallback
from engine.redact import scrub
from engine.registry import ProviderConfig
from engine.remote.base import ImageUrlOptions, RemoteProvider, bearer_client, parse
from engine.remote.download import ImageDownloads
from engine.remote.http import Answer, Form
from engine.remote.inputs import decoded, image_size, png_bytes, transparent_where_painted
from engine.types import (
    IMAGE_MODES,
    MASK_MODES,
    MAX_INPUT_IMAGES,
    Capabilities,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    Mode,
)

log = logging.getLogger(__name__)

CONTENT_POLICY_CODES = frozenset({"content_policy_violation", "moderation_blocked"})


class OpenAIOptions(ImageUrlOptions):
    path: str = "/v1/images/generations"
    models_path: str | None = "/v1/models"
    # "" leaves it out: OpenAI's gpt-image models refuse the field (they answer in base64)
    response_format: Literal["b64_json", "url", ""] = "b64_json"
    sizes: tuple[str, ...] = ()
    max_images: int = 4
    quality: str | None = None
    style: str | None = None
    output_format: str | None = None
    background: str | None = None
    # Many compatible servers have no /v1/images/edits: the owner turns it on.
    edits: bool = False
    edits_path: str = "/v1/images/edits"
    max_input_images: Annotated[int, Field(ge=1, le=MAX_INPUT_IMAGES)] = 1

    @model_validator(mode="after")
    def _a_model(self) -> OpenAIOptions:
        if not self.models:
            raise ValueError("name at least one model the server offers (no name is assumed)")
        return self

    @field_validator("sizes")
    @classmethod
    def _sizes(cls, sizes: tuple[str, ...]) -> tuple[str, ...]:
        for size in sizes:
            width, _, height = size.partition("x")
            if not (width.isdigit() and height.isdigit()):
                raise ValueError(f"size {size!r} is not WIDTHxHEIGHT")
        return sizes


class OpenAICompatibleProvider(RemoteProvider):
    options: OpenAIOptions

    def __init__(self, config: ProviderConfig) -> None:
        options = parse(OpenAIOptions, config.options)
        client = bearer_client(config, options)
        super().__init__(config, options, client, ImageDownloads(client, options.image_host_rules))
        edits = {Mode.EDIT, Mode.INPAINT, Mode.OUTPAINT} if options.edits else set()
        self._capabilities = Capabilities(
            modes=frozenset({Mode.TXT2IMG, *edits}),
            models=options.models,
            negative_prompt=False,
            seed=False,
            guidance=False,
            max_images=options.max_images,
            nsfw=options.nsfw,
        )

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def max_input_images(self) -> int:
        return self.options.max_input_images

    async def start(self) -> None:
        """Health check: the server answers its model list and offers the configured models."""
        if not self.options.models_path:
            return
        try:
            answer = await self.client.request("GET", self.options.models_path)
        except ProviderError as err:
            self.unavailable = err.user_message
            log.warning("Provider %s is unavailable: %s", self.name, err.user_message)
            return
        data = answer.json()
        listed = data.get("data") if isinstance(data, dict) else None
        offered = {item.get("id") for item in listed or [] if isinstance(item, dict)}
        missing = [model for model in self.options.models if offered and model not in offered]
        self.unavailable = None
        if missing:
            log.warning("Provider %s does not list the models %s", self.name, ", ".join(missing))

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        if request.steps is not None:
            raise InvalidRequest("steps", request.steps, f"{self.name} sets its own")
        if request.mode in IMAGE_MODES & self.capabilities.modes and request.init_image:
            request = self._edit_size(request)
        default = self.options.sizes[0] if self.options.sizes else "1024x1024"
        width, _, height = default.partition("x")
        resolved = super().prepare(
            request.replace(width=request.width or int(width), height=request.height or int(height))
        )
        size = "x".join(map(str, resolved.size))
        if self.options.sizes and size not in self.options.sizes:
            raise InvalidRequest("size", size, "one of " + ", ".join(self.options.sizes))
        return resolved

    def _edit_size(self, request: GenerationRequest) -> GenerationRequest:
        """The size of an edit or a canvas, which the bot derives from the image: the image's
        own (to a multiple of 8) where the request leaves it out, and where the server takes
        only ``sizes``, the one of them nearest in shape. Edits have no strength."""
        if request.strength is not None:
            raise InvalidRequest("strength", request.strength, f"{self.name} sets its own")
        if request.width and request.height and not self.options.sizes:
            return request
        assert request.init_image is not None
        shape = (
            (request.width, request.height)
            if request.width and request.height
            else image_size(request.init_image)
        )
        width, _, height = self._size_for(shape).partition("x")
        return request.replace(width=int(width), height=int(height))

    def _size_for(self, image: tuple[int, int]) -> str:
        """The image's size to a multiple of 8, or the allowed size nearest its shape."""
        width, height = image
        if not self.options.sizes:
            step = self.capabilities.size_multiple
            return f"{max(step, width - width % step)}x{max(step, height - height % step)}"

        def distance(size: str) -> tuple[float, float]:  # in shape, then in pixels
            across, down = (int(side) for side in size.partition("x")[::2])
            return (
                abs(math.log(across * height / (down * width))),
                abs(math.log(across * down / (width * height))),
            )

        return min(self.options.sizes, key=distance)

    async def generate(
        self, request: GenerationRequest, progress: ProgressCallback, cancel: CancelToken
    ) -> GenerationResult:
        started = time.perf_counter()
        cancel.raise_if_cancelled()
        progress(Progress(0, 0, "waiting for the provider"))
        if request.mode in IMAGE_MODES:
            form = await asyncio.to_thread(self._edit_form, request)
            answer = await self.client.request(
                "POST",
                self.options.edits_path,
                form=form,
                idempotent=False,
                ok=frozenset({200, 400}),
            )
        else:
            answer = await self._generations(request)
        return await self._result(answer, request, started)

    async def _generations(self, request: GenerationRequest) -> Answer:
        body: dict[str, Any] = {
            "model": request.model,
            "prompt": request.prompt,
            "n": request.count,
            "size": "x".join(map(str, request.size)),
        }
        for key in ("response_format", "quality", "style", "output_format", "background"):
            if value := getattr(self.options, key):
                body[key] = value
        return await self.client.request(
            "POST",
            self.options.path,
            json_body=body,
            idempotent=False,
            ok=frozenset({200, 400}),
        )

    def _edit_form(self, request: GenerationRequest) -> Form:
        """The edits form: each image decoded and sent afresh as an RGBA PNG (what the
        strictest servers take), the mask transparent where ours is white."""
        assert request.init_image is not None
        fields = {
            "model": str(request.model),
            "prompt": request.prompt,
            "n": str(request.count),
            "size": "x".join(map(str, request.size)),
        }
        for key in ("response_format", "quality", "output_format", "background"):
            if value := getattr(self.options, key):
                fields[key] = value
        images = (request.init_image, *request.extra_images)
        name = "image[]" if len(images) > 1 else "image"
        files = [
            (name, f"image-{k}.png", png_bytes(decoded(data, "image").convert("RGBA")), "image/png")
            for k, data in enumerate(images)
        ]
        if request.mode in MASK_MODES:
            assert request.mask_image is not None
            mask = transparent_where_painted(request.mask_image)
            files.append(("mask", "mask.png", mask, "image/png"))
        return Form(fields, files)

    async def _result(
        self, answer: Answer, request: GenerationRequest, started: float
    ) -> GenerationResult:
        data = answer.json()
        if answer.status == 400:
            raise self._refusal(data)
        items = data.get("data") if isinstance(data, dict) else None
        if not isinstance(items, list) or not items:
            raise ProviderError(f"The {self.name} provider sent an answer without images.")
        images, revised = [], []
        for item in items[: request.count]:
            if not isinstance(item, dict):
                raise ProviderError(f"The {self.name} provider sent an answer the bot cannot read.")
            if isinstance(item.get("b64_json"), str):
                image = self.client.decode_base64_image(item["b64_json"])
            elif isinstance(item.get("url"), str):
                image = await self._download(item["url"])
            else:
                raise ProviderError(f"The {self.name} provider sent an image without data.")
            images.append(GeneratedImage(image, None))
            if isinstance(item.get("revised_prompt"), str):
                revised.append(scrub(item["revised_prompt"]))
        info = {"revised_prompts": revised} if revised else {}
        return GenerationResult(
            tuple(images), request.model or self.default_model, time.perf_counter() - started, info
        )

    async def _download(self, url: str) -> Image.Image:
        """The images were made (and paid for): a failed download must not make them again."""
        assert self.downloads is not None
        with self.client.submitted():
            return await self.downloads.image(url)

    def _refusal(self, data: Any) -> ProviderError:
        error = data.get("error") if isinstance(data, dict) else None
        message = error.get("message") if isinstance(error, dict) else None
        code = error.get("code") if isinstance(error, dict) else None
        text = self.client.scrub(str(message or "the request was refused"))
        if code in CONTENT_POLICY_CODES:
            return ContentRefused(
                self.client.say(f"refused the prompt under its content policy: {text}")
            )
        return ProviderRejected(
            self.client.say(f"refused the request: {text}"), messages=(text,), status=400
        )


def create(config: ProviderConfig) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(config)
