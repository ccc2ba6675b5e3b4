"""SwarmUI's API as docs/API.md describes it: JSON POSTs to ``/API/<route>`` carrying a
``session_id`` from ``GetNewSession`` (acquired again, once, when the server answers
``invalid_session_id``), WebSocket routes on the same host, and saved outputs at ``/View/``.
The owner's credential (a ``swarm_user_token`` cookie, or an Authorization header for Swarm's
own required authorization or a proxy in front of it) goes to the base URL's host only."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import urllib.parse
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
import httpx
from PIL import Image

from engine.errors import (
    ProviderAuthError,
    ProviderError,
    ProviderRejected,
    ProviderUnavailable,
    RateLimited,
)
from engine.remote.http import RETRY_STATUSES, RemoteClient
from engine.remote.wording import retry_after_of

log = logging.getLogger(__name__)

EXPIRED = "invalid_session_id"
AUTH_ERRORS = frozenset({"bad_permissions", "invalid_user", "unauthorized"})
_SESSION_ID = re.compile(r"^[A-Za-z0-9_-]{1,200}$")
# A saved output as Swarm names it: a path under View/ on its own host, nothing else.
_VIEW_PATH = re.compile(r"^View/[^?#\\\x00-\x1f]+$")
MAX_IDLE_SESSIONS = 4
MAX_ERROR_TEXT = 500


class SessionExpired(Exception):
    """The server no longer knows the session it was sent."""


class NoWebsocket(Exception):
    """The server (or a proxy before it) refused the WebSocket route with a 404."""


class _Redirected(Exception):
    """The WebSocket handshake was answered with a redirect, which is never followed."""


async def _refuse_redirect(*_: Any) -> None:
    raise _Redirected


@dataclass(slots=True)
class Lease:
    """A session held by one call; ``renewed`` once it has been acquired again."""

    session_id: str
    renewed: bool = False


def swarm_error(client: RemoteClient, data: Any, status: int = 200) -> ProviderError | None:
    """The error a Swarm answer carries (``error``, ``error_id``), in the server's words."""
    if not isinstance(data, dict) or ("error" not in data and "error_id" not in data):
        return None
    error_id = str(data.get("error_id") or "")[:100]
    text = " ".join(str(data.get("error") or error_id or "an error").split())[:MAX_ERROR_TEXT]
    text = client.scrub(text)
    if error_id in AUTH_ERRORS or status in (401, 403):
        return ProviderAuthError(
            client.say(f"refused the bot's account ({text}); the bot's owner has to fix it"),
            status=status if status != 200 else None,
        )
    if error_id == "internal_error" or status >= 500:
        return ProviderUnavailable(client.say(f"failed: {text}"), status=status)
    return ProviderRejected(client.say(f"refused the request: {text}"), messages=(text,))


class SwarmApi:
    def __init__(
        self, client: RemoteClient, base_url: str, headers: dict[str, str], max_message: int
    ) -> None:
        self.client = client
        self._headers = headers
        self._max_message = max_message
        base = httpx.URL(base_url)
        scheme = "wss" if base.scheme == "https" else "ws"
        self._ws_base = str(base.copy_with(scheme=scheme)).rstrip("/")
        self._idle: list[str] = []
        self._http: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()

    async def _new_session(self) -> str:
        answer = await self.client.request(
            "POST", "/API/GetNewSession", json_body={}, ok=frozenset({200, 400, 401})
        )
        data = answer.json()
        if (error := swarm_error(self.client, data, answer.status)) is not None:
            raise error
        session_id = data.get("session_id") if isinstance(data, dict) else None
        if not isinstance(session_id, str) or not _SESSION_ID.match(session_id):
            raise ProviderError(self.client.say("sent a session the bot cannot read"))
        return session_id

    @contextlib.asynccontextmanager
    async def lease(self) -> AsyncIterator[Lease]:
        """A session for one call: an idle one kept from an earlier call, or a new one. Each
        call has its own, so that an interrupt stops that call alone."""
        lease = Lease(self._idle.pop() if self._idle else await self._new_session())
        try:
            yield lease
        finally:
            if len(self._idle) < MAX_IDLE_SESSIONS:
                self._idle.append(lease.session_id)

    async def renew(self, lease: Lease) -> None:
        if lease.renewed:
            raise ProviderUnavailable(self.client.say("kept refusing the session it had just made"))
        log.info("%s: the session expired; acquiring a new one", self.client.provider)
        lease.session_id = await self._new_session()
        lease.renewed = True

    async def post(
        self, route: str, body: dict[str, Any], lease: Lease, *, idempotent: bool = True
    ) -> dict[str, Any]:
        while True:
            answer = await self.client.request(
                "POST",
                f"/API/{route}",
                json_body={**body, "session_id": lease.session_id},
                idempotent=idempotent,
                ok=frozenset({200, 400, 401}),
            )
            data = answer.json()
            if isinstance(data, dict) and data.get("error_id") == EXPIRED:
                await self.renew(lease)
                continue
            if (error := swarm_error(self.client, data, answer.status)) is not None:
                raise error
            if answer.status != 200:
                raise self.client.error_for(answer)
            if not isinstance(data, dict):
                raise ProviderError(self.client.say("sent an answer the bot cannot read"))
            return data

    async def interrupt(self, lease: Lease) -> None:
        """Stop this session's generations (the docs' InterruptAll, this session only)."""
        with contextlib.suppress(ProviderError):
            await self.post("InterruptAll", {"other_sessions": False}, lease)

    async def connect(self, route: str) -> aiohttp.ClientWebSocketResponse:
        """A WebSocket to ``/API/<route>`` on the server's host, retried like any request
        that has not reached the server yet."""
        if self._http is None:
            connect = self.client.policy.connect_timeout
            trace = aiohttp.TraceConfig()
            # a redirect could take the member's prompt and images to another host
            trace.on_request_redirect.append(_refuse_redirect)
            self._http = aiohttp.ClientSession(
                trust_env=False,
                cookie_jar=aiohttp.DummyCookieJar(),
                timeout=aiohttp.ClientTimeout(total=None, connect=connect, sock_connect=connect),
                trace_configs=[trace],
            )
        policy = self.client.policy
        url = f"{self._ws_base}/API/{route}"
        attempt = 0
        while True:
            attempt += 1
            try:
                # the upgrade's answer is awaited no longer than any other answer
                async with asyncio.timeout(policy.connect_timeout + policy.read_timeout):
                    return await self._http.ws_connect(
                        url,
                        headers=self._headers,
                        max_msg_size=self._max_message,
                        timeout=aiohttp.ClientWSTimeout(
                            ws_receive=policy.read_timeout, ws_close=policy.connect_timeout
                        ),
                    )
            except _Redirected:
                raise ProviderRejected(
                    self.client.say(
                        "answered the WebSocket with a redirect, which the bot does not follow "
                        "(set base_url to the address SwarmUI itself answers on)"
                    )
                ) from None
            except aiohttp.WSServerHandshakeError as err:
                status = err.status
                if status == 404:
                    raise NoWebsocket from err
                retry_after = retry_after_of(httpx.Headers(dict(err.headers or {})))
                if status in RETRY_STATUSES and attempt <= policy.max_retries:
                    await self.client.pause(attempt, retry_after, status)
                    continue
                raise self._refused(status, retry_after) from err
            except (aiohttp.ClientError, TimeoutError) as err:
                if attempt > policy.max_retries:
                    raise ProviderUnavailable(
                        self.client.say(f"cannot connect ({type(err).__name__})")
                    ) from err
                await self.client.pause(attempt, None)

    def _refused(self, status: int, retry_after: float | None) -> ProviderError:
        text = self.client.say(f"refused the connection (answered {status})")
        if status in (401, 403):
            return ProviderAuthError(
                self.client.say(
                    f"refused the bot's credentials (answered {status}); "
                    "the bot's owner has to fix it"
                ),
                status=status,
            )
        if status == 429:
            return RateLimited(text, retry_after=retry_after)
        if status >= 500 or status == 408:
            return ProviderUnavailable(text, status=status)
        return ProviderRejected(text, status=status)

    async def image(self, reference: str) -> Image.Image:
        """An output as a message names it: a data URL, or a ``View/`` path fetched from this
        server (with the owner's credential, which Swarm's View route checks); anything else,
        another host's URL included, is refused unfetched."""
        if reference.startswith("data:"):
            return await asyncio.to_thread(self.client.decode_base64_image, reference)
        if not _VIEW_PATH.match(reference) or ".." in reference.split("/"):
            said = self.client.scrub(repr(reference[:120]))
            log.warning("%s: refused an image reference: %s", self.client.provider, said)
            raise ProviderError(self.client.say("sent an image link the bot may not fetch"))
        path = "/" + urllib.parse.quote(reference, safe="/-_.~!$&'()*+,;=:@")
        answer = await self.client.request("GET", path)
        return await asyncio.to_thread(self.client.decode_image, answer.body, answer.content_type)
