"""A fake AI Horde on loopback, written from its v2 API (Haidra-Org/AI-Horde: apis/v2/stable.py,
apis/models/stable_v2.py and v2.py, exceptions.py): ``POST /v2/generate/async`` answers 202
with the request's id and kudos; ``GET /v2/generate/check/{id}`` the lite status (finished,
processing, restarted, waiting, done, faulted, wait_time, queue_position, kudos,
is_possible); ``GET /v2/generate/status/{id}`` the full status whose generations carry
``img`` links to R2 storage (here a second loopback host) and ``censored``;
``DELETE /v2/generate/status/{id}`` cancels; ``GET /v2/status/models`` lists the models with
their worker counts. Errors are ``{"message", "rc"}``. Scripted faults: faulted,
is_possible false, 429 with Retry-After, a dropped connection, censored images, an image
bomb, links to another host."""

from __future__ import annotations

import io
import struct
import zlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from PIL import Image

from tests.fakes.http_api import FakeApi, json_answer

KEY = "horde-key-5150-abcdef0123"
ANONYMOUS = "0000000000"
PREFIX = "/api"
STORAGE = "127.0.0.2"  # where the fake R2 storage listens: another host than the API's
MODELS = [
    {"name": "Deliberate", "count": 12, "performance": 1.2, "queued": 0, "eta": 3, "type": "image"},
    {"name": "AlbedoBase XL (SDXL)", "count": 30, "queued": 0, "eta": 1, "type": "image"},
    {"name": "Deliberate Inpainting", "count": 3, "queued": 0, "eta": 5, "type": "image"},
    {"name": "Nobody Serves This", "count": 0, "queued": 0, "eta": 0, "type": "image"},
    {"name": "koboldcpp/Llama-3", "count": 5, "type": "text"},
]


def webp(colour: tuple[int, int, int] = (40, 90, 160), size: tuple[int, int] = (64, 64)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "WEBP")
    return buffer.getvalue()


def bomb(side: int = 20000) -> bytes:
    """A PNG that declares ``side``×``side`` pixels and holds none."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", side, side, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


def error(
    status: int, message: str, rc: str, headers: dict[str, str] | None = None
) -> web.Response:
    return json_answer({"message": message, "rc": rc}, status, headers)


@dataclass
class Script:
    """How the requests submitted from now on go."""

    waiting_polls: int = 1  # checks that find it queued, before a worker picks it up
    processing_polls: int = 1  # then checks that find it being made
    faulted: bool = False
    impossible: bool = False
    censored: int = 0  # the first generations that come back censored
    image: bytes | None = None  # what storage serves for each image (default: a WebP)
    image_base: str | None = None  # where img links point (default: the storage host)
    limited_checks: int = 0  # checks answered 429 with Retry-After
    retry_after: str = "1"
    dropped_checks: int = 0  # checks whose connection is closed without an answer


@dataclass
class Submitted:
    id: str
    body: dict[str, Any]
    key: str
    n: int
    kudos: float
    checks: int = 0
    cancelled: bool = False
    statuses: int = 0


@dataclass
class FakeHorde:
    api: FakeApi
    storage: FakeApi
    script: Script = field(default_factory=Script)
    submitted: list[Submitted] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    models: list[dict[str, Any]] = field(default_factory=lambda: list(MODELS))
    prefix: str = PREFIX  # where the API lives on its host (aihorde.net/api)

    def __post_init__(self) -> None:
        self.api.route("POST", f"{self.prefix}/v2/generate/async", self.submit)
        self.api.route("GET", f"{self.prefix}/v2/status/models", self.status_models)

    @property
    def base_url(self) -> str:
        return self.api.base + self.prefix

    async def submit(self, request: web.Request, body: Any) -> web.Response:
        key = request.headers.get("apikey", "")
        if key not in (KEY, ANONYMOUS):
            return error(
                401,
                "No user matching sent API Key. Have you remembered to register?",
                "InvalidAPIKey",
            )
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("prompt"), str)
            or not body["prompt"]
        ):
            return json_answer(
                {
                    "errors": {"prompt": "'' is too short"},
                    "message": "Input payload validation failed",
                },
                400,
            )
        params = body.get("params") or {}
        width, height = params.get("width", 512), params.get("height", 512)
        steps, n = params.get("steps", 30), params.get("n", 1)
        if width % 64 or height % 64 or not 64 <= min(width, height) <= max(width, height) <= 3072:
            return error(
                400, "Invalid size. The image dimensions have to be multiples of 64.", "InvalidSize"
            )
        if key == ANONYMOUS and (width * height > 1024 * 1024 or steps > 50):
            return error(
                403,
                "Due to heavy demand, for requests over 1024x1024 or over 50 steps, the client "
                "needs to already have the required kudos.",
                "KudosUpfront",
            )
        request_id = f"0000-{len(self.submitted) + 1:04d}-horde"
        kudos = round(n * steps * width * height / (512 * 512) / 10, 2)
        self.submitted.append(Submitted(request_id, body, key, n, kudos))
        base = f"{self.prefix}/v2/generate"
        self.api.route("GET", f"{base}/check/{request_id}", self.check)
        self.api.route("GET", f"{base}/status/{request_id}", self.status)
        self.api.route("DELETE", f"{base}/status/{request_id}", self.delete)
        return json_answer({"id": request_id, "kudos": kudos}, 202)

    def _find(self, request: web.Request) -> Submitted:
        request_id = request.path.rsplit("/", 1)[1]
        return next(s for s in self.submitted if s.id == request_id)

    def _lite(self, job: Submitted) -> dict[str, Any]:
        script = self.script
        queued = job.checks <= script.waiting_polls
        making = not queued and job.checks <= script.waiting_polls + script.processing_polls
        done = not queued and not making and not job.cancelled
        finished = job.n if done else 0
        return {
            "finished": finished,
            "processing": job.n if making else 0,
            "restarted": 0,
            "waiting": job.n if queued else 0,
            "done": done,
            "faulted": script.faulted,
            "wait_time": 40 if queued else (8 if making else 0),
            "queue_position": script.waiting_polls - job.checks + 1 if queued else 0,
            "kudos": job.kudos * finished / job.n,
            "is_possible": not script.impossible,
        }

    async def check(self, request: web.Request, body: Any) -> web.StreamResponse:
        script = self.script
        if script.dropped_checks:
            script.dropped_checks -= 1
            assert request.transport is not None
            request.transport.close()
            return json_answer({})
        if script.limited_checks:
            script.limited_checks -= 1
            return error(
                429, "2 per 1 second", "TooManyRequests", {"Retry-After": script.retry_after}
            )
        job = self._find(request)
        job.checks += 1
        return json_answer(self._lite(job))

    async def status(self, request: web.Request, body: Any) -> web.Response:
        job = self._find(request)
        job.statuses += 1
        return json_answer(self._full(job))

    def _full(self, job: Submitted) -> dict[str, Any]:
        lite = self._lite(job)
        base = self.script.image_base or self.storage.base
        generations = []
        for k in range(lite["finished"]):
            path = f"/stable-horde/{job.id}-{k}.webp"
            self.storage.route("GET", path, self.image)
            censored = k < self.script.censored
            generations.append(
                {
                    "img": f"{base}{path}?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Signature=ab12",
                    "seed": str(int(job.body["params"].get("seed", "1000")) + k),
                    "id": f"{job.id}-{k}",
                    "censored": censored,
                    "gen_metadata": [{"type": "censorship", "value": "nsfw"}] if censored else [],
                    "worker_id": "w-1",
                    "worker_name": "a volunteer",
                    "model": job.body["models"][0],
                    "state": "censored" if censored else "ok",
                }
            )
        return lite | {"generations": generations, "shared": False}

    async def delete(self, request: web.Request, body: Any) -> web.Response:
        job = self._find(request)
        job.cancelled = True
        self.deleted.append(job.id)
        return json_answer(self._full(job))

    async def image(self, request: web.Request, body: Any) -> web.Response:
        data = self.script.image if self.script.image is not None else webp()
        return web.Response(body=data, content_type="image/webp")

    async def status_models(self, request: web.Request, body: Any) -> web.Response:
        kind = request.query.get("type", "image")
        return json_answer([m for m in self.models if m.get("type", "image") == kind])
