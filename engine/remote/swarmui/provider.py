"""The SwarmUI provider: txt2img, img2img, inpaint and outpaint over the WebSocket route
``/API/GenerateText2ImageWS`` (or its HTTP twin where a proxy refuses WebSockets), with the
server's models, LoRAs, samplers and parameter ranges read from ``/API/ListT2IParams`` at start
and on an interval, checked before anything is queued and offered to autocomplete."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, Literal

import aiohttp
from pydantic import Field

from engine.deadline import time_left
from engine.errors import (
    GenerationCancelled,
    InvalidRequest,
    ProviderConfigError,
    ProviderError,
    ProviderTimeout,
    ProviderUnavailable,
)
from engine.provider import CancelToken, Progress, ProgressCallback
from engine.registry import ProviderConfig
from engine.remote.base import RemoteOptions, RemoteProvider, parse
from engine.remote.http import RemoteClient
from engine.remote.inputs import canvas_size, refuse_prompt_tags
from engine.remote.swarmui.api import EXPIRED, Lease, NoWebsocket, SwarmApi, swarm_error
from engine.remote.swarmui.body import request_body
from engine.remote.swarmui.catalog import Catalog, plain_model_name, read_catalog
from engine.remote.swarmui.stream import Stream, receive
from engine.types import (
    IMAGE_MODES,
    MASK_MODES,
    Capabilities,
    GeneratedImage,
    GenerationRequest,
    GenerationResult,
    Mode,
)

log = logging.getLogger(__name__)

MODES = frozenset({Mode.TXT2IMG, Mode.IMG2IMG, Mode.INPAINT, Mode.OUTPAINT})
CANCEL_TICK = 0.1
DEADLINE_MARGIN = 2.0  # seconds before the job's limit that a run gives up (and interrupts)
# Swarm reads <prefix:data> and <prefix[pre-data]:data> (T2IParamInput.ProcessPromptLike): a
# wider net than EXTRA_NETWORK, which misses <wildcard[2]:name> and <random[1-3]:...>
SWARM_TAG = re.compile(r"<\w+(?:\[[^\]<>]*\])?:")
_TOKEN = re.compile(r"^[A-Za-z0-9._~+/=-]{1,4096}$")


class SwarmOptions(RemoteOptions):
    base_url: str = "http://127.0.0.1:7801"
    # where the key goes: Swarm's swarm_user_token cookie (accounts on), its own required
    # Authorization header as is, or "Bearer <key>" for a proxy in front of it
    key_as: Literal["cookie", "authorization", "bearer"] = "cookie"
    scheduler: str | None = None
    refresh_seconds: Annotated[float, Field(ge=0)] = 300.0  # 0: read the lists at start only
    max_images: Annotated[int, Field(ge=1, le=16)] = 4
    max_size: Annotated[int, Field(ge=64, le=4096)] = 2048
    max_steps: Annotated[int, Field(ge=1, le=500)] = 150
    keep_outputs: bool = False  # False sends donotsave: images come back inline, unsaved
    websocket: bool = True  # False uses POST /API/GenerateText2Image (no progress)
    deadline_seconds: Annotated[float, Field(gt=0, le=24 * 3600)] = 1800.0


class SwarmUIProvider(RemoteProvider):
    options: SwarmOptions

    def __init__(self, config: ProviderConfig) -> None:
        options = parse(SwarmOptions, config.options)
        key = config.api_key
        headers: dict[str, str] = {}
        if key and options.key_as == "cookie":
            if not _TOKEN.match(key):
                raise ProviderConfigError(
                    "api_key", "(hidden)", "a swarm_user_token as SwarmUI issues it"
                )
            headers["Cookie"] = f"swarm_user_token={key}"
        elif key:
            headers["Authorization"] = key if options.key_as == "authorization" else f"Bearer {key}"
        # no redirects: the credential and every fetch stay on the server's own host
        client = RemoteClient(
            config.name,
            options.base_url,
            headers=headers,
            policy=options.policy,
            secrets=[key] if key else [],
            follow_redirects=False,
        )
        super().__init__(config, options, client)
        self.api = SwarmApi(client, options.base_url, headers, options.policy.max_body_bytes)
        self.catalog: Catalog | None = None
        self._refresher: asyncio.Task[None] | None = None

    # ---- what the server offers, as the owner narrows it

    @property
    def capabilities(self) -> Capabilities:
        catalog = self.catalog or Catalog()
        width, height = catalog.range("width"), catalog.range("height")
        step = max(width.step, height.step)
        steps, images = catalog.range("steps"), catalog.range("images")
        return Capabilities(
            modes=MODES,
            models=self._models(),
            samplers=self._samplers(),
            loras=bool(self._loras()),
            min_size=max(8, int(max(width.low, height.low))),
            max_size=min(self.options.max_size, int(min(width.high, height.high))),
            size_multiple=int(step) if step >= 8 and step.is_integer() else 8,
            max_steps=max(1, min(self.options.max_steps, int(steps.high))),
            max_images=max(1, min(self.options.max_images, int(images.high))),
            nsfw=self.options.nsfw,
        )

    @property
    def default_model(self) -> str:
        models = self._models()
        return models[0] if models else "default"

    def _models(self) -> tuple[str, ...]:
        if self.catalog is None:
            return self.options.models
        return _narrowed(self.catalog.models, self.options.models)

    def _samplers(self) -> tuple[str, ...]:
        if self.catalog is None:
            return self.options.samplers
        return _narrowed(self.catalog.samplers, self.options.samplers)

    def _loras(self) -> Mapping[str, str]:
        """Member's name -> the server's, kept to the owner's list (either name) if any."""
        found = self.catalog.loras if self.catalog is not None else {}
        listed = self.options.loras
        if not listed:
            return found
        return {name: full for name, full in found.items() if name in listed or full in listed}

    def lora_names(self, model: str | None = None) -> list[str]:
        return list(self._loras())

    async def start(self) -> None:
        await self.refresh()
        if self.options.refresh_seconds > 0:
            self._refresher = asyncio.create_task(self._refresh_every())

    async def refresh(self) -> None:
        """Read the server's lists; a failed reading keeps the last good one."""
        try:
            async with self.api.lease() as lease:
                data = await self.api.post("ListT2IParams", {}, lease)
            catalog = read_catalog(data)
        except (ProviderError, ValueError) as err:
            reason = getattr(err, "user_message", None) or self.client.say(
                f"sent a parameter list the bot cannot read ({err})"
            )
            if self.catalog is None:
                self.unavailable = reason
            log.warning("Provider %s: could not read its lists: %s", self.name, reason)
            return
        self.catalog = catalog
        self.unavailable = None
        for what, listed, found in (
            ("model", self.options.models, catalog.models),
            ("sampler", self.options.samplers, catalog.samplers),
            ("LoRA", self.options.loras, (*catalog.loras, *catalog.loras.values())),
        ):
            known = {alias for item in found for alias in (item, plain_model_name(item))}
            if missing := [item for item in listed if item not in known]:
                log.warning("Provider %s has no %s %s", self.name, what, ", ".join(missing))
        scheduler = self.options.scheduler
        if self.options.models and not self._models():
            # else the server's default model would run, which the owner did not list
            self.unavailable = self.client.say(
                "has none of the models its settings list "
                f"({', '.join(self.options.models)}); it has {', '.join(catalog.models) or 'none'}"
            )
        elif scheduler and catalog.schedulers and scheduler not in catalog.schedulers:
            self.unavailable = self.client.say(
                f"has no scheduler {scheduler!r} (it has {', '.join(catalog.schedulers)}); "
                "the owner's scheduler setting needs one of those"
            )
        log.info(
            "Provider %s: %d models, %d LoRAs, %d samplers",
            self.name,
            len(self._models()),
            len(self._loras()),
            len(self._samplers()),
        )

    async def _refresh_every(self) -> None:
        while True:
            await asyncio.sleep(self.options.refresh_seconds)
            await self.refresh()

    async def close(self) -> None:
        if self._refresher is not None:
            self._refresher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._refresher
        await self.api.close()
        await super().close()

    # ---- checks before anything is queued

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        if request.mode in MASK_MODES:
            request = canvas_size(request, self.capabilities.size_multiple)
        resolved = super().prepare(request)
        refuse_prompt_tags(resolved, SWARM_TAG)
        catalog = self.catalog or Catalog()
        checks: list[tuple[str, float | None, str]] = [
            ("guidance", resolved.guidance, "cfgscale"),
            ("steps", resolved.steps, "steps"),
        ]
        if resolved.mode in IMAGE_MODES:
            checks.append(("strength", resolved.strength, "initimagecreativity"))
        loras = self._loras()
        for lora in resolved.loras:
            if lora.name not in loras:
                allowed = ", ".join(loras) or "none: the server lists no LoRA"
                raise InvalidRequest("lora", lora.name, f"one of {allowed}")
            checks.append(("lora weight", lora.weight, "loraweights"))
        for field, value, param in checks:
            bounds = catalog.range(param)
            if value is not None and not bounds.holds(value):
                raise InvalidRequest(field, value, f"use a value {bounds.text()} on {self.name}")
        return resolved

    # ---- a generation

    async def generate(
        self, request: GenerationRequest, progress: ProgressCallback, cancel: CancelToken
    ) -> GenerationResult:
        cancel.raise_if_cancelled()
        started = time.perf_counter()
        body = await asyncio.to_thread(
            request_body,
            request,
            self._loras(),
            scheduler=self.options.scheduler,
            keep_outputs=self.options.keep_outputs,
        )
        # one deadline over it all: a server may send keep-alives for ever
        left = time_left()
        limit = self.options.deadline_seconds
        limit = limit if left is None else max(0.0, min(limit, left - DEADLINE_MARGIN))
        async with self.api.lease() as lease:
            try:
                async with asyncio.timeout(limit):
                    kept, discarded = await self._generated(lease, body, request, progress, cancel)
            except TimeoutError:  # its work was interrupted on the way out
                raise ProviderTimeout(
                    self.client.say(f"did not finish within {limit:g} s")
                ) from None
            with self.client.submitted():
                images = [await self.api.image(reference) for _, reference in kept]
        if not images or (len(images) < request.count and not discarded):
            raise ProviderError(self.client.say(f"sent {len(images)} of {request.count} images"))
        generated = tuple(
            GeneratedImage(image, None if request.seed is None else request.seeds[index])
            for (index, _), image in zip(kept, images, strict=True)
        )
        return GenerationResult(
            generated,
            request.model or self.default_model,
            time.perf_counter() - started,
            {"discarded": sorted(discarded)} if discarded else {},
        )

    async def _generated(
        self,
        lease: Lease,
        body: dict[str, Any],
        request: GenerationRequest,
        progress: ProgressCallback,
        cancel: CancelToken,
    ) -> tuple[list[tuple[int, str]], set[int]]:
        if self.options.websocket:
            try:
                return await self._over_websocket(lease, body, request.count, progress, cancel)
            except NoWebsocket:
                log.warning("%s: the WebSocket route is refused; using HTTP", self.name)
        return await self._over_http(lease, body, progress, cancel)

    async def _over_websocket(
        self,
        lease: Lease,
        body: dict[str, Any],
        count: int,
        progress: ProgressCallback,
        cancel: CancelToken,
    ) -> tuple[list[tuple[int, str]], set[int]]:
        while True:
            ws = await self.api.connect("GenerateText2ImageWS")
            stream = Stream(count, progress, self.client)
            watcher = asyncio.create_task(self._watch(cancel, lease, ws))
            try:
                cancel.raise_if_cancelled()
                await ws.send_json({**body, "session_id": lease.session_id})
                with self.client.submitted():
                    await receive(ws, stream, self.options.read_timeout)
            except asyncio.CancelledError:  # the job's time ran out: stop the server's work too
                await self._interrupt_quietly(lease)
                raise
            except (aiohttp.ClientError, ConnectionError) as err:
                if cancel.cancelled:
                    raise GenerationCancelled from err
                with self.client.submitted():
                    raise ProviderUnavailable(self.client.say("dropped the connection")) from err
            finally:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
                await ws.close()
            if cancel.cancelled:
                raise GenerationCancelled
            error = stream.error
            if error is not None and error.get("error_id") == EXPIRED and not stream.started:
                await self.api.renew(lease)  # refused up front: nothing was generated
                continue
            if error is not None:
                raise swarm_error(self.client, error) or ProviderError(self.client.say("failed"))
            if not stream.finished:
                with self.client.submitted():
                    raise ProviderUnavailable(
                        self.client.say("dropped the connection before it finished")
                    )
            return stream.kept(), stream.discarded

    async def _over_http(
        self, lease: Lease, body: dict[str, Any], progress: ProgressCallback, cancel: CancelToken
    ) -> tuple[list[tuple[int, str]], set[int]]:
        progress(Progress(0, 0, "generating on SwarmUI"))
        watcher = asyncio.create_task(self._watch(cancel, lease, None))
        try:
            data = await self.api.post("GenerateText2Image", body, lease, idempotent=False)
        except asyncio.CancelledError:
            await self._interrupt_quietly(lease)
            raise
        finally:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
        if cancel.cancelled:
            raise GenerationCancelled
        images = data.get("images")
        if not isinstance(images, list):
            raise ProviderError(self.client.say("sent an answer the bot cannot read"))
        kept = [(index, ref) for index, ref in enumerate(images) if isinstance(ref, str)]
        return kept[: body["images"]], set()

    async def _interrupt_quietly(self, lease: Lease) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(self.api.interrupt(lease), self.options.connect_timeout)

    async def _watch(
        self, cancel: CancelToken, lease: Lease, ws: aiohttp.ClientWebSocketResponse | None
    ) -> None:
        """On cancel: interrupt this session's generation, then hang up."""
        while not cancel.cancelled:  # noqa: ASYNC110 (a threading.Event, set from anywhere)
            await asyncio.sleep(CANCEL_TICK)
        await self.api.interrupt(lease)
        if ws is not None:
            await ws.close()


def _narrowed(found: Iterable[str], listed: tuple[str, ...]) -> tuple[str, ...]:
    """The server's names, kept to those the owner listed (by full or plain name)."""
    if not listed:
        return tuple(found)
    return tuple(item for item in found if item in listed or plain_model_name(item) in listed)


def create(config: ProviderConfig) -> SwarmUIProvider:
    return SwarmUIProvider(config)
