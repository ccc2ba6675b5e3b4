"""Hostile websocket frames and answers: previews probed before they are decoded and a flood of
them skipped, JSON nested past the parser's depth skipped, floods of events not kept."""

from __future__ import annotations

import asyncio
import base64
import io
import struct
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from engine.errors import ProviderUnavailable
from engine.provider import Progress
from engine.remote import previews
from engine.remote.comfyui import watch as watch_module
from engine.remote.comfyui.api import ComfyApi
from engine.remote.comfyui.watch import Watch, ws_url
from engine.remote.http import HttpPolicy, RemoteClient
from engine.remote.swarmui.api import SwarmApi
from engine.remote.swarmui.stream import Stream, receive
from tests.fakes.http_api import FakeApi, json_answer


def encoded(size: tuple[int, int], kind: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, (10, 20, 30)).save(buffer, kind)
    return buffer.getvalue()


def swarm_progress(data: bytes) -> dict[str, object]:
    url = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return {"gen_progress": {"batch_index": "0", "overall_percent": 0.5, "preview": url}}


def comfy_frame(data: bytes) -> bytes:
    return struct.pack(">II", 1, 2) + data


@pytest.fixture
def frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every frame arrives at the same instant: a flood."""
    monkeypatch.setattr(previews, "_now", lambda: 1000.0)


def test_a_swarm_preview_wider_than_allowed_is_not_decoded():
    client = RemoteClient("swarm", "http://127.0.0.1:1")
    reports: list[Progress] = []
    stream = Stream(1, reports.append, client)
    # a few kilobytes of PNG that decode to 67 million pixels' worth of work
    stream.take(swarm_progress(encoded((8192, 8))))
    stream.take(swarm_progress(encoded((16, 16))))
    assert [r.preview is None for r in reports] == [True, False]


def test_a_flood_of_swarm_previews_is_decoded_a_burst_at_most(frozen: None):
    client = RemoteClient("swarm", "http://127.0.0.1:1")
    reports: list[Progress] = []
    stream = Stream(1, reports.append, client)
    for _ in range(100):
        stream.take(swarm_progress(encoded((16, 16))))
    assert len(reports) == 100  # the progress still goes through
    assert sum(r.preview is not None for r in reports) == previews.BURST


def test_a_flood_of_comfyui_preview_frames_is_decoded_a_burst_at_most(frozen: None):
    reports: list[Progress] = []
    api = ComfyApi(RemoteClient("comfy", "http://127.0.0.1:1"))
    watch = Watch(
        api, "ws://127.0.0.1:1/ws", {}, reports.append, poll_seconds=1.0, max_preview_bytes=2**20
    )
    watch._current = "ours"
    frame = comfy_frame(encoded((16, 16), "JPEG"))
    for _ in range(100):
        watch._preview(frame)
    assert len(reports) == previews.BURST


def test_previews_come_again_as_time_passes(monkeypatch: pytest.MonkeyPatch):
    now = [0.0]
    monkeypatch.setattr(previews, "_now", lambda: now[0])
    gate = previews.Previews(lambda text: text)
    data = encoded((16, 16))
    assert sum(gate.image(data) is not None for _ in range(previews.BURST + 5)) == previews.BURST
    now[0] += 1.0
    assert sum(gate.image(data) is not None for _ in range(10)) == int(previews.PER_SECOND)


class Socket:
    """A websocket that hands over the frames it was given, then closes."""

    closed = False

    def __init__(self, *frames: aiohttp.WSMessage) -> None:
        self.frames = list(frames)

    async def receive(self, *_: object) -> aiohttp.WSMessage:
        if self.frames:
            return self.frames.pop(0)
        return aiohttp.WSMessage(aiohttp.WSMsgType.CLOSED, None, None)

    async def close(self) -> None:
        self.frames = []


def text(data: str) -> aiohttp.WSMessage:
    return aiohttp.WSMessage(aiohttp.WSMsgType.TEXT, data, None)


async def test_a_swarm_message_nested_past_any_depth_is_skipped():
    client = RemoteClient("swarm", "http://127.0.0.1:1")
    stream = Stream(1, lambda _: None, client)
    ws = Socket(text("[" * 200_000), text('{"socket_intention": "close"}'))
    await receive(ws, stream, 5.0)  # type: ignore[arg-type]
    assert stream.finished


async def test_a_comfyui_event_nested_past_any_depth_is_skipped():
    api = ComfyApi(RemoteClient("comfy", "http://127.0.0.1:1"))
    watch = Watch(
        api, "ws://127.0.0.1:1/ws", {}, lambda _: None, poll_seconds=1.0, max_preview_bytes=2**20
    )
    watch.ours.add("ours")
    watch._ws = Socket(  # type: ignore[assignment]
        text("[" * 200_000),
        text('{"type": "execution_success", "data": {"prompt_id": "ours"}}'),
    )
    await watch._receive(1.0)
    await watch._receive(1.0)
    assert watch.ended == {"ours": "success"}


def test_swarm_discards_outside_the_batch_are_not_kept():
    client = RemoteClient("swarm", "http://127.0.0.1:1")
    stream = Stream(2, lambda _: None, client)
    stream.take({"discard_indices": [1, *range(5, 100_000)]})
    stream.take({"discard_indices": ["²", "0"], "image": "View/a.png", "batch_index": "¹"})
    assert stream.discarded == {0, 1}  # "²" is a digit to str.isdigit, not to int()
    assert not stream.images


def test_a_flood_of_comfyui_executed_events_is_not_kept_past_a_cap():
    api = ComfyApi(RemoteClient("comfy", "http://127.0.0.1:1"))
    watch = Watch(
        api, "ws://127.0.0.1:1/ws", {}, lambda _: None, poll_seconds=1.0, max_preview_bytes=2**20
    )
    watch.ours.add("ours")
    image = {"filename": "a.png", "subfolder": "", "type": "output"}
    for node in range(1000):
        output = {"images": [image] * 1000}
        watch._event(
            {"type": "executed", "data": {"prompt_id": "ours", "node": node, "output": output}}
        )
    assert len(watch.outputs["ours"]) == watch_module.MAX_OUTPUT_NODES
    assert all(
        len(refs) <= watch_module.MAX_OUTPUT_IMAGES for refs in watch.outputs["ours"].values()
    )


async def test_a_comfyui_history_of_the_wrong_shapes_reads_as_failed_not_a_crash(api: FakeApi):
    async def odd(request: web.Request, body: object) -> web.Response:
        return json_answer({"p1": {"outputs": ["not", "a", "dict"], "status": {"messages": 5}}})

    api.route("GET", "/history/p1", odd)
    client = RemoteClient("comfy", api.base)
    try:
        record = await ComfyApi(client).history("p1")
    finally:
        await client.close()
    assert record is not None and record.outputs == {} and not record.succeeded


@pytest.fixture
async def silent() -> AsyncIterator[str]:
    """A server that takes connections and never says a word: no websocket upgrade comes."""
    held: list[asyncio.StreamWriter] = []

    async def hold(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)

    server = await asyncio.start_server(hold, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    for writer in held:
        writer.close()
    server.close()


def quick() -> HttpPolicy:
    return HttpPolicy(connect_timeout=0.2, read_timeout=0.3, max_retries=0)


async def test_a_comfyui_websocket_that_never_upgrades_falls_back_to_polling(silent: str):
    api = ComfyApi(RemoteClient("comfy", silent, policy=quick()))
    watch = Watch(
        api, ws_url(silent, "c1"), {}, lambda _: None, poll_seconds=1.0, max_preview_bytes=2**20
    )

    async def enter() -> None:
        async with watch:
            assert watch._ws is None

    await asyncio.wait_for(enter(), 30)  # a guard against a hang, not a measure
    await api.client.close()


async def test_a_swarm_websocket_that_never_upgrades_is_unavailable(silent: str):
    client = RemoteClient("swarm", silent, policy=quick())
    swarm = SwarmApi(client, silent, {}, 2**20)
    try:
        with pytest.raises(ProviderUnavailable):
            # a guard against a hang, not a measure
            await asyncio.wait_for(swarm.connect("GenerateText2ImageWS"), 30)
    finally:
        await swarm.close()
        await client.close()
