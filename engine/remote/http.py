"""One HTTP policy for every remote provider: a long-lived client with explicit timeouts,
bounded retries with capped, jittered backoff that honours Retry-After, bounded bodies,
images decoded with Pillow's bomb guard, and typed errors that never carry a key."""

from __future__ import annotations

import asyncio
import base64
import binascii
import email.utils
import io
import json
import logging
import random
import time
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from PIL import Image

from engine.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
    RateLimited,
)

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_IMAGE_PIXELS = 4096 * 4096


@dataclass(frozen=True, slots=True)
class HttpPolicy:
    connect_timeout: float = 10.0
    read_timeout: float = 120.0
    max_retries: int = 3
    backoff_base: float = 0.5
    backoff_cap: float = 20.0
    max_body_bytes: int = 50 * 2**20


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
        except ValueError:
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
    ) -> None:
        self.provider = provider
        self.policy = policy
        self._secrets = [secret for secret in secrets if secret]
        self._client = httpx.AsyncClient(
            base_url=base_url,
            headers=dict(headers or {}),
            auth=auth,
            timeout=httpx.Timeout(policy.read_timeout, connect=policy.connect_timeout),
            follow_redirects=True,
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def request(
        self,
        method: str,
        url: str,
        *,
        json_body: Any = None,
        idempotent: bool = True,
        ok: frozenset[int] = frozenset({200}),
    ) -> Answer:
        """Send, retrying what is safe to retry; an answer outside ``ok`` raises."""
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = await self._send(method, url, json_body)
            except httpx.ConnectError as err:  # never reached the server: always safe
                if attempt > self.policy.max_retries:
                    raise ProviderUnavailable(self._say(f"cannot connect ({err})")) from err
                await self._pause(attempt, None)
                continue
            except httpx.TimeoutException as err:
                if not idempotent or attempt > self.policy.max_retries:
                    raise ProviderTimeout(self._say("did not answer in time")) from err
                await self._pause(attempt, None)
                continue
            except httpx.TransportError as err:
                if not idempotent or attempt > self.policy.max_retries:
                    raise ProviderUnavailable(self._say(f"the connection failed ({err})")) from err
                await self._pause(attempt, None)
                continue
            if answer.status in ok:
                return answer
            retry_after = _retry_after(answer.headers)
            retryable = answer.status in RETRY_STATUSES and (idempotent or answer.status == 429)
            if retryable and attempt <= self.policy.max_retries:
                await self._pause(attempt, retry_after)
                continue
            raise self.error_for(answer, retry_after)

    async def _send(self, method: str, url: str, json_body: Any) -> Answer:
        request = self._client.build_request(method, url, json=json_body)
        response = await self._client.send(request, stream=True)
        try:
            declared = response.headers.get("content-length")
            if declared and declared.isdigit() and int(declared) > self.policy.max_body_bytes:
                raise ProviderError(self._say(f"sent {int(declared)} bytes, more than allowed"))
            chunks, size = [], 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > self.policy.max_body_bytes:
                    raise ProviderError(self._say("sent more data than allowed"))
                chunks.append(chunk)
        finally:
            await response.aclose()
        return Answer(response.status_code, response.headers, b"".join(chunks))

    async def _pause(self, attempt: int, retry_after: float | None) -> None:
        if retry_after is None:
            delay = min(self.policy.backoff_cap, self.policy.backoff_base * 2 ** (attempt - 1))
            delay *= random.uniform(0.5, 1.0)
        else:
            delay = min(self.policy.backoff_cap, retry_after)
        log.info("%s: retrying in %.1f s (attempt %d)", self.provider, delay, attempt)
        await asyncio.sleep(delay)

    def error_for(self, answer: Answer, retry_after: float | None = None) -> ProviderError:
        """The typed error for a refused answer, with the provider's own message."""
        detail = self._say(f"answered {answer.status}" + _message_in(answer))
        if answer.status in (401, 403):
            return ProviderAuthError(detail, status=answer.status)
        if answer.status == 429:
            return RateLimited(detail, retry_after=retry_after)
        if answer.status >= 500 or answer.status == 408:
            return ProviderUnavailable(detail, status=answer.status)
        return ProviderRejected(detail, messages=_messages(answer), status=answer.status)

    def _say(self, text: str) -> str:
        return self.scrub(f"The {self.provider} provider {text}.")

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "[redacted]")
        return text

    async def download_image(self, url: str) -> Image.Image:
        answer = await self.request("GET", url)
        return self.decode_image(answer.body, answer.content_type)

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
            raise ProviderError(
                self._say(f"sent {content_type or 'something'} instead of an image")
            )
        return decode_image(data, self._say("sent data that is not an image"))

    def decode_base64_image(self, text: str) -> Image.Image:
        if "," in text[:100] and text.startswith("data:"):
            text = text.split(",", 1)[1]
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError):
            raise ProviderError(self._say("sent an image that is not valid base64")) from None
        return decode_image(data, self._say("sent data that is not an image"))


def decode_image(data: bytes, complaint: str) -> Image.Image:
    """Decode fully (a truncated file fails here, not later), refusing decompression bombs."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            if image.width * image.height > MAX_IMAGE_PIXELS:
                raise ProviderError(complaint + f" ({image.width}x{image.height} is too large)")
            image.load()
    except ProviderError:
        raise
    except Exception:
        raise ProviderError(complaint) from None
    return image.convert("RGB") if image.mode not in ("RGB", "RGBA") else image


def png_base64(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.convert("RGB").save(buffer, "PNG")
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _retry_after(headers: httpx.Headers) -> float | None:
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    when = email.utils.parsedate_to_datetime(value) if value else None
    return max(0.0, when.timestamp() - time.time()) if when else None


def _messages(answer: Answer) -> tuple[str, ...]:
    data = answer.json()
    found: list[str] = []
    if isinstance(data, dict):
        for key in ("msg", "message", "detail", "error"):
            value = data.get(key)
            if isinstance(value, str):
                found.append(value)
            elif isinstance(value, dict) and isinstance(value.get("message"), str):
                found.append(value["message"])
        for item in data.get("errors") or []:
            if isinstance(item, dict) and isinstance(item.get("msg"), str):
                found.append(item["msg"])
    return tuple(found)


def _message_in(answer: Answer) -> str:
    messages = _messages(answer)
    return ": " + "; ".join(messages)[:500] if messages else ""
