"""APIFRAME AI photos (provider-docs/apiframe.md): POST ``/ai-photo-generate`` with the
trained model's ``training_id``, then, while the task is not ``finished``, poll the fetch
endpoint with its ``task_id``. ``Authorization`` carries the bare key.

Each model is an alias for a training the owner made on APIFRAME (the bot runs no photo
training). A trained model depicts a real person, so this provider is always SFW."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated, Any

from pydantic import Field, model_validator

from engine.errors import (
    InvalidRequest,
    ProviderError,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from engine.provider import CancelToken, Progress, ProgressCallback
from engine.registry import ProviderConfig
from engine.remote.base import ImageUrlOptions, RemoteProvider, parse
from engine.remote.download import ImageDownloads
from engine.remote.http import RemoteClient
from engine.types import Capabilities, GeneratedImage, GenerationRequest, GenerationResult

log = logging.getLogger(__name__)

MAX_IMAGES = 4


class ApiframeOptions(ImageUrlOptions):
    # "image_urls": ["https://cdn.apiframe.pro/images/..."] in the Generate document
    documented_image_hosts = ("cdn.apiframe.pro",)

    base_url: str = "https://api.apiframe.pro"
    generate_path: str = "/ai-photo-generate"
    fetch_path: str = "/fetch"
    trainings: dict[str, str] = Field(default_factory=dict)
    poll_seconds: Annotated[float, Field(gt=0, le=60)] = 3.0
    deadline_seconds: Annotated[float, Field(gt=0, le=3600)] = 300.0

    @model_validator(mode="after")
    def _checks(self) -> ApiframeOptions:
        if not self.trainings:
            raise ValueError("map at least one model alias to its APIFRAME training_id")
        if self.nsfw:
            raise ValueError("models trained on a real person's photos are never NSFW here")
        return self


class ApiframeProvider(RemoteProvider):
    options: ApiframeOptions

    def __init__(self, config: ProviderConfig) -> None:
        options = parse(ApiframeOptions, config.options)
        key = config.api_key
        client = RemoteClient(
            config.name,
            options.base_url,
            headers={"Authorization": key} if key else None,
            policy=options.policy,
            secrets=[key] if key else [],
        )
        super().__init__(config, options, client, ImageDownloads(client, options.image_host_rules))
        self._capabilities = Capabilities(
            models=tuple(options.trainings),
            negative_prompt=False,
            guidance=False,
            max_images=MAX_IMAGES,
            nsfw=False,
        )

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def default_model(self) -> str:
        return next(iter(self.options.trainings))

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        if request.steps is not None:
            raise InvalidRequest("steps", request.steps, f"{self.name} sets its own")
        return super().prepare(request)

    async def generate(
        self, request: GenerationRequest, progress: ProgressCallback, cancel: CancelToken
    ) -> GenerationResult:
        started = time.perf_counter()
        width, height = request.size
        body: dict[str, Any] = {
            "training_id": self.options.trainings[request.model or self.default_model],
            "prompt": request.prompt,
            "aspect_ratio": "custom",
            "width": str(width),
            "height": str(height),
            "number_of_images": str(request.count),
        }
        if request.seed is not None:
            body["seed"] = request.seed
        task = (
            await self.client.request(
                "POST", self.options.generate_path, json_body=body, idempotent=False
            )
        ).json()
        # Accepted, so charged: from here on a lost task is asked after, never submitted again.
        with self.client.submitted():
            task = await self._until_finished(task, progress, cancel)
            urls = task.get("image_urls")
            if not isinstance(urls, list) or not urls:
                raise ProviderError(f"The {self.name} provider finished without images.")
            assert self.downloads is not None
            images = [await self.downloads.image(str(url)) for url in urls[: request.count]]
        seed = request.seed if request.count == 1 else None
        return GenerationResult(
            tuple(GeneratedImage(image, seed) for image in images),
            request.model or self.default_model,
            time.perf_counter() - started,
            {"seed": request.seed, "task_id": task.get("task_id")},
        )

    async def _until_finished(
        self, task: Any, progress: ProgressCallback, cancel: CancelToken
    ) -> dict[str, Any]:
        deadline = time.monotonic() + self.options.deadline_seconds
        while True:
            if not isinstance(task, dict) or not isinstance(task.get("task_id"), str):
                raise ProviderError(f"The {self.name} provider sent an answer the bot cannot read.")
            status = task.get("status")
            if status == "finished":
                return task
            if status == "failed":
                reason = task.get("message") or task.get("error") or "the task failed"
                text = self.client.scrub(str(reason))
                raise ProviderRejected(
                    self.client.say(f"could not make the images: {text}"), messages=(text,)
                )
            percentage = task.get("percentage")
            step = int(percentage) if isinstance(percentage, int | float) else 0
            progress(Progress(step, 100 if percentage is not None else 0, f"{status}"))
            if time.monotonic() >= deadline:
                raise ProviderTimeout(  # made an OutcomeUnknown by submitted(), unless opted in
                    f"The {self.name} provider did not finish within "
                    f"{self.options.deadline_seconds:g} s."
                )
            cancel.raise_if_cancelled()
            await asyncio.sleep(self.options.poll_seconds)
            task = await self._fetch(task, deadline)

    async def _fetch(self, task: dict[str, Any], deadline: float) -> Any:
        """The task's state; a poll that fails for a while is tried again until the deadline
        (the task id is all that ties us to images already paid for)."""
        while True:
            try:
                answer = await self.client.request(
                    "POST", self.options.fetch_path, json_body={"task_id": task["task_id"]}
                )
            except ProviderUnavailable as err:
                if time.monotonic() >= deadline:
                    raise
                log.info(
                    "%s: polling task %s failed (%s); asking again", self.name, task["task_id"], err
                )
                await asyncio.sleep(self.options.poll_seconds)
                continue
            return answer.json()


def create(config: ProviderConfig) -> ApiframeProvider:
    return ApiframeProvider(config)
