"""A fake ComfyUI server on loopback, written from its documented routes and websocket
messages (provider-docs/backends-comfyui-swarmui-horde.md): ``/object_info``, ``/prompt`` with
validation (``node_errors``), ``/ws`` events and binary preview frames, ``/view``, the uploads,
``/history``, ``/queue`` and ``/interrupt``; with faults to switch on."""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import struct
import uuid
from typing import Any

from aiohttp import WSMsgType, web
from PIL import Image

from tests.engine.remote.fake_comfyui_nodes import object_info, validate


def png_of(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def jpeg_preview(colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), colour).save(buffer, "JPEG")
    return struct.pack(">II", 1, 1) + buffer.getvalue()  # PREVIEW_IMAGE, JPEG


class FakeComfyUI:
    """Runs one prompt at a time from its queue, as ComfyUI does; ``hold`` cleared stops it
    between steps, ``paused`` keeps everything pending."""

    def __init__(self, auth: str | None = None, steps_seconds: float = 0.0) -> None:
        self.auth = auth  # the Authorization header a proxy in front demands
        self.steps_seconds = steps_seconds
        self.app = web.Application(client_max_size=64 * 2**20, middlewares=[self._record])
        routes = [
            web.get("/object_info", self.object_info),
            web.post("/prompt", self.post_prompt),
            web.get("/ws", self.ws),
            web.get("/view", self.view),
            web.post("/upload/image", self.upload_image),
            web.post("/upload/mask", self.upload_mask),
            web.get("/history/{prompt_id}", self.history_of),
            web.get("/queue", self.get_queue),
            web.post("/queue", self.post_queue),
            web.post("/interrupt", self.interrupt),
        ]
        self.app.add_routes(routes)
        self.base = ""
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self.prompts: list[dict[str, Any]] = []  # bodies of accepted /prompt calls
        self.inputs: dict[str, bytes] = {}
        self.files: dict[tuple[str, str, str], bytes] = {}
        self.history: dict[str, dict[str, Any]] = {}
        self.pending: list[list[Any]] = []
        self.running: list[Any] | None = None
        self.sockets: dict[str, list[web.WebSocketResponse]] = {}
        self.number = 0
        self.counter = 0
        self.hold = asyncio.Event()
        self.hold.set()
        self.paused = False
        self.step = 0
        self.interrupted: str | None = None
        self.interrupts: list[Any] = []
        # faults
        self.disconnect_at_step: int | None = None  # close the prompt's websocket there, once
        self.fail_with: str | None = None  # an execution_error with this exception message
        self.rate_limited = 0  # /prompt answers 429 (Retry-After: 1) this many times
        self.view_body: bytes | None = None  # /view answers this instead of the file
        self.picks_own_ids = False  # an older server that ignores our prompt_id
        self.drop_ws = False  # refuse websockets (a proxy that does not pass them)
        self._wake = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self._worker: asyncio.Task[None] | None = None

    def calls(self, method: str, path: str) -> list[dict[str, str]]:
        return [headers for m, p, headers in self.requests if (m, p) == (method, path)]

    async def start(self) -> None:
        self._runner = web.AppRunner(self.app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"
        self._worker = asyncio.create_task(self._work())

    async def stop(self) -> None:
        if self._worker is not None:
            self._worker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker
        for sockets in self.sockets.values():
            for socket in sockets:
                await socket.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @web.middleware
    async def _record(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.requests.append((request.method, request.path, dict(request.headers)))
        if self.auth is not None and request.headers.get("Authorization") != self.auth:
            return web.json_response({"error": "unauthorized"}, status=401)
        return await handler(request)

    # inventory

    async def object_info(self, request: web.Request) -> web.Response:
        return web.json_response(object_info(sorted(self.inputs) or ["example.png"]))

    # submit and queue

    async def post_prompt(self, request: web.Request) -> web.Response:
        if self.rate_limited > 0:
            self.rate_limited -= 1
            return web.json_response(
                {"error": "slow down"}, status=429, headers={"Retry-After": "1"}
            )
        body = await request.json()
        if "prompt" not in body:
            error = {"type": "no_prompt", "message": "No prompt provided", "details": ""}
            return web.json_response({"error": error, "node_errors": {}}, status=400)
        prompt = body["prompt"]
        node_errors = validate(prompt, sorted(self.inputs) or ["example.png"])
        if node_errors:
            error = {
                "type": "prompt_outputs_failed_validation",
                "message": "Prompt outputs failed validation",
                "details": "",
                "extra_info": {},
            }
            return web.json_response({"error": error, "node_errors": node_errors}, status=400)
        prompt_id = str(body.get("prompt_id") or uuid.uuid4())
        if self.picks_own_ids:
            prompt_id = str(uuid.uuid4())
        self.number += 1
        extra = {"client_id": body.get("client_id")}
        self.prompts.append(body)
        self.pending.append([self.number, prompt_id, prompt, extra, []])
        self._wake.set()
        return web.json_response({"prompt_id": prompt_id, "number": self.number, "node_errors": {}})

    async def get_queue(self, request: web.Request) -> web.Response:
        running = [self.running] if self.running is not None else []
        return web.json_response({"queue_running": running, "queue_pending": self.pending})

    async def post_queue(self, request: web.Request) -> web.Response:
        body = await request.json()
        if body.get("clear"):
            self.pending.clear()
        for prompt_id in body.get("delete", ()):
            self.pending = [item for item in self.pending if item[1] != prompt_id]
        return web.Response(status=200)

    async def interrupt(self, request: web.Request) -> web.Response:
        body = await request.json() if request.can_read_body else {}
        self.interrupts.append(body)
        wanted = body.get("prompt_id") if isinstance(body, dict) else None
        if self.running is not None and wanted in (None, self.running[1]):
            self.interrupted = self.running[1]
            self.hold.set()
        return web.Response(status=200)

    async def history_of(self, request: web.Request) -> web.Response:
        prompt_id = request.match_info["prompt_id"]
        entry = self.history.get(prompt_id)
        return web.json_response({prompt_id: entry} if entry is not None else {})

    # files

    async def upload_image(self, request: web.Request) -> web.Response:
        post = await request.post()
        image = post["image"]
        assert isinstance(image, web.FileField)
        name = self._unique(image.filename)
        self.inputs[name] = image.file.read()
        return web.json_response({"name": name, "subfolder": "", "type": "input"})

    async def upload_mask(self, request: web.Request) -> web.Response:
        """As ComfyUI's: the uploaded image's alpha becomes the alpha of ``original_ref``."""
        post = await request.post()
        image = post["image"]
        assert isinstance(image, web.FileField)
        ref = json.loads(str(post["original_ref"]))
        original = self.inputs.get(ref["filename"])
        if original is None or "/" in ref["filename"] or ".." in ref["filename"]:
            return web.Response(status=400)
        with Image.open(io.BytesIO(original)) as base, Image.open(image.file) as mask:
            combined = base.convert("RGBA")
            combined.putalpha(mask.convert("RGBA").getchannel("A"))
        name = self._unique(image.filename)
        self.inputs[name] = png_of(combined)
        return web.json_response({"name": name, "subfolder": "", "type": "input"})

    def _unique(self, filename: str) -> str:
        name, index = filename, 1
        while name in self.inputs:
            name = f"{filename.rsplit('.', 1)[0]} ({index}).png"
            index += 1
        return name

    async def view(self, request: web.Request) -> web.Response:
        if self.view_body is not None:
            return web.Response(body=self.view_body, content_type="image/png")
        q = request.query
        data = self.files.get(
            (q.get("type", "output"), q.get("subfolder", ""), q.get("filename", ""))
        )
        if data is None:
            return web.Response(status=404)
        return web.Response(body=data, content_type="image/png")

    # the websocket

    async def ws(self, request: web.Request) -> web.StreamResponse:
        if self.drop_ws:
            return web.Response(status=404)
        socket = web.WebSocketResponse()
        await socket.prepare(request)
        sid = request.query.get("clientId") or uuid.uuid4().hex
        self.sockets.setdefault(sid, []).append(socket)
        status = {"status": {"exec_info": {"queue_remaining": len(self.pending)}}, "sid": sid}
        await socket.send_json({"type": "status", "data": status})
        async for message in socket:
            if message.type is WSMsgType.ERROR:
                break
        with contextlib.suppress(ValueError):
            self.sockets[sid].remove(socket)
        return socket

    async def _send(self, client: str | None, kind: str, data: Any) -> None:
        for socket in list(self.sockets.get(client or "", ())):
            with contextlib.suppress(ConnectionError, RuntimeError):
                if isinstance(data, bytes):
                    await socket.send_bytes(data)
                else:
                    await socket.send_json({"type": kind, "data": data})

    # the executor

    async def _work(self) -> None:
        while True:
            while self.paused or not self.pending:
                self._wake.clear()
                await self._wake.wait()
            self.running = self.pending.pop(0)
            try:
                await self._execute(self.running)
            finally:
                self.running = None

    def wake(self) -> None:
        self._wake.set()

    async def _execute(self, item: list[Any]) -> None:
        _, prompt_id, prompt, extra, _ = item
        client = extra.get("client_id")
        messages: list[list[Any]] = [["execution_start", {"prompt_id": prompt_id}]]
        await self._send(client, "execution_start", {"prompt_id": prompt_id})
        by_class = {spec["class_type"]: (node, spec["inputs"]) for node, spec in prompt.items()}
        sampler_node, sampler = by_class["KSampler"]
        steps = int(sampler["steps"])
        for self.step in range(1, steps + 1):
            await self.hold.wait()
            if self.interrupted == prompt_id:
                self.interrupted = None
                data = {"prompt_id": prompt_id, "node_id": sampler_node, "node_type": "KSampler"}
                messages.append(["execution_interrupted", data])
                await self._send(client, "execution_interrupted", data)
                self._record_history(item, {}, "error", messages)
                await self._send(client, "executing", {"node": None, "prompt_id": prompt_id})
                return
            await asyncio.sleep(self.steps_seconds / steps)
            await self._send(client, "executing", {"node": sampler_node, "prompt_id": prompt_id})
            progress = {
                "value": self.step,
                "max": steps,
                "prompt_id": prompt_id,
                "node": sampler_node,
            }
            await self._send(client, "progress", progress)
            await self._send(client, "", jpeg_preview((0, 0, self.step)))
            if self.disconnect_at_step == self.step:
                self.disconnect_at_step = None
                for socket in list(self.sockets.get(client or "", ())):
                    await socket.close()
        if self.fail_with is not None:
            data = {
                "prompt_id": prompt_id,
                "node_id": sampler_node,
                "node_type": "KSampler",
                "executed": [],
                "exception_message": self.fail_with,
                "exception_type": "torch.OutOfMemoryError",
                "traceback": ["..."],
            }
            messages.append(["execution_error", data])
            await self._send(client, "execution_error", data)
            self._record_history(item, {}, "error", messages)
            await self._send(client, "executing", {"node": None, "prompt_id": prompt_id})
            return
        outputs = {}
        for node, spec in prompt.items():
            if spec["class_type"] == "SaveImage":
                images = [self._save(image) for image in self._render(by_class, sampler)]
                outputs[node] = {"images": images}
                data = {"node": node, "output": {"images": images}, "prompt_id": prompt_id}
                await self._send(client, "executed", data)
        messages.append(["execution_success", {"prompt_id": prompt_id}])
        await self._send(client, "execution_success", {"prompt_id": prompt_id})
        self._record_history(item, outputs, "success", messages)
        await self._send(client, "executing", {"node": None, "prompt_id": prompt_id})

    def _render(self, by_class: dict[str, Any], sampler: dict[str, Any]) -> list[Image.Image]:
        """Image k is (seed + k, 0, 0); from a LoadImage, only where its mask (1 - alpha)
        says to paint, the rest kept."""
        seed = int(sampler["seed"])
        if "LoadImage" in by_class:
            with Image.open(io.BytesIO(self.inputs[by_class["LoadImage"][1]["image"]])) as loaded:
                source = loaded.convert("RGBA")
            count = 1
        else:
            _, latent = by_class["EmptyLatentImage"]
            source = Image.new("RGBA", (int(latent["width"]), int(latent["height"])), (0, 0, 0, 0))
            count = int(latent["batch_size"])
        images = []
        for k in range(count):
            out = source.convert("RGB")
            paint = source.getchannel("A").point(lambda a: 255 if a < 128 else 0)
            out.paste(((seed + k) % 256, 0, 0), mask=paint)
            images.append(out)
        return images

    def _save(self, image: Image.Image) -> dict[str, str]:
        self.counter += 1
        name = f"ComfyUI_{self.counter:05}_.png"
        self.files[("output", "", name)] = png_of(image)
        return {"filename": name, "subfolder": "", "type": "output"}

    def _record_history(
        self, item: list[Any], outputs: dict[str, Any], status: str, messages: list[list[Any]]
    ) -> None:
        self.history[item[1]] = {
            "prompt": item,
            "outputs": outputs,
            "status": {
                "status_str": status,
                "completed": status == "success",
                "messages": messages,
            },
            "meta": {},
        }
