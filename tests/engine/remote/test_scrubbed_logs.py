"""Provider texts that reach the owner's log pass through the scrubber: a server (or a proxy)
that echoes the bot's key in them does not get it written down. And large outputs are
decoded off the event loop."""

from __future__ import annotations

import logging
import threading

import pytest
from aiohttp import web
from PIL import Image

from engine import ProviderError
from engine.remote.comfyui.api import ComfyApi, FileRef
from engine.remote.http import RemoteClient
from engine.remote.swarmui.api import SwarmApi
from tests.fakes.http_api import FakeApi, json_answer, png

KEY = "sk-echoed-in-a-log-line-4242"


async def test_comfyui_node_errors_are_logged_without_the_key(
    api: FakeApi, caplog: pytest.LogCaptureFixture
):
    async def accepted(request: web.Request, body: object) -> web.Response:
        error = {"message": f"bad header Bearer {KEY}", "details": ""}
        return json_answer(
            {
                "prompt_id": "p1",
                "node_errors": {"9": {"class_type": "SaveImage", "errors": [error]}},
            }
        )

    api.route("POST", "/prompt", accepted)
    client = RemoteClient("comfy", api.base, secrets=[KEY])
    caplog.set_level(logging.INFO)
    try:
        assert await ComfyApi(client).submit({}, "c1", "p1") == "p1"
    finally:
        await client.close()
    assert "some outputs will not run" in caplog.text
    assert KEY not in caplog.text


async def test_a_refused_swarm_image_reference_is_logged_without_the_key(
    caplog: pytest.LogCaptureFixture,
):
    client = RemoteClient("swarm", "http://127.0.0.1:1", secrets=[KEY])
    swarm = SwarmApi(client, "http://127.0.0.1:1", {}, 2**20)
    caplog.set_level(logging.INFO)
    try:
        with pytest.raises(ProviderError):
            await swarm.image(f"https://elsewhere.example/steal?token={KEY}")
    finally:
        await swarm.close()
        await client.close()
    assert "refused an image reference" in caplog.text
    assert KEY not in caplog.text


async def test_comfyui_outputs_are_decoded_off_the_event_loop(
    api: FakeApi, monkeypatch: pytest.MonkeyPatch
):
    threads: list[threading.Thread] = []
    decode = RemoteClient.decode_image

    def recording(self: RemoteClient, data: bytes, content_type: str = "") -> Image.Image:
        threads.append(threading.current_thread())
        return decode(self, data, content_type)

    async def view(request: web.Request, body: object) -> web.Response:
        return web.Response(body=png(), content_type="image/png")

    monkeypatch.setattr(RemoteClient, "decode_image", recording)
    api.route("GET", "/view", view)
    client = RemoteClient("comfy", api.base)
    try:
        await ComfyApi(client).image(FileRef("a.png"))
    finally:
        await client.close()
    assert threads and threads[0] is not threading.main_thread()
