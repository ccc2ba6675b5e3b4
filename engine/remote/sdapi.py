"""The sdapi API (provider-docs/sdapi.md): txt2img, img2img and interrogate, one JSON POST
each, answering ``{images: [base64]}`` or ``{msg}``. One image per call, so image k of a
request is its own call with seed + k."""

from __future__ import annotations

import base64
import time
from typing import Any, Literal

from PIL import Image

from engine.errors import InvalidRequest, ProviderConfigError, ProviderError, ProviderRejected
from engine.provider import CancelToken, Progress, ProgressCallback
from engine.redact import scrub
from engine.registry import ProviderConfig
from engine.remote.base import RemoteOptions, RemoteProvider, bearer_client, parse
from engine.remote.http import png_base64
from engine.types import Capabilities, GeneratedImage, GenerationRequest, GenerationResult, Mode


class SdapiOptions(RemoteOptions):
    txt2img_path: str = "/txt2img"
    img2img_path: str = "/img2img"
    interrogate_path: str = "/interrogate"
    interrogator: Literal["clip", "deepdanbooru"] = "clip"
    samplers: tuple[str, ...] = ("Euler a", "Euler", "DPM++ 2M Karras", "DDIM", "UniPC")


class SdapiProvider(RemoteProvider):
    options: SdapiOptions

    def __init__(self, config: ProviderConfig) -> None:
        options = parse(SdapiOptions, config.options)
        if not options.models:
            # sdapi has no model list to discover and no default: a call without a model fails
            raise ProviderConfigError(
                "models",
                [],
                "at least one model your sdapi account offers, e.g. "
                'models = ["dreamshaper"] (sdapi answers "Invalid model" without one)',
            )
        super().__init__(config, options, bearer_client(config, options))
        self._capabilities = Capabilities(
            modes=frozenset({Mode.TXT2IMG, Mode.IMG2IMG}),
            models=options.models,
            samplers=options.samplers,
            loras=True,
            max_images=4,
            nsfw=options.nsfw,
            describe=True,
        )

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        resolved = super().prepare(request)
        if resolved.guidance is not None and resolved.guidance != int(resolved.guidance):
            raise InvalidRequest("guidance", resolved.guidance, f"a whole number on {self.name}")
        for lora in resolved.loras:
            if self.options.loras and lora.name not in self.options.loras:
                raise InvalidRequest("lora", lora.name, "one of " + ", ".join(self.options.loras))
        return resolved

    def _body(self, request: GenerationRequest, seed: int) -> dict[str, Any]:
        width, height = request.size
        body: dict[str, Any] = {
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "loras": [[lora.name, lora.weight] for lora in request.loras],
            "seed": seed,
            "steps": request.steps or 20,
            "cfg_scale": int(request.guidance if request.guidance is not None else 7),
            "width": width,
            "height": height,
        }
        if request.sampler:
            body["sampler_name"] = request.sampler
        if request.model and request.model != "default":
            body["model"] = request.model
        if request.mode is Mode.IMG2IMG:
            assert request.init_image is not None
            body["init_image"] = base64.b64encode(request.init_image).decode("ascii")
            body["denoising_strength"] = request.strength
        return body

    async def generate(
        self, request: GenerationRequest, progress: ProgressCallback, cancel: CancelToken
    ) -> GenerationResult:
        started = time.perf_counter()
        path = (
            self.options.img2img_path if request.mode is Mode.IMG2IMG else self.options.txt2img_path
        )
        images = []
        for index, seed in enumerate(request.seeds):
            cancel.raise_if_cancelled()
            progress(Progress(index, request.count, "waiting for the provider"))
            answer = await self.client.request(
                "POST", path, json_body=self._body(request, seed), idempotent=False
            )
            data = answer.json()
            if not isinstance(data, dict) or not isinstance(data.get("images"), list):
                message = data.get("msg") if isinstance(data, dict) else None
                if isinstance(message, str):
                    raise ProviderRejected(
                        self.client.say(f"refused the request: {message}"), messages=(message,)
                    )
                raise ProviderError(f"The {self.name} provider sent an answer the bot cannot read.")
            if not data["images"]:
                raise ProviderError(f"The {self.name} provider sent no image.")
            images.append(GeneratedImage(self.client.decode_base64_image(data["images"][0]), seed))
        return GenerationResult(
            tuple(images), request.model or self.default_model, time.perf_counter() - started
        )

    async def describe(self, image: Image.Image) -> str:
        body = {"image": png_base64(image), "model": self.options.interrogator}
        answer = await self.client.request(
            "POST", self.options.interrogate_path, json_body=body, ok=frozenset({200, 400, 422})
        )
        data = answer.json()
        if isinstance(data, dict) and isinstance(data.get("caption"), str) and data["caption"]:
            return scrub(str(data["caption"]))
        detail = data.get("detail") if isinstance(data, dict) else None
        raise ProviderRejected(
            self.client.say("could not describe the image" + (f": {detail}" if detail else "")),
            messages=(str(detail),) if detail else (),
        )


def create(config: ProviderConfig) -> SdapiProvider:
    return SdapiProvider(config)
