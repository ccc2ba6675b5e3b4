"""A protocol-level fake of Discord on loopback: enough REST and gateway for a bot to log in,
sync commands and post messages. Later work grows it (interactions, components)."""

from __future__ import annotations

import asyncio
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

APPLICATION_ID = 4242
BOT_USER = {
    "id": "4243",
    "username": "imagebot",
    "discriminator": "0",
    "global_name": None,
    "avatar": None,
    "bot": True,
}
TOKEN = "fake-token"


def reply(data: Any, status: int = 200) -> web.Response:
    # discord.py reads JSON only when Content-Type is exactly application/json.
    return web.Response(
        body=json.dumps(data).encode(),
        status=status,
        headers={"Content-Type": "application/json"},
    )


@dataclass
class PostedMessage:
    channel_id: int
    content: str
    nonce: str | None
    files: dict[str, bytes] = field(default_factory=dict)


class FakeDiscord:
    def __init__(self) -> None:
        self.app = web.Application(client_max_size=64 * 2**20)
        self.app.add_routes(
            [
                web.get("/api/v10/users/@me", self.users_me),
                web.get("/api/v10/oauth2/applications/@me", self.application),
                web.put("/api/v10/applications/{app}/commands", self.sync),
                web.post("/api/v10/channels/{channel}/messages", self.post_message),
                web.get("/gateway", self.gateway),
            ]
        )
        self.runner: web.AppRunner | None = None
        self.base = ""
        self.synced: list[Any] = []
        self.messages: list[PostedMessage] = []
        self.message_posted = asyncio.Event()
        self.identified = asyncio.Event()
        self._ids = itertools.count(900_000)
        self._nonces: dict[str, dict[str, Any]] = {}

    async def start(self) -> None:
        self.runner = web.AppRunner(self.app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base = f"http://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    @property
    def api_base(self) -> str:
        return f"{self.base}/api/v10"

    @property
    def gateway_url(self) -> str:
        return f"{self.base.replace('http', 'ws', 1)}/gateway"

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"Bot {TOKEN}"

    async def users_me(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return reply({"message": "401: Unauthorized", "code": 0}, 401)
        return reply(BOT_USER)

    async def application(self, request: web.Request) -> web.Response:
        return reply(
            {
                "id": str(APPLICATION_ID),
                "name": "imagebot",
                "icon": None,
                "description": "",
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": {**BOT_USER, "id": "1", "bot": False, "username": "owner"},
                "verify_key": "0" * 64,
                "flags": 0,
            }
        )

    async def sync(self, request: web.Request) -> web.Response:
        self.synced = await request.json()
        return reply([])

    async def post_message(self, request: web.Request) -> web.Response:
        payload: dict[str, Any] = {}
        files: dict[str, bytes] = {}
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if part.name == "payload_json":
                    payload = json.loads(await part.text())  # type: ignore[union-attr]
                else:
                    files[part.filename or part.name or "?"] = await part.read()  # type: ignore[union-attr]
        else:
            payload = await request.json()
        nonce = payload.get("nonce")
        if payload.get("enforce_nonce") and nonce in self._nonces:
            return reply(self._nonces[nonce])
        channel_id = int(request.match_info["channel"])
        message = self._message(channel_id, payload.get("content", ""), nonce)
        if nonce is not None:
            self._nonces[nonce] = message
        self.messages.append(PostedMessage(channel_id, message["content"], nonce, files))
        self.message_posted.set()
        return reply(message)

    def _message(self, channel_id: int, content: str, nonce: str | None) -> dict[str, Any]:
        return {
            "id": str(next(self._ids)),
            "channel_id": str(channel_id),
            "author": BOT_USER,
            "content": content,
            "timestamp": "2026-11-23T00:00:00+00:00",
            "edited_timestamp": None,
            "tts": False,
            "mention_everyone": False,
            "mentions": [],
            "mention_roles": [],
            "attachments": [],
            "embeds": [],
            "pinned": False,
            "type": 0,
            "nonce": nonce,
        }

    async def gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(json.dumps({"op": 10, "d": {"heartbeat_interval": 41250}}))
        sequence = itertools.count(1)
        async for message in ws:
            if message.type is not WSMsgType.TEXT:
                continue
            data = json.loads(message.data)
            if data["op"] == 1:
                await ws.send_str(json.dumps({"op": 11}))
            elif data["op"] == 2:
                if data["d"]["token"] != TOKEN:
                    await ws.close(code=4004)
                    break
                self.identified.set()
                ready = {
                    "v": 10,
                    "user": BOT_USER,
                    "guilds": [],
                    "session_id": "session",
                    "resume_gateway_url": self.gateway_url,
                    "application": {"id": str(APPLICATION_ID), "flags": 0},
                }
                await ws.send_str(
                    json.dumps({"op": 0, "t": "READY", "s": next(sequence), "d": ready})
                )
        return ws
