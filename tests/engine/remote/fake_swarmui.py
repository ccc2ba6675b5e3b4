"""A small SwarmUI on loopback, written from its docs/API.md, docs/APIRoutes/T2IAPI.md and
BasicAPIFeatures.md: ``GetNewSession``, ``ListT2IParams``, the ``GenerateText2ImageWS`` route
(status, gen_progress with previews, image as a data URL or a ``View/`` path, discard_indices,
socket_intention close) and its HTTP twin, ``View/``, ``InterruptAll``; with the faults the
adapter must survive: expired sessions, a dropped socket, errors, bombs, foreign image links."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import secrets
from typing import Any

from aiohttp import web
from PIL import Image

from tests.fakes.http_api import FakeApi, json_answer, png

TOKEN = "swarm-user-token-4242"
MODELS = ["OfficialStableDiffusion/sd_xl_base_1.0.safetensors", "Flux/flux1-schnell.safetensors"]
LORAS = ["styles/ink-wash", "characters/alex"]
SAMPLERS = ["euler", "dpmpp_2m"]
SCHEDULERS = ["normal", "karras"]
EXPIRED = {
    "error": "Invalid session ID. You may need to refresh the page.",
    "error_id": "invalid_session_id",
}


def data_url(data: bytes, kind: str = "png") -> str:
    return f"data:image/{kind};base64," + base64.b64encode(data).decode("ascii")


def from_data_url(text: str) -> Image.Image:
    with Image.open(io.BytesIO(base64.b64decode(text.split(",", 1)[1]))) as image:
        image.load()
        return image.copy()


def param(id_: str, kind: str, default: str, low: float = 0, high: float = 0, step: float = 1,
          values: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """One entry of ListT2IParams' ``list``, as its document draws it."""
    return {
        "name": id_.title(),
        "id": id_,
        "description": "",
        "type": kind,
        "subtype": None,
        "default": default,
        "min": low,
        "max": high,
        "view_max": high,
        "step": step,
        "values": values,
        "examples": None,
        "visible": True,
        "advanced": False,
        "feature_flag": None,
        "toggleable": False,
        "priority": 0,
        "group": None,
        "always_retain": False,
        "do_not_save": False,
        "do_not_preview": False,
        "view_type": "small",
        "extra_hidden": False,
    }


class SwarmUI:
    """``token``: the swarm_user_token its accounts require (None: no accounts). ``seconds``:
    how long one image takes. Generations wait while ``hold`` is clear."""

    def __init__(self, api: FakeApi, token: str | None = TOKEN, seconds: float = 0.0) -> None:
        self.api = api
        self.token = token
        self.seconds = seconds
        self.sessions: set[str] = set()
        self.interrupts: list[dict[str, Any]] = []
        self.inputs: list[dict[str, Any]] = []
        self.models = list(MODELS)
        self.hold = asyncio.Event()
        self.hold.set()
        self.running = asyncio.Event()
        self.queued = asyncio.Event()
        # faults
        self.always_expired = False
        self.drop_mid_stream = False
        self.error: str | None = None
        self.reference: str | None = None  # an image reference sent instead of the real one
        self.discard: list[int] = []
        self.grid = True
        self._interrupted: set[str] = set()
        api.route("POST", "/API/GetNewSession", self.new_session)
        api.route("POST", "/API/ListT2IParams", self.list_params)
        api.route("POST", "/API/InterruptAll", self.interrupt)
        api.route("POST", "/API/GenerateText2Image", self.generate_http)
        api.route("GET", "/API/GenerateText2ImageWS", self.generate_ws)

    def expire_sessions(self) -> None:
        self.sessions.clear()

    def _allowed(self, request: web.Request) -> bool:
        return self.token is None or request.cookies.get("swarm_user_token") == self.token

    def _unauthorised(self) -> web.Response:
        return json_answer({"error": "invalid or unauthorized", "error_id": "invalid_user"}, 401)

    def _session(self, request: web.Request, body: Any) -> web.Response | str:
        if not self._allowed(request):
            return self._unauthorised()
        session = body.get("session_id") if isinstance(body, dict) else None
        if self.always_expired or session not in self.sessions:
            return json_answer(EXPIRED, 401)
        return str(session)

    async def new_session(self, request: web.Request, body: Any) -> web.Response:
        if not self._allowed(request):
            return self._unauthorised()
        session = secrets.token_hex(20).upper()
        self.sessions.add(session)
        return json_answer(
            {
                "session_id": session,
                "user_id": "local",
                "output_append_user": True,
                "version": "0.9.7.0",
                "server_id": "058716b5-c6f5-49ed-9ca3-be20d82e4c5f",
                "permissions": ["basic_image_generation"],
            }
        )

    async def list_params(self, request: web.Request, body: Any) -> web.Response:
        session = self._session(request, body)
        if isinstance(session, web.Response):
            return session
        params = [
            param("prompt", "text", ""),
            param("negativeprompt", "text", ""),
            param("images", "integer", "1", 1, 10000),
            param("seed", "integer", "-1", -1, 2**63 - 1),
            param("steps", "integer", "20", 0, 100),
            param("cfgscale", "decimal", "7", 0, 30, 0.5),
            param("width", "integer", "512", 64, 16384, 32),
            param("height", "integer", "512", 64, 16384, 32),
            param("initimage", "image", ""),
            param("initimagecreativity", "decimal", "0.6", 0, 1, 0.05),
            param("maskimage", "image", ""),
            param("model", "model", ""),
            param("loras", "list", "", values=list(LORAS)),
            param("loraweights", "list", "", -10, 10, 0.1),
            param("sampler", "dropdown", "euler", values=list(SAMPLERS)),
            param("scheduler", "dropdown", "normal", values=list(SCHEDULERS)),
        ]
        models = {
            "Stable-Diffusion": [[name, "stable-diffusion-xl-v1-base"] for name in self.models],
            "LoRA": [[f"{name}.safetensors", "stable-diffusion-xl-v1-base/lora"] for name in LORAS],
        }
        return json_answer({"list": params, "groups": [], "models": models, "wildcards": []})

    async def interrupt(self, request: web.Request, body: Any) -> web.Response:
        session = self._session(request, body)
        if isinstance(session, web.Response):
            return session
        self.interrupts.append(body)
        self._interrupted.add(session)
        return json_answer({"success": True})

    async def generate_http(self, request: web.Request, body: Any) -> web.Response:
        session = self._session(request, body)
        if isinstance(session, web.Response):
            return session
        self.inputs.append(body)
        messages: list[dict[str, Any]] = []

        async def keep(message: dict[str, Any]) -> None:
            messages.append(message)

        await self._generate(body, session, keep)
        images: dict[str, str] = {}
        for message in messages:
            if "error" in message:
                return json_answer(message)
            if "image" in message:
                images[message["batch_index"]] = message["image"]
            for index in message.get("discard_indices", []):
                images.pop(str(index), None)
        return json_answer({"images": [ref for index, ref in images.items() if int(index) >= 0]})

    async def generate_ws(self, request: web.Request, body: Any) -> web.StreamResponse:
        ws = web.WebSocketResponse(max_msg_size=64 * 2**20)
        await ws.prepare(request)
        data = await ws.receive_json()
        if not self._allowed(request):
            await ws.send_json({"error": "invalid or unauthorized", "error_id": "invalid_user"})
        elif self.always_expired or data.get("session_id") not in self.sessions:
            await ws.send_json(EXPIRED)
        else:
            self.inputs.append(data)
            try:
                await self._generate(data, data["session_id"], ws.send_json, request)
            except ConnectionResetError:
                return ws
            if not ws.closed:
                await ws.send_json({"socket_intention": "close"})
                await ws.send_json(self._status(0, 0, 0))
        await ws.close()
        return ws

    def _status(self, waiting: int, backends: int, live: int) -> dict[str, Any]:
        return {
            "status": {
                "waiting_gens": waiting,
                "loading_models": 0,
                "waiting_backends": backends,
                "live_gens": live,
            },
            "backend_status": {
                "status": "running",
                "class": "",
                "message": "",
                "any_loading": False,
            },
            "supported_features": ["comfyui"],
        }

    def _refusal(self, data: dict[str, Any]) -> str | None:
        """What Swarm's parameter parsing would refuse, in the kind of words it uses."""
        if self.error is not None:
            return self.error
        model = data.get("model")
        known = {name for m in self.models for name in (m, m.rsplit(".", 1)[0])}
        if model is not None and model not in known:
            return f'Invalid model name "{model}".'
        if data.get("sampler", "euler") not in SAMPLERS:
            return f"Invalid value for parameter Sampler: {data['sampler']}"
        for lora in data.get("loras", []):
            if lora not in LORAS:
                return f'Invalid LoRA "{lora}"'
        return None

    async def _generate(self, data: dict[str, Any], session: str, send: Any, request: Any = None):
        await send(self._status(1, 1, 0))
        if (refusal := self._refusal(data)) is not None:
            await send({"error": refusal})
            return
        self.queued.set()
        while not self.hold.is_set() and session not in self._interrupted:  # noqa: ASYNC110
            await asyncio.sleep(0.01)
        count, seed = int(data.get("images", 1)), int(data.get("seed", -1))
        width, height = int(data.get("width", 512)), int(data.get("height", 512))
        for k in range(count):
            for step in range(1, 5):
                if session in self._interrupted:
                    return
                preview = data_url(png((0, 0, 9 * step), (16, 16)), "jpeg")
                await send(
                    {
                        "gen_progress": {
                            "batch_index": str(k),
                            "overall_percent": step / 4,
                            "current_percent": step / 4,
                            "preview": preview,
                        }
                    }
                )
                self.running.set()
                if self.drop_mid_stream and request is not None:
                    request.transport.close()
                    raise ConnectionResetError
                await asyncio.sleep(self.seconds / 4)
            await send(self._image(data, k, (seed + k) % 256, (width, height)))
        if count > 1 and self.grid:  # Swarm's mini grid of the batch
            await send({"image": data_url(png((1, 1, 1), (8, 8))), "batch_index": "-1"})
        await send({"discard_indices": list(self.discard)})

    def _image(self, data: dict[str, Any], k: int, red: int, size: tuple[int, int]):
        if "initimage" in data:
            image = from_data_url(data["initimage"]).convert("RGB").resize(size)
            if "maskimage" in data:
                mask = from_data_url(data["maskimage"]).convert("L").resize(size)
                image.paste((red, 0, 0), mask=mask)
        else:
            image = Image.new("RGB", size, (red, 0, 0))
        buffer = io.BytesIO()
        image.save(buffer, "PNG")
        metadata = json.dumps({"sui_image_params": {"prompt": data.get("prompt")}})
        if self.reference is not None:
            reference = self.reference
        elif data.get("donotsave"):
            reference = data_url(buffer.getvalue())
        else:
            reference = f"View/local/raw/2026-12-06/{k}-a picture-{red}.png"
            self._serve("/" + reference, buffer.getvalue())
        return {"image": reference, "batch_index": str(k), "request_id": "1", "metadata": metadata}

    def _serve(self, path: str, body: bytes) -> None:
        async def view(request: web.Request, _: Any) -> web.Response:
            if not self._allowed(request):
                return json_answer(
                    {"error": "invalid or unauthorized", "error_id": "invalid_user"}, 400
                )
            return web.Response(body=body, content_type="image/png")

        self.api.route("GET", path, view)
