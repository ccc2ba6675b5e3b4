"""VisionCraft (provider-docs/visioncraft.md): POST ``/sd`` with the key in the body as
``token``; the answer is the image itself, or JSON (``error`` / ``detail``) when it fails.
One image per call and no seed, so a request for n images makes n calls."""

from __future__ import annotations

import time
from typing import Any

from pydantic import model_validator

from engine.errors import InvalidRequest, ProviderAuthError, ProviderRejected
from engine.provider import CancelToken, Progress, ProgressCallback
from engine.registry import ProviderConfig
from engine.remote.base import RemoteOptions, RemoteProvider, parse
from engine.remote.http import RemoteClient
from engine.types import Capabilities, GeneratedImage, GenerationRequest, GenerationResult

MAX_LORAS = 5


class VisionCraftOptions(RemoteOptions):
    base_url: str = "https://visioncraft.top"
    path: str = "/sd"
    samplers: tuple[str, ...] = ("Euler", "Euler a", "DPM++ 2M Karras", "DDIM")

    @model_validator(mode="after")
    def _needs_models(self) -> VisionCraftOptions:
        if not self.models:
            raise ValueError("name the VisionCraft models to offer (the API requires one)")
        return self


class VisionCraftProvider(RemoteProvider):
    options: VisionCraftOptions

    def __init__(self, config: ProviderConfig) -> None:
        options = parse(VisionCraftOptions, config.options)
        self._token = config.api_key
        client = RemoteClient(
            config.name,
            options.base_url,
            policy=options.policy,
            secrets=[config.api_key] if config.api_key else [],
        )
        super().__init__(config, options, client)
        self._capabilities = Capabilities(
            models=options.models,
            samplers=options.samplers,
            seed=False,
            loras=True,
            min_size=64,
            max_size=1024,
            max_steps=30,
            max_images=4,
            nsfw=options.nsfw,
        )

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        resolved = super().prepare(request)
        if resolved.guidance is not None and not (
            1 <= resolved.guidance <= 30 and resolved.guidance == int(resolved.guidance)
        ):
            raise InvalidRequest("guidance", resolved.guidance, "a whole number from 1 to 30")
        if len(resolved.loras) > MAX_LORAS:
            raise InvalidRequest("loras", len(resolved.loras), f"at most {MAX_LORAS}")
        for lora in resolved.loras:
            if self.options.loras and lora.name not in self.options.loras:
                raise InvalidRequest("lora", lora.name, "one of " + ", ".join(self.options.loras))
        return resolved

    async def generate(
        self, request: GenerationRequest, progress: ProgressCallback, cancel: CancelToken
    ) -> GenerationResult:
        if not self._token:
            raise ProviderAuthError(f"The {self.name} provider has no API key set.")
        started = time.perf_counter()
        width, height = request.size
        body: dict[str, Any] = {
            "token": self._token,
            "model": request.model,
            "prompt": request.prompt,
            "negative_prompt": request.negative_prompt,
            "sampler": request.sampler or self.options.samplers[0],
            "steps": request.steps or 30,
            "width": width,
            "height": height,
            "cfg_scale": int(request.guidance if request.guidance is not None else 7),
            "loras": {lora.name: lora.weight for lora in request.loras},
        }
        images = []
        for index in range(request.count):
            cancel.raise_if_cancelled()
            progress(Progress(index, request.count, "waiting for the provider"))
            answer = await self.client.request(
                "POST", self.options.path, json_body=body, idempotent=False
            )
            data = answer.json() if answer.content_type == "application/json" else None
            message = (data.get("error") or data.get("detail")) if isinstance(data, dict) else None
            if message:
                text = self.client.scrub(str(message))
                raise ProviderRejected(
                    self.client.say(f"refused the request: {text}"), messages=(text,)
                )
            images.append(
                GeneratedImage(self.client.decode_image(answer.body, answer.content_type), None)
            )
        return GenerationResult(
            tuple(images), request.model or self.default_model, time.perf_counter() - started
        )


def create(config: ProviderConfig) -> VisionCraftProvider:
    return VisionCraftProvider(config)
