"""One HTTP policy for every remote provider: a long-lived client with explicit timeouts,
bounded retries with capped, jittered backoff that honours Retry-After, bounded bodies,
images decoded with Pillow's bomb guard, and typed errors that never carry a key."""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import io
import json
import logging
import random
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from PIL import Image

from engine.deadline import time_left
from engine.errors import (
    OutcomeUnknown,
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)
from engine.redact import register_secret, scrub
from engine.remote.wording import message_suffix, provider_messages, retry_after_of

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
# A gateway that gave up waiting: the server behind it may still be making the images.
UNKNOWN_OUTCOME_STATUSES = frozenset({504})
MAX_IMAGE_PIXELS = 4096 * 4096
# Outside a job (health checks, an unqueued describe) no deadline is known: longer waits fail.
MAX_WAIT_WITHOUT_DEADLINE = 60.0

_sleep = asyncio.sleep  # every wait between attempts goes through here


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 20.0
    max_body_bytes: int = 50 * 2**20
    retry_unknown_outcome: bool = False


@dataclass(frozen=True, slots=True)
class Form:
    """A multipart/form-data body: text fields, then files as (field, file name, bytes, type);
    a file's field may repeat (``image[]``)."""

    fields: Mapping[str, str]
    files: Sequence[tuple[str, str, bytes, str]]


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    headers: httpx.Headers
    body: bytes

    @property
    def content_type(self) -> str:
        return str(self.headers.get("content-type", "")).split(";")[0].strip().lower()

    def json(self) -> Any:
        try:
            return json.loads(self.body)
        except (ValueError, RecursionError):  # nested past the parser's depth: unreadable
            return None


class RemoteClient:
    """Requests to one provider. ``secrets`` are scrubbed from every error message."""

    def __init__(
        self,
        provider: str,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        auth: httpx.Auth | tuple[str, str] | None = None,
        policy: HttpPolicy = HttpPolicy(),
        secrets: Sequence[str] = (),
        follow_redirects: bool = True,
    ) -> None:
        self.provider = provider
        self.policy = policy
        self._secrets = [secret for secret in secrets if secret]
        register_secret(*self._secrets)
        url = httpx.URL(base_url)
        if url.password:  # a password in base_url (httpx sends it as basic auth) is a key too
            pair = f"{url.username}:{url.password}".encode()
            register_secret(url.password, base64.b64encode(pair).decode("ascii"))
        self._origin = origin_of(url)
        # every header the owner's settings add may carry a credential (an ``apikey``, a
        # cookie): httpx itself drops only Authorization when a redirect leaves the host
        self._own_headers = (*(headers or {}), "authorization", "cookie", "proxy-authorization")
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=dict(headers or {}),
            auth=auth,
            timeout=httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout),
            follow_redirects=follow_redirects,
            event_hooks={"request": [self._own_host_only]},
        )

    async def _own_host_only(self, request: httpx.Request) -> None:
        """Credentials go to the provider's own host only: a request anywhere else (a
        redirect's next hop, an absolute URL an answer named) leaves them behind."""
        origin = origin_of(request.url)
        # http to https on the same host's default ports is the same server (as httpx has it)
        upgrade = self._origin == ("http", origin[1], 80) and origin[::2] == ("https", 443)
        if origin != self._origin and not upgrade:
            for name in self._own_headers:
                request.headers.pop(name, None)

    async def close(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        form: Form | None = None,
        idempotent: bool = True,
        ok: frozenset[int] = frozenset({200}),
    ) -> Answer:
        """Send, retrying what is safe to retry; an answer outside ``ok`` raises. A request
        that is not ``idempotent`` (it makes, and may charge for, images) is sent again only
        when it surely did not arrive: its lost outcome raises ``OutcomeUnknown``."""
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = await self._send(method, url, json_body, form)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as err:
                # never reached the server: always safe to send again
                if attempt > self.policy.max_retries:
                    raise ProviderUnavailable(self.say(f"cannot connect ({err})")) from err
                await self.pause(attempt, None)
                continue
            except httpx.TimeoutException as err:
                if not idempotent:
                    raise self._lost("did not answer in time") from err
                if attempt > self.policy.max_retries:
                    raise ProviderTimeout(self.say("did not answer in time")) from err
                await self.pause(attempt, None)
                continue
            except httpx.TransportError as err:
                if not idempotent:
                    raise self._lost(f"dropped the connection ({err})") from err
                if attempt > self.policy.max_retries:
                    raise ProviderUnavailable(self.say(f"dropped the connection ({err})")) from err
                await self.pause(attempt, None)
                continue
            if answer.status in ok:
                return answer
            retry_after = retry_after_of(answer.headers)
            if not idempotent and answer.status in UNKNOWN_OUTCOME_STATUSES:
                raise self._lost(f"answered {answer.status}", answer.status)
            retryable = answer.status in RETRY_STATUSES and (idempotent or answer.status == 429)
            if retryable and attempt <= self.policy.max_retries:
                await self.pause(attempt, retry_after, answer.status)
                continue
            raise self.error_for(answer, retry_after)

    @contextlib.contextmanager
    def submitted(self) -> Iterator[None]:
        """Around what follows a request that made (and may have charged for) images: a
        failure there is not worth sending that request again for, unless the owner opted in."""
        try:
            yield
        except ProviderError as err:
            if not err.retryable or self.policy.retry_unknown_outcome:
                raise
            raise OutcomeUnknown(
                f"{err.user_message} The request had already gone through, so it was not sent "
                "again (that could make and charge the images twice).",
                status=err.status,
            ) from err

    def _lost(self, what: str, status: int | None = None) -> ProviderError:
        """A request that makes images was sent and its outcome is unknown."""
        if self.policy.retry_unknown_outcome:  # the owner's choice: the queue may resend it
            return ProviderTimeout(self.say(what), status=status)
        return OutcomeUnknown(
            self.say(
                f"{what}; it may still have made the images, so the request was not sent again "
                "(that could make and charge them twice)"
            ),
            status=status,
        )

    async def _send(self, method: str, url: str, json_body: Any, form: Form | None) -> Answer:
        if form is None:
            request = self._client.build_request(method, url, json=json_body)
        else:
            request = self._client.build_request(
                method,
                url,
                data=dict(form.fields),
                files=[(name, (filename, data, kind)) for name, filename, data, kind in form.files],
            )
        # httpx's timeouts are per read: a server sending a byte now and then (slowloris)
        # would hold a call for ever. An attempt gets connect + read timeout in all, beyond
        # what its run has left: the job's own timeout comes first, and a call outside a run
        # (start, a health check, a refresh) or shielded from the job's timeout (the Horde's
        # withdraw after a cancel) can't outlive it by more.
        policy, left = self.policy, time_left()
        whole = max(left or 0.0, 0.0) + policy.connect_timeout + policy.read_timeout
        try:
            async with asyncio.timeout(whole):
                response = await self._client.send(request, stream=True)
                return await read_bounded(response, policy.max_body_bytes, self.say)
        except TimeoutError:
            raise httpx.ReadTimeout(f"no whole answer in {whole:g} s", request=request) from None

    async def pause(self, attempt: int, retry_after: float | None, status: int = 429) -> None:
        """Back off before another attempt. A Retry-After is honoured in full when it fits in
        the time the run has left; otherwise the wait becomes the caller's (the queue's)."""
        if retry_after is None:
            delay = min(self.policy.backoff_cap, self.policy.backoff_base * 2 ** (attempt - 1))
            delay *= random.uniform(0.5, 1.0)
        else:
            left = time_left()
            budget = MAX_WAIT_WITHOUT_DEADLINE if left is None else left
            if retry_after >= budget:
                raise RateLimited(
                    self.say(
                        f"asked us to wait {retry_after:.0f} s before trying again, "
                        "longer than this request may still take"
                    ),
                    retry_after=retry_after,
                    status=status,
                )
            delay = retry_after
        log.info("%s: retrying in %.1f s (attempt %d)", self.provider, delay, attempt)
        await _sleep(delay)

    def error_for(self, answer: Answer, retry_after: float | None = None) -> ProviderError:
        """The typed error for a refused answer, with the provider's own message."""
        detail = self.say(f"answered {answer.status}" + message_suffix(answer))
        if answer.status in (401, 403):
            return ProviderAuthError(
                self.say(
                    f"refused the bot's API key or password (answered {answer.status}"
                    f"{message_suffix(answer)}); the bot's owner has to fix it"
                ),
                status=answer.status,
            )
        if answer.status == 429:
            return RateLimited(detail, retry_after=retry_after)
        if answer.status >= 500 or answer.status == 408:
            return ProviderUnavailable(detail, status=answer.status)
        return ProviderRejected(detail, messages=provider_messages(answer), status=answer.status)

    def say(self, text: str) -> str:
        # the text may end in the provider's own full stop: one is enough
        return self.scrub(f"The {self.provider} provider {text.rstrip().rstrip('.')}.")

    def scrub(self, text: str) -> str:
        return scrub(text)

    def decode_image(self, data: bytes, content_type: str = "") -> Image.Image:
        if (
            content_type
            and not content_type.startswith("image/")
            and content_type
            not in (
                "application/octet-stream",
                "binary/octet-stream",
            )
        ):
            raise ProviderError(self.say(f"sent {content_type or 'something'} instead of an image"))
        return decode_image(data, self.say)

    def decode_base64_image(self, text: str) -> Image.Image:
        if "," in text[:100] and text.startswith("data:"):
            text = text.split(",", 1)[1]
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ProviderError(self.say("sent an image that is not valid base64")) from None
        return decode_image(data, self.say)


def origin_of(url: httpx.URL) -> tuple[str, str, int | None]:
    """Scheme, host (lower case, IDNA) and port, the default port spelt out."""
    port = url.port or {"http": 80, "https": 443}.get(url.scheme)
    return url.scheme, url.host, port


async def read_bounded(response: httpx.Response, limit: int, say: Callable[[str], str]) -> Answer:
    """The whole body of a streamed response, refusing (and closing it) past ``limit`` bytes."""
    try:
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > limit:
            raise ProviderError(say(f"sent {int(declared)} bytes, more than allowed"))
        chunks, size = [], 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > limit:
                raise ProviderError(say("sent more data than allowed"))
            chunks.append(chunk)
    finally:
        await response.aclose()
    return Answer(response.status_code, response.headers, b"".join(chunks))


def decode_image(data: bytes, say: Callable[[str], str]) -> Image.Image:
    """Decode fully (a truncated file fails here, not later), refusing decompression bombs.
    Only the pixels come out, in a new image (no metadata, profile or extra frames of the
    provider's file); the worker encodes that afresh before it is stored or posted."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ProviderError(
                    say(f"sent an image too large to open ({image.width}×{image.height} pixels)")
                )
            image.load()
    except ProviderError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ProviderError(
            say("sent an image too large to open (over 4096×4096 pixels)")
        ) from None
    except Exception:
        raise ProviderError(say("sent data that is not an image")) from None
    pixels = image if image.mode in ("RGB", "RGBA") else image.convert("RGB")
    return Image.frombytes(pixels.mode, pixels.size, pixels.tobytes())


def png_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")
