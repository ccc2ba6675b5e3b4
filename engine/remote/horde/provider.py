"""The AI Horde (aihorde.net, its v2 REST API): a crowd of volunteers' GPUs, free to use:
txt2img, img2img, and inpaint and outpaint on its inpainting models.

Submit with ``POST /v2/generate/async``, poll ``GET /v2/generate/check/{id}`` (queue
position, wait, done, faulted, is_possible) at the pace its wait asks for, then fetch
``GET /v2/generate/status/{id}``, whose images are links to its R2 storage. A request that
ends any other way (cancel, timeout, failure) is withdrawn with ``DELETE
/v2/generate/status/{id}``. The key goes in an ``apikey`` header, to the Horde only;
without one the Horde's anonymous key is used, which it serves last."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import time
from typing import Any

from engine.errors import (
    ContentRefused,
    InvalidRequest,
    ProviderError,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from engine.provider import CancelToken, Progress, ProgressCallback
from engine.registry import ProviderConfig
from engine.remote.base import RemoteProvider, parse
from engine.remote.download import ImageDownloads
from engine.remote.horde import request as horde_request
from engine.remote.horde.answers import censored, number, progress_words, seed_of
from engine.remote.horde.client import HordeClient
from engine.remote.horde.models import ServedModels
from engine.remote.horde.options import ANONYMOUS_KEY, HordeOptions
from engine.remote.http import Answer
from engine.types import (
    CANVAS_WORDS,
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

SUBMIT = "/v2/generate/async"
MODES = frozenset({Mode.TXT2IMG, Mode.IMG2IMG, Mode.INPAINT, Mode.OUTPAINT})
WITHDRAW_SECONDS = 15.0  # a DELETE that takes longer is left to the Horde's own expiry
CANCEL_CHECK = 0.25  # seconds: how often a wait between polls looks at the cancel token
_REQUEST_ID = re.compile(r"[0-9A-Za-z-]{1,64}")


class _Run:
    """One submitted request: its id and the kudos the Horde says it has consumed so far."""

    def __init__(self, request_id: str) -> None:
        self.id = request_id
        self.kudos = 0.0
        self.done = False

    def saw(self, data: Any) -> None:
        kudos = data.get("kudos") if isinstance(data, dict) else None
        if isinstance(kudos, int | float) and 0 <= kudos < 1e9:
            self.kudos = max(self.kudos, float(kudos))


class HordeProvider(RemoteProvider):
    options: HordeOptions

    def __init__(self, config: ProviderConfig) -> None:
        options = parse(HordeOptions, config.options)
        self.anonymous = not config.api_key
        client = HordeClient(
            config.name,
            options.base_url,
            headers={
                "apikey": config.api_key or ANONYMOUS_KEY,
                "Client-Agent": options.client_agent,
            },
            policy=options.policy,
            secrets=[config.api_key] if config.api_key else [],
        )
        super().__init__(config, options, client, ImageDownloads(client, options.image_host_rules))
        self.served = ServedModels(client, options)
        self.kudos_spent = 0.0
        self.requests_made = 0
        self._refresher: asyncio.Task[None] | None = None

    @property
    def capabilities(self) -> Capabilities:
        options = self.options
        models = options.models or self.served.names
        if options.default_model and options.default_model not in models:
            models = (options.default_model, *models)  # the owner's pick, served now or not
        return Capabilities(
            modes=MODES,
            models=models,
            samplers=options.samplers,
            loras=bool(options.loras),
            min_size=64,
            max_size=options.max_size,
            size_multiple=horde_request.MULTIPLE,
            max_steps=options.max_steps,
            max_images=options.max_images,
            nsfw=options.nsfw,
        )

    @property
    def default_model(self) -> str:
        options = self.options
        if options.default_model:
            return options.default_model
        if options.models:
            return options.models[0]
        return self.served.names[0] if self.served.names else "stable_diffusion"

    async def start(self) -> None:
        if self.anonymous:
            log.warning(
                "Provider %s: no API key, so the AI Horde's anonymous key is used; the Horde "
                "serves it after every keyed request (a free key: https://aihorde.net/register)",
                self.name,
            )
        if self.options.contact == "unknown":
            log.info(
                "Provider %s: set contact (a URL or address) so the Horde's admins can reach "
                "you; it goes in the Client-Agent header",
                self.name,
            )
        try:
            await self.served.refresh()
            self.unavailable = None
        except ProviderError as err:
            self.unavailable = err.user_message
            log.warning("Provider %s is unavailable: %s", self.name, err.user_message)
        self._refresher = asyncio.create_task(self._refresh_often(), name=f"{self.name}-models")

    async def _refresh_often(self) -> None:
        while True:
            await asyncio.sleep(self.options.models_refresh_seconds)
            try:
                await self.served.refresh()
                self.unavailable = None
            except ProviderError as err:  # the last list stands meanwhile
                log.warning("Provider %s: models not refreshed: %s", self.name, err.user_message)

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        await super().close()

    def lora_names(self, model: str | None = None) -> list[str]:
        return list(self.options.loras)

    def owner_status(self) -> str | None:
        key = (
            "anonymous key: lowest priority in the Horde's queue"
            if self.anonymous
            else "the owner's own key"
        )
        return (
            f"{self.kudos_spent:.0f} kudos spent since start over {self.requests_made} "
            f"request{'s' if self.requests_made != 1 else ''}; {key}"
        )

    def model_info(self, model: str) -> ModelInfo:
        paints = horde_request.paints(model)
        return dataclasses.replace(super().model_info(model), inpaint=paints, outpaint=paints)

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        if request.mode in IMAGE_MODES:
            request = horde_request.fitted_size(request, self.options.max_size)
        resolved = super().prepare(request)
        horde_request.check(resolved)
        model = resolved.model or self.default_model
        if resolved.mode in MASK_MODES and not horde_request.paints(model):
            painters = [name for name in self.capabilities.models if horde_request.paints(name)]
            raise InvalidRequest(
                "mode",
                resolved.mode.value,
                f"{model} can't {CANVAS_WORDS[resolved.mode]}; pick an inpainting model"
                + (f" ({', '.join(painters[:5])})" if painters else ""),
            )
        for lora in resolved.loras:
            if lora.name not in self.options.loras:
                raise InvalidRequest("lora", lora.name, "one of " + ", ".join(self.options.loras))
        return resolved

    async def generate(
        self, request: GenerationRequest, progress: ProgressCallback, cancel: CancelToken
    ) -> GenerationResult:
        started = time.perf_counter()
        model = request.model or self.default_model
        payload = await asyncio.to_thread(horde_request.body, request, model, self.options)
        cancel.raise_if_cancelled()
        answer = await self.client.request(
            "POST", SUBMIT, json_body=payload, idempotent=False, ok=frozenset({200, 202})
        )
        run = self._accepted(answer)
        self.requests_made += 1
        try:
            # Accepted, so queued on the Horde: from here on it is asked after, never resubmitted.
            with self.client.submitted():
                await self._wait(run, request, progress, cancel)
                status = (await self.client.request("GET", self._status_path(run))).json()
                run.saw(status)
                run.done = True
                images = await self._images(status, request)
        finally:
            if not run.done:
                await self._withdraw(run)
            self.kudos_spent += run.kudos
        return GenerationResult(
            tuple(images), model, time.perf_counter() - started, {"horde_id": run.id}
        )

    def _accepted(self, answer: Answer) -> _Run:
        data = answer.json()
        request_id = data.get("id") if isinstance(data, dict) else None
        if not isinstance(request_id, str) or not _REQUEST_ID.fullmatch(request_id):
            raise ProviderError(self.client.say("accepted the request without a usable id"))
        if data.get("message"):
            log.info("%s: the Horde says: %s", self.name, self.client.scrub(str(data["message"])))
        return _Run(request_id)

    def _status_path(self, run: _Run) -> str:
        return f"/v2/generate/status/{run.id}"

    async def _wait(
        self, run: _Run, request: GenerationRequest, progress: ProgressCallback, cancel: CancelToken
    ) -> None:
        """Poll the check route until the request is done, at a pace set by the wait the Horde
        expects, within ``max_wait_seconds``; each answer becomes a progress report."""
        options = self.options
        deadline = time.monotonic() + options.max_wait_seconds
        while True:
            cancel.raise_if_cancelled()
            try:
                check = (await self.client.request("GET", f"/v2/generate/check/{run.id}")).json()
            except ProviderUnavailable as err:  # a 429 or an outage: ask again, by the deadline
                left = deadline - time.monotonic()
                if left <= 0:
                    raise
                wait = err.retry_after if isinstance(err, RateLimited) else None
                log.info("%s: checking %s failed (%s); asking again", self.name, run.id, err)
                await self._sleep(min(left, wait or options.max_poll_seconds), cancel)
                continue
            if not isinstance(check, dict):
                raise ProviderError(self.client.say("sent a status the bot cannot read"))
            run.saw(check)
            if check.get("faulted"):
                raise ProviderError(
                    self.client.say(
                        "could not make the images: the request faulted on the Horde; try "
                        "again, or pick another model"
                    )
                )
            if check.get("is_possible") is False:
                raise ProviderRejected(self.client.say(self._impossible(request)))
            if check.get("done"):
                return
            wait_time = number(check.get("wait_time"))
            progress(Progress(0, 0, progress_words(check, request.count), eta=wait_time))
            if time.monotonic() >= deadline:
                raise ProviderTimeout(
                    self.client.say(
                        f"did not finish within {options.max_wait_seconds:g} s (max_wait_seconds)"
                        "; the request was withdrawn from the Horde"
                    )
                )
            interval = (wait_time or 0) / 5
            interval = min(options.max_poll_seconds, max(options.min_poll_seconds, interval))
            await self._sleep(min(interval, max(0.0, deadline - time.monotonic())), cancel)

    def _impossible(self, request: GenerationRequest) -> str:
        width, height = request.size
        settings = [
            what
            for what, on in (
                ("trusted_workers = false", self.options.trusted_workers),
                ("slow_workers = true", not self.options.slow_workers),
            )
            if on
        ]
        widen = f"; the owner may widen it with {' and '.join(settings)}" if settings else ""
        return (
            f"has no worker that can serve this request now ({request.model}, {width}×{height}, "
            f"{request.steps or 30} steps): pick another model, a smaller size or fewer "
            f"steps{widen}"
        )

    async def _sleep(self, seconds: float, cancel: CancelToken) -> None:
        """Wait between polls; a cancel (a thread-safe flag, not awaitable) cuts it short."""
        end = time.monotonic() + seconds
        while True:
            left = end - time.monotonic()
            if cancel.cancelled or left <= 0:
                return
            await asyncio.sleep(min(left, CANCEL_CHECK))

    async def _withdraw(self, run: _Run) -> None:
        """Take the request off the Horde, so no worker spends (and no one pays) for images
        nobody will fetch; the answer says what was consumed until then."""
        try:
            async with asyncio.timeout(WITHDRAW_SECONDS):
                answer = await asyncio.shield(
                    self.client.request(
                        "DELETE", self._status_path(run), ok=frozenset({200, 404, 410})
                    )
                )
        except (ProviderError, TimeoutError) as err:
            log.warning("%s: could not withdraw request %s: %s", self.name, run.id, err)
            return
        run.saw(answer.json())
        log.info("%s: withdrew request %s", self.name, run.id)

    async def _images(self, status: Any, request: GenerationRequest) -> list[GeneratedImage]:
        generations = status.get("generations") if isinstance(status, dict) else None
        if not isinstance(generations, list):
            raise ProviderError(self.client.say("sent a result the bot cannot read"))
        images, withheld = [], 0
        for index, generation in enumerate(generations[: request.count]):
            if not isinstance(generation, dict) or not isinstance(generation.get("img"), str):
                raise ProviderError(self.client.say("sent a result the bot cannot read"))
            if censored(generation):
                withheld += 1
                continue
            link = generation["img"]
            if link.startswith(("https://", "http://")):
                assert self.downloads is not None
                image = await self.downloads.image(link)
            else:  # ``r2: false``: the image itself, a base64 WebP (decoded off the loop)
                image = await asyncio.to_thread(self.client.decode_base64_image, link)
            images.append(GeneratedImage(image, seed_of(generation, request, index)))
        if withheld:
            log.info("%s: %d of %d images came back censored", self.name, withheld, request.count)
        if not images:
            if withheld:
                raise ContentRefused(
                    self.client.say(
                        "sent only censored images: the workers' safety filter blanked every "
                        "image as not allowed here"
                    )
                )
            raise ProviderError(self.client.say("finished without images"))
        return images


def create(config: ProviderConfig) -> HordeProvider:
    return HordeProvider(config)
