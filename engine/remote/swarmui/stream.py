"""One generation's messages on ``/API/GenerateText2ImageWS`` (docs/APIRoutes/T2IAPI.md), read
into our progress and results: ``status`` and ``backend_status`` say where the request waits,
``gen_progress`` how far each image is (with a preview), ``image`` names a result,
``discard_indices`` drops some, ``error`` ends it in the server's words, and
``socket_intention: close`` says the server has nothing more to send."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from PIL import Image

from engine.errors import ProviderError, ProviderTimeout
from engine.provider import Progress, ProgressCallback
from engine.remote.http import RemoteClient
from engine.remote.previews import Previews

log = logging.getLogger(__name__)

MAX_PREVIEW_BYTES = 2 * 2**20  # a preview larger than this is skipped, not decoded
MAX_MESSAGE_TEXT = 200


@dataclass
class Stream:
    """What the messages said so far. ``images`` maps a batch index (0 to count - 1) to the
    reference the server gave (a data URL or a ``View/`` path)."""

    count: int
    progress: ProgressCallback
    client: RemoteClient
    images: dict[int, str] = field(default_factory=dict)
    discarded: set[int] = field(default_factory=set)
    error: dict[str, Any] | None = None
    finished: bool = False
    started: bool = False  # the server took the request: something beyond its session check
    _percent: dict[int, float] = field(default_factory=dict)
    _previews: Previews | None = None

    def take(self, data: Any) -> None:
        """Read one message; malformed parts are ignored, as a browser client would."""
        if not isinstance(data, dict):
            return
        if "error" in data or "error_id" in data:
            self.error = data
            self.finished = True
            return
        self.started = True
        if isinstance(data.get("status"), dict):
            self._status(data["status"], data.get("backend_status"))
        if isinstance(data.get("gen_progress"), dict):
            self._gen_progress(data["gen_progress"])
        if "image" in data:
            self._image(data)
        if isinstance(data.get("discard_indices"), list):
            indices = (_index(index) for index in data["discard_indices"])
            # only the batch's own: a flood of other numbers would grow the set for ever
            self.discarded.update(i for i in indices if i is not None and 0 <= i < self.count)
        if data.get("socket_intention") == "close":
            self.finished = True

    def kept(self) -> list[tuple[int, str]]:
        return sorted(
            (index, ref) for index, ref in self.images.items() if index not in self.discarded
        )

    def _status(self, status: dict[str, Any], backend: Any) -> None:
        def number(key: str) -> int:
            value = status.get(key)
            return value if isinstance(value, int) and not isinstance(value, bool) else 0

        if self.images or self._percent:
            return  # running: gen_progress says more
        if number("loading_models"):
            message = "SwarmUI is loading the model"
        elif number("waiting_backends") and not number("live_gens"):
            message = "waiting for a free SwarmUI backend"
        elif number("waiting_gens") and not number("live_gens"):
            message = "queued on SwarmUI"
        else:
            message = "starting on SwarmUI"
        if isinstance(backend, dict) and isinstance(backend.get("message"), str):
            said = " ".join(backend["message"].split())[:MAX_MESSAGE_TEXT]
            if said and backend.get("class") in ("error", "warn"):
                message = f"{message} ({self.client.scrub(said)})"
        self.progress(Progress(0, 0, message))

    def _gen_progress(self, data: dict[str, Any]) -> None:
        index = _index(data.get("batch_index"))
        overall = data.get("overall_percent")
        if index is None or not 0 <= index < self.count:
            return
        if isinstance(overall, int | float) and not isinstance(overall, bool):
            self._percent[index] = min(1.0, max(0.0, float(overall)))
        done = sum(
            1.0 if i in self.images else self._percent.get(i, 0.0) for i in range(self.count)
        )
        preview = None
        if isinstance(data.get("preview"), str):
            preview = self._preview(data["preview"])
        self.progress(Progress(round(100 * done / self.count), 100, "generating", preview))

    def _image(self, data: dict[str, Any]) -> None:
        reference: Any = data.get("image")
        index = data.get("batch_index")
        if isinstance(reference, dict):  # the shape the route's document draws
            reference, index = reference.get("image"), reference.get("batch_index")
        position = _index(index)
        # negative: a grid of the batch (-1) or an intermediate image; past count: extras
        if not isinstance(reference, str) or position is None or not 0 <= position < self.count:
            return
        self.images.setdefault(position, reference)

    def _preview(self, text: str) -> Image.Image | None:
        """A decoded preview, shrunk; one that is too large or unreadable is skipped."""
        if not text.startswith("data:image/") or "," not in text[:100]:
            return None
        encoded = text.split(",", 1)[1]
        if len(encoded) > MAX_PREVIEW_BYTES * 4 // 3 + 4:
            return None
        try:
            data = base64.b64decode(encoded, validate=True)
        except (binascii.Error, ValueError):
            return None
        if self._previews is None:
            self._previews = Previews(self.client.say)
        return self._previews.image(data)


def _index(value: Any) -> int | None:
    """A batch index: Swarm sends it as text ("0"), a number is taken too."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if (
        isinstance(value, str)
        and value.isascii()
        and value.lstrip("-").isdigit()
        and len(value) < 10
    ):
        return int(value)
    return None


async def receive(ws: aiohttp.ClientWebSocketResponse, stream: Stream, idle: float) -> None:
    """Read messages into ``stream`` until it is finished or the socket closes; ``idle``
    seconds without a message (Swarm sends keep-alives while it works) is a timeout."""
    say = stream.client.say
    while not stream.finished:
        try:
            message = await ws.receive()
        except TimeoutError as err:
            raise ProviderTimeout(say(f"sent nothing for {idle:g} s")) from err
        if message.type is aiohttp.WSMsgType.TEXT:
            try:
                stream.take(json.loads(message.data))
            except (ValueError, RecursionError):  # unreadable, or nested past any depth
                continue
        elif message.type is aiohttp.WSMsgType.ERROR:
            if isinstance(message.data, aiohttp.WebSocketError) and (
                message.data.code == aiohttp.WSCloseCode.MESSAGE_TOO_BIG
            ):
                raise ProviderError(say("sent a message larger than allowed"))
            return
        elif message.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.CLOSED,
        ):
            return
