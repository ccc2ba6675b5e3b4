"""Following our prompts on ComfyUI's ``/ws?clientId=``: progress and preview frames become
``Progress``, the end of a prompt is read from ``/history``. The websocket is only the fast
path: when it drops it is opened again, and the history and queue are checked meanwhile, so a
lost connection never loses the job."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import struct
import time
from typing import Any

import aiohttp
from PIL import Image
from yarl import URL

from engine.errors import GenerationCancelled, ProviderError, ProviderTimeout
from engine.provider import CancelToken, Progress, ProgressCallback
from engine.remote.comfyui.api import ComfyApi, FileRef, Record, execution_error
from engine.remote.previews import Previews

log = logging.getLogger(__name__)

PREVIEW_IMAGE = 1  # binary event types of ComfyUI's server (protocol.BinaryEventTypes)
PREVIEW_IMAGE_WITH_METADATA = 4
IMAGE_FORMATS = {1: "JPEG", 2: "PNG"}
TICK = 0.2  # how often a wait looks at the cancel token
# what one prompt's "executed" events may name: a flood of them is not kept
MAX_OUTPUT_NODES = 64
MAX_OUTPUT_IMAGES = 64
LOST_CHECKS = 3  # checks that find the prompt nowhere before it is called lost


def ws_url(base_url: str, client_id: str) -> str:
    """The websocket on the base URL's own host (and path, for a proxy under a prefix)."""
    url = URL(base_url.rstrip("/") + "/ws")
    scheme = {"http": "ws", "https": "wss"}.get(url.scheme, url.scheme)
    return str(url.with_scheme(scheme).with_query({"clientId": client_id}))


class Watch:
    """One generate call's websocket and what it learnt of each of our prompts."""

    def __init__(
        self,
        api: ComfyApi,
        url: str,
        headers: dict[str, str],
        progress: ProgressCallback,
        *,
        poll_seconds: float,
        max_preview_bytes: int,
    ) -> None:
        self.api = api
        self._url = url
        self._headers = headers
        self._progress = progress
        self._poll = poll_seconds
        self._max_preview = max_preview_bytes
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reconnect_at = 0.0
        self.ended: dict[str, str] = {}  # prompt id -> "success", "interrupted" or the error
        self.outputs: dict[str, dict[str, list[FileRef]]] = {}
        self.ours: set[str] = set()
        self._current: str | None = None
        self._step = (0, 0)
        self._label = ""
        self.reconnects = 0
        self.resync = False
        self._previews = Previews(api.client.say, tuple(IMAGE_FORMATS.values()))

    async def __aenter__(self) -> Watch:
        self._session = aiohttp.ClientSession(
            headers=self._headers,
            trust_env=False,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        )
        await self._connect()
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._session is not None:
            await self._session.close()

    async def _connect(self) -> None:
        assert self._session is not None
        policy = self.api.client.policy
        try:
            # a server that takes the connection and never answers the upgrade would hold
            # the run here, past its deadline: the handshake has a time of its own
            async with asyncio.timeout(policy.connect_timeout + policy.read_timeout):
                self._ws = await self._session.ws_connect(
                    self._url, heartbeat=30, max_msg_size=self._max_preview + 64, autoping=True
                )
        except (aiohttp.ClientError, OSError, TimeoutError) as err:
            self._ws = None
            self._reconnect_at = time.monotonic() + self._poll
            said = self.api.client.scrub(str(err))  # a handshake error names the URL
            log.info("%s: no websocket (%s); following by polling", self.api.name, said)

    async def until_done(
        self, prompt_id: str, cancel: CancelToken, deadline: float, label: str = ""
    ) -> Record:
        """Wait for ``prompt_id`` to finish; its history record. Cancelling the token stops
        it (and the caller's other prompts) on the server."""
        self._label = label
        check_at, missing = 0.0, 0
        while True:
            if cancel.cancelled:
                await self.stop()
                raise GenerationCancelled
            now = time.monotonic()
            if now >= deadline:  # given up: the GPU is not left busy with it
                await self.stop()
                raise ProviderTimeout(self.api.client.say("did not finish the workflow in time"))
            ended = self.ended.get(prompt_id)
            if ended is not None and ended not in ("success", "interrupted"):
                raise ProviderError(self.api.client.say(ended))
            if ended == "interrupted":  # on the server, by its owner: as a cancel
                raise GenerationCancelled
            if self.resync:
                self.resync, check_at = False, now
            if now >= check_at or ended == "success":
                record = await self.api.history(prompt_id)
                if record is not None:
                    if record.interrupted:
                        raise GenerationCancelled
                    if record.error is not None or not record.succeeded:
                        raise ProviderError(
                            self.api.client.say(record.error or "did not finish the workflow")
                        )
                    return record
                if ended is None and await self._missing(prompt_id):
                    missing += 1
                    if missing >= LOST_CHECKS:
                        raise ProviderError(
                            self.api.client.say(
                                "no longer has the prompt (was the server restarted?)"
                            )
                        )
                else:
                    missing = 0
                check_at = now + (TICK if ended == "success" else self._poll)
            await self._receive(min(TICK, max(0.0, check_at - time.monotonic())) or TICK)

    async def _missing(self, prompt_id: str) -> bool:
        running, pending = await self.api.queue()
        if prompt_id in pending and self._current != prompt_id:
            ahead = pending.index(prompt_id) + len(running)
            self._report(0, 0, f"waiting in ComfyUI's queue ({ahead} ahead)")
        return prompt_id not in running and prompt_id not in pending

    async def stop(self) -> None:
        """Delete our pending prompts; interrupt the running one only when it is ours. Best
        effort: a server that does not answer now is not asked again."""
        try:
            await self._stop()
        except ProviderError as err:
            log.warning("%s: could not stop its prompts: %s", self.api.name, err.user_message)

    async def _stop(self) -> None:
        running, pending = await self.api.queue()
        waiting = [pid for pid in pending if pid in self.ours and pid not in self.ended]
        if waiting:
            await self.api.delete(waiting)
        for pid in running:
            if pid in self.ours and pid not in self.ended:
                await self.api.interrupt(pid)

    async def _receive(self, seconds: float) -> None:
        if self._ws is None or self._ws.closed:
            if self._ws is not None:
                self._ws = None
                self.reconnects += 1
                self._reconnect_at = time.monotonic()
                log.info("%s: the websocket closed; opening it again", self.api.name)
            if time.monotonic() >= self._reconnect_at:
                await self._connect()
                # what happened while it was closed is read from the history and queue
                self.resync = self._ws is not None
            if self._ws is None:
                await asyncio.sleep(seconds)
                return
        try:
            message = await self._ws.receive(seconds)
        except TimeoutError:
            return
        if message.type is aiohttp.WSMsgType.TEXT:
            with contextlib.suppress(ValueError, RecursionError):
                self._event(json.loads(message.data))
        elif message.type is aiohttp.WSMsgType.BINARY:
            self._preview(message.data)
        elif message.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSED,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.ERROR,
        ):
            await self._ws.close()

    def _event(self, message: Any) -> None:
        if not isinstance(message, dict) or not isinstance(message.get("data"), dict):
            return
        kind, data = message.get("type"), message["data"]
        pid = data.get("prompt_id")
        if pid is not None and pid not in self.ours:
            return  # another client's prompt (or an earlier one of ours we do not follow)
        if kind == "execution_start":
            self._current = pid
            self._report(0, 0, "running")
        elif kind == "executing" and pid is not None:
            if data.get("node") is None:
                self.ended.setdefault(pid, "success")
                self._current = None
            else:
                self._current = pid
        elif kind == "progress":
            if pid is not None:
                self._current = pid
            value, total = data.get("value"), data.get("max")
            if isinstance(value, int) and isinstance(total, int) and 0 <= value <= total:
                self._step = (value, total)
                self._report(value, total)
        elif kind == "executed" and pid is not None:
            output = data.get("output")
            seen = self.outputs.setdefault(pid, {})
            node = str(data.get("node"))[:64]
            full = len(seen) >= MAX_OUTPUT_NODES and node not in seen
            if isinstance(output, dict) and isinstance(output.get("images"), list) and not full:
                refs = [FileRef.read(item) for item in output["images"][:MAX_OUTPUT_IMAGES]]
                seen[node] = [ref for ref in refs if ref is not None]
        elif kind == "execution_success" and pid is not None:
            self.ended[pid] = "success"
        elif kind == "execution_error" and pid is not None:
            self.ended[pid] = execution_error(data)
        elif kind == "execution_interrupted" and pid is not None:
            self.ended[pid] = "interrupted"

    def _preview(self, frame: bytes) -> None:
        """A latent preview: an event type and an image format (4 bytes each, big-endian),
        then the JPEG or PNG; the newer form puts a length-prefixed JSON before the image."""
        if self._current is None or len(frame) < 8 or len(frame) > self._max_preview:
            return
        kind, second = struct.unpack(">II", frame[:8])
        if kind == PREVIEW_IMAGE:
            data = frame[8:]
        elif kind == PREVIEW_IMAGE_WITH_METADATA:
            end = 8 + second
            try:
                meta = json.loads(frame[8:end])
            except (ValueError, RecursionError):
                return
            if isinstance(meta, dict) and meta.get("prompt_id") not in (None, self._current):
                return
            data = frame[end:]
        else:
            return
        image = self._previews.image(data)
        if image is not None:
            self._report(*self._step, preview=image)

    def _report(
        self, step: int, total: int, message: str = "", preview: Image.Image | None = None
    ) -> None:
        text = " — ".join(part for part in (self._label, message) if part)
        self._progress(Progress(step, total, text, preview))
