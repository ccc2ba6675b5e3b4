"""A fake HTTP API on loopback for the remote adapters: real HTTP, scripted answers, and
fault injection (delays, status codes, broken bodies), with every request recorded."""

from __future__ import annotations

import asyncio
import base64
import io
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image

Handler = Callable[[web.Request, Any], Awaitable[web.StreamResponse]]

# The fakes serve images from 127.0.0.1 over http: what an owner allows for a LAN server.
LOOPBACK_IMAGES: dict[str, Any] = {
    "image_hosts_private": ["127.0.0.1"],
    "image_hosts_http": ["127.0.0.1"],
}


def png(colour: tuple[int, int, int] = (10, 120, 200), size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def png_b64(colour: tuple[int, int, int] = (10, 120, 200), size: tuple[int, int] = (64, 64)) -> str:
    return base64.b64encode(png(colour, size)).decode("ascii")


def json_answer(
    data: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json", **(headers or {})},
    )


@dataclass
class Recorded:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any


@dataclass
class Fault:
    """Applied to the next matching requests: ``times`` of them."""

    path: str
    times: int = 1
    status: int | None = None
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0


class FakeApi:
    def __init__(self, host: str = "127.0.0.1") -> None:
        self.host = host
        self.app = web.Application(client_max_size=64 * 2**20)
        self.app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self.routes: dict[tuple[str, str], Handler] = {}
        self.requests: list[Recorded] = []
        self.faults: list[Fault] = []
        self.base = ""
        self._runner: web.AppRunner | None = None

    def route(self, method: str, path: str, handler: Handler) -> None:
        self.routes[(method, path)] = handler

    def fail(self, fault: Fault) -> None:
        self.faults.append(fault)

    def calls(self, path: str) -> list[Recorded]:
        return [r for r in self.requests if r.path == path]

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://{self.host}:{port}"

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        raw = await request.read()
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = raw
        self.requests.append(
            Recorded(request.method, request.path, dict(request.query), dict(request.headers), body)
        )
        for fault in self.faults:
            if fault.path == request.path and fault.times > 0:
                fault.times -= 1
                await asyncio.sleep(fault.delay)
                if fault.status is not None or fault.body is not None:
                    return web.Response(
                        body=fault.body or b"", status=fault.status or 200, headers=fault.headers
                    )
                break
        handler = self.routes.get((request.method, request.path))
        if handler is None:
            return json_answer({"detail": "Not Found"}, 404)
        return await handler(request, body)
