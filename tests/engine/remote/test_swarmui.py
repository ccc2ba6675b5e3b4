"""The SwarmUI adapter against the fake SwarmUI: discovery and the checks it feeds, generation
over the WebSocket route, outputs from View/ or data URLs, sessions, cancel and faults."""

from __future__ import annotations

import asyncio
import struct
import zlib
from typing import Any

import pytest
from aiohttp import web

from engine import (
    CancelToken,
    GenerationCancelled,
    GenerationRequest,
    InvalidRequest,
    LoraRef,
    Mode,
    OutcomeUnknown,
    Progress,
    ProviderError,
    ProviderRejected,
    ProviderTimeout,
    ProviderUnavailable,
)
from engine.errors import ProviderConfigError
from engine.registry import ProviderConfig, build_provider
from engine.remote.swarmui import SwarmUIProvider
from engine.remote.swarmui.catalog import read_catalog
from tests.engine.remote.fake_swarmui import MODELS, TOKEN, SwarmUI, data_url, from_data_url
from tests.fakes.http_api import FakeApi, Fault, png

SDXL = MODELS[0]
WS = "/API/GenerateText2ImageWS"


async def provider(api: FakeApi, key: str | None = TOKEN, **options: Any) -> SwarmUIProvider:
    built = build_provider(
        "swarmui", ProviderConfig("swarm", {"base_url": api.base, **options}, key)
    )
    assert isinstance(built, SwarmUIProvider)
    await built.start()
    return built


def bomb() -> bytes:
    """A PNG that declares 20000×20000 pixels and holds none."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    header = struct.pack(">IIBBBBB", 20000, 20000, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IEND", b"")


async def run(p: SwarmUIProvider, reports: list[Progress] | None = None, **fields: Any):
    request = p.prepare(GenerationRequest("a lighthouse", **{"seed": 5, **fields}))
    return await p.generate(request, (reports if reports is not None else []).append, CancelToken())


async def test_discovery_reads_models_loras_samplers_and_ranges(api: FakeApi):
    swarm = SwarmUI(api)
    p = await provider(api)
    await p.close()
    assert p.unavailable is None
    caps = p.capabilities
    assert caps.models == tuple(MODELS) and p.default_model == SDXL
    assert caps.samplers == ("euler", "dpmpp_2m")
    assert p.lora_names() == ["ink-wash", "alex"]  # what members type: no folder
    assert (caps.min_size, caps.max_size, caps.size_multiple) == (64, 2048, 32)
    assert caps.max_steps == 100 and caps.max_images == 4
    (listed,) = api.calls("/API/ListT2IParams")
    assert listed.body == {"session_id": next(iter(swarm.sessions))}
    assert listed.headers["Cookie"] == f"swarm_user_token={TOKEN}"


async def test_owner_lists_narrow_what_members_see(api: FakeApi):
    SwarmUI(api)
    p = await provider(
        api,
        models=["Flux/flux1-schnell", "Gone/model"],
        loras=["alex"],
        samplers=["dpmpp_2m"],
    )
    await p.close()
    assert p.capabilities.models == (MODELS[1],)
    assert p.lora_names() == ["alex"] and p.capabilities.samplers == ("dpmpp_2m",)
    with pytest.raises(InvalidRequest, match="one of alex"):
        p.prepare(GenerationRequest("x", loras=(LoraRef("ink-wash"),)))


@pytest.mark.parametrize(
    ("fields", "field", "allowed"),
    [
        ({"guidance": 31.0}, "guidance", "from 0 to 30"),
        ({"steps": 101}, "steps", "from 1 to 100"),
        ({"width": 1000}, "width", "multiple of 32 from 64 to 2048"),
        ({"height": 4096}, "height", "multiple of 32 from 64 to 2048"),
        ({"count": 5}, "count", "from 1 to 4"),
        ({"sampler": "lcm"}, "sampler", "euler, dpmpp_2m"),
        ({"loras": (LoraRef("nope"),)}, "loras", "one of ink-wash, alex"),
        ({"loras": (LoraRef("alex", 12.0),)}, "lora weight", "from -10 to 10"),
        ({"prompt": "a cat <wildcard:animals>"}, "prompt", "no <type:...> tags"),
        ({"negative_prompt": "<embed:bad>"}, "negative", "no <type:...> tags"),
        # Swarm's tags with a pre-data block: <random[2]:...>, <wildcard[1-3]:...>
        ({"prompt": "a <wildcard[1-3]:secret-list> cat"}, "prompt", "no <type:...> tags"),
        ({"prompt": "<setvar[x]:<preset:admin>>"}, "prompt", "no <type:...> tags"),
        ({"negative_prompt": "<random[2,]:a,b>"}, "negative", "no <type:...> tags"),
        ({"model": "OtherModel"}, "model", "pick one of"),
        (
            {"mode": Mode.IMG2IMG, "init_image": png(), "strength": 1.5},
            "strength",
            "from 0 to 1",
        ),
    ],
)
async def test_out_of_range_values_are_refused_before_anything_is_sent(
    api: FakeApi, fields: dict[str, Any], field: str, allowed: str
):
    SwarmUI(api)
    p = await provider(api)
    with pytest.raises(InvalidRequest) as caught:
        p.prepare(GenerationRequest(**{"prompt": "x", **fields}))
    await p.close()
    assert caught.value.field == field
    assert allowed in caught.value.allowed
    assert not api.calls(WS)


async def test_txt2img_streams_status_progress_previews_and_images(api: FakeApi):
    swarm = SwarmUI(api)
    p = await provider(api, scheduler="karras")
    reports: list[Progress] = []
    result = await run(
        p,
        reports,
        model=SDXL,
        count=2,
        width=512,
        height=384,
        steps=12,
        guidance=5.5,
        sampler="dpmpp_2m",
        negative_prompt="fog",
        loras=(LoraRef("ink-wash", 0.7),),
    )
    await p.close()
    (sent,) = swarm.inputs
    session = sent.pop("session_id")
    assert session in swarm.sessions
    assert sent == {
        "images": 2,
        "prompt": "a lighthouse",
        "negativeprompt": "fog",
        "width": 512,
        "height": 384,
        "seed": 5,
        "donotsave": True,
        "model": SDXL,
        "steps": 12,
        "cfgscale": 5.5,
        "sampler": "dpmpp_2m",
        "scheduler": "karras",
        "loras": ["styles/ink-wash"],
        "loraweights": ["0.7"],
    }
    assert [image.seed for image in result.images] == [5, 6]
    assert [image.image.getpixel((0, 0)) for image in result.images] == [(5, 0, 0), (6, 0, 0)]
    assert result.images[0].image.size == (512, 384)  # the grid (batch index -1) left out
    assert reports[0] == Progress(0, 0, "waiting for a free SwarmUI backend")
    running = [r for r in reports if r.total]
    assert [r.step for r in running] == [12, 25, 38, 50, 62, 75, 88, 100]
    assert all(r.preview is not None and r.preview.size == (16, 16) for r in running)


async def test_saved_outputs_are_fetched_from_view_on_the_server_with_the_cookie(api: FakeApi):
    SwarmUI(api)
    p = await provider(api, keep_outputs=True)
    result = await run(p, width=64, height=64)
    await p.close()
    assert result.images[0].image.getpixel((0, 0)) == (5, 0, 0)
    (view,) = [r for r in api.requests if r.path.startswith("/View/")]
    assert view.path == "/View/local/raw/2026-12-06/0-a picture-5.png"
    assert view.headers["Cookie"] == f"swarm_user_token={TOKEN}"


async def test_an_expired_session_is_renewed_and_the_call_sent_again(api: FakeApi):
    swarm = SwarmUI(api)
    p = await provider(api)
    swarm.expire_sessions()
    result = await run(p, width=64, height=64)
    swarm.expire_sessions()
    await p.refresh()
    await p.close()
    assert len(result.images) == 1 and p.unavailable is None
    assert len(api.calls("/API/GetNewSession")) == 3  # at start, then once per expiry
    assert len(swarm.inputs) == 1  # refused up front, then generated once


async def test_a_session_refused_again_after_renewal_is_not_renewed_forever(api: FakeApi):
    swarm = SwarmUI(api)
    p = await provider(api)
    swarm.always_expired = True
    with pytest.raises(ProviderUnavailable, match="kept refusing the session"):
        await run(p, width=64, height=64)
    await p.close()
    assert len(api.calls("/API/GetNewSession")) == 2


async def test_a_wrong_token_marks_it_unavailable_without_showing_the_token(api: FakeApi):
    SwarmUI(api)
    p = await provider(api, key="wrong-token-77")
    await p.close()
    assert p.unavailable is not None and "invalid or unauthorized" in p.unavailable
    assert "wrong-token-77" not in p.unavailable


async def test_the_servers_refusal_is_shown_in_its_words_with_the_key_scrubbed(api: FakeApi):
    swarm = SwarmUI(api)
    p = await provider(api)
    swarm.error = f"Backend failed: bad cookie swarm_user_token={TOKEN}"
    with pytest.raises(ProviderRejected) as caught:
        await run(p, width=64, height=64)
    await p.close()
    assert caught.value.user_message.startswith("The swarm provider refused the request: Backend")
    assert TOKEN not in caught.value.user_message and TOKEN not in str(caught.value.messages)


async def test_a_disconnect_mid_stream_is_an_unknown_outcome_not_sent_again(api: FakeApi):
    swarm = SwarmUI(api)
    swarm.drop_mid_stream = True
    p = await provider(api)
    with pytest.raises(OutcomeUnknown, match="dropped the connection"):
        await run(p, width=64, height=64)
    await p.close()
    assert len(swarm.inputs) == 1


async def test_a_429_on_the_websocket_is_waited_out_as_asked(api: FakeApi, waits: list[float]):
    SwarmUI(api)
    api.fail(Fault(WS, status=429, headers={"Retry-After": "3"}))
    p = await provider(api)
    result = await run(p, width=64, height=64)
    await p.close()
    assert waits == [3.0] and len(result.images) == 1


async def test_a_bomb_is_refused_as_too_large(api: FakeApi):
    swarm = SwarmUI(api)
    swarm.reference = data_url(bomb())
    p = await provider(api)
    with pytest.raises(ProviderError, match="too large to open"):
        await run(p, width=64, height=64)
    await p.close()


async def test_a_message_over_the_size_limit_is_refused(api: FakeApi):
    swarm = SwarmUI(api)
    swarm.reference = data_url(png(size=(64, 64)) + b"\0" * 40_000)
    p = await provider(api, max_download_mb=0.02)
    with pytest.raises(ProviderError, match="larger than allowed"):
        await run(p, width=64, height=64)
    await p.close()


@pytest.mark.parametrize(
    "reference",
    [
        "{other}/View/local/raw/x.png",
        "//{host}/View/local/raw/x.png",
        "View/../../etc/x.png",
        "/View/local/raw/x.png?u={other}",
        "file:///etc/passwd",
    ],
)
async def test_an_image_link_off_the_server_is_never_fetched(api: FakeApi, reference: str):
    other = FakeApi()
    await other.start()
    other.route("GET", "/View/local/raw/x.png", lambda r, b: _picture())
    swarm = SwarmUI(api)
    swarm.reference = reference.format(other=other.base, host=other.base.split("//")[1])
    p = await provider(api)
    with pytest.raises(ProviderError, match="may not fetch"):
        await run(p, width=64, height=64)
    await p.close()
    await other.stop()
    assert not other.requests


async def _picture() -> web.Response:
    return web.Response(body=png(), content_type="image/png")


async def test_cancel_while_queued_interrupts_its_session_and_hangs_up(api: FakeApi):
    swarm = SwarmUI(api)
    swarm.hold.clear()
    p = await provider(api)
    token = CancelToken()
    request = p.prepare(GenerationRequest("x", seed=1, width=64, height=64))
    task = asyncio.create_task(p.generate(request, lambda _: None, token))
    await asyncio.wait_for(swarm.queued.wait(), 30)
    token.cancel()
    with pytest.raises(GenerationCancelled):
        await asyncio.wait_for(task, 30)  # a guard against a hang, not a measure
    await p.close()
    (interrupt,) = swarm.interrupts
    assert interrupt == {"other_sessions": False, "session_id": swarm.inputs[0]["session_id"]}
    assert not swarm.running.is_set()


async def test_cancel_while_running_stops_it_early(api: FakeApi):
    swarm = SwarmUI(api, seconds=5.0)
    p = await provider(api)
    token = CancelToken()
    reports: list[Progress] = []
    request = p.prepare(GenerationRequest("x", seed=1, count=2, width=64, height=64))
    task = asyncio.create_task(p.generate(request, reports.append, token))
    await asyncio.wait_for(swarm.running.wait(), 30)
    token.cancel()
    with pytest.raises(GenerationCancelled):
        await asyncio.wait_for(task, 30)
    await p.close()
    assert len(swarm.interrupts) == 1
    assert all(r.step < 100 for r in reports)


async def test_img2img_and_inpaint_send_fresh_images_and_a_black_and_white_mask(api: FakeApi):
    swarm = SwarmUI(api)
    p = await provider(api)
    await run(p, mode=Mode.IMG2IMG, init_image=png((0, 0, 200), (64, 64)), width=64, height=64)
    mask = png((255, 255, 255), (64, 64))
    result = await run(p, mode=Mode.INPAINT, init_image=png((0, 0, 200), (64, 64)), mask_image=mask)
    await p.close()
    img2img, inpaint = swarm.inputs
    assert img2img["initimagecreativity"] == 0.6 and "maskimage" not in img2img
    assert from_data_url(img2img["initimage"]).getpixel((0, 0)) == (0, 0, 200)
    assert inpaint["initimagecreativity"] == 0.75
    assert (inpaint["width"], inpaint["height"]) == (64, 64)  # the image's own size
    assert from_data_url(inpaint["maskimage"]).mode == "L"
    assert result.images[0].image.getpixel((3, 3)) == (5, 0, 0)  # painted where white
    info = p.model_info(p.default_model)
    assert (info.img2img, info.inpaint, info.outpaint, info.edit) == (True, True, True, False)


async def test_discarded_images_are_left_out_with_their_seeds(api: FakeApi):
    swarm = SwarmUI(api)
    swarm.discard = [1]
    p = await provider(api)
    result = await run(p, count=3, width=64, height=64)
    await p.close()
    assert [image.seed for image in result.images] == [5, 7]
    assert result.info == {"discarded": [1]}


async def test_without_the_websocket_route_it_falls_back_to_http(api: FakeApi):
    swarm = SwarmUI(api)
    del api.routes[("GET", WS)]  # a proxy that answers 404 to WebSockets
    p = await provider(api, keep_outputs=True)
    result = await run(p, count=2, width=64, height=64)
    await p.close()
    assert [image.image.getpixel((0, 0)) for image in result.images] == [(5, 0, 0), (6, 0, 0)]
    assert len(api.calls("/API/GenerateText2Image")) == 1 and len(swarm.inputs) == 1


async def test_the_lists_are_read_again_on_the_interval(api: FakeApi):
    swarm = SwarmUI(api)
    p = await provider(api, refresh_seconds=0.05)
    swarm.models.append("New/model.safetensors")
    for _ in range(600):  # a guard against a hang, not a measure
        if "New/model.safetensors" in p.capabilities.models:
            break
        await asyncio.sleep(0.01)
    await p.close()
    assert "New/model.safetensors" in p.capabilities.models


async def test_a_bearer_key_goes_in_the_authorization_header(api: FakeApi):
    swarm = SwarmUI(api, token=None)
    p = await provider(api, key="proxy-key-31", key_as="bearer", keep_outputs=True)
    await run(p, width=64, height=64)
    await p.close()
    assert swarm.inputs
    assert {r.headers.get("Authorization") for r in api.requests} == {"Bearer proxy-key-31"}
    assert all("Cookie" not in r.headers for r in api.requests)


def test_a_cookie_token_that_would_break_the_header_is_refused():
    with pytest.raises(ProviderConfigError, match="swarm_user_token"):
        build_provider("swarmui", ProviderConfig("swarm", {}, "token; admin=1"))


@pytest.mark.parametrize(
    "models",
    [["a.safetensors", "b"], [["a.safetensors", "arch"], ["b", None]]],
)
def test_both_model_listing_shapes_are_read(models: list[Any]):
    catalog = read_catalog(
        {
            "list": [{"id": "steps", "min": 1, "max": 50, "step": 1}, {"id": "width"}, 7],
            "models": {"Stable-Diffusion": [*models, 3, "-----"], "LoRA": ["x/y.safetensors"]},
        }
    )
    assert catalog.models == ("a.safetensors", "b")
    assert catalog.loras == {"y": "x/y.safetensors"}
    assert catalog.range("steps").high == 50 and catalog.range("width").high == 16384


async def test_an_unreachable_server_is_unavailable_with_the_reason():
    p = build_provider(
        "swarmui", ProviderConfig("swarm", {"base_url": "http://127.0.0.1:9", "max_retries": 0})
    )
    await p.start()
    await p.close()
    assert p.unavailable is not None and "cannot connect" in p.unavailable


@pytest.mark.parametrize("path", [WS, "/API/GetNewSession"])
async def test_a_redirect_is_never_followed_to_another_host(api: FakeApi, path: str):
    other = FakeApi()
    await other.start()
    SwarmUI(api)
    api.fail(Fault(path, times=10, status=307, headers={"Location": f"{other.base}{path}"}))
    p = await provider(api, max_retries=0)
    with pytest.raises(ProviderError, match=r"redirect|307"):
        await run(p, width=64, height=64)
    await p.close()
    await other.stop()
    assert not other.requests


async def test_a_job_that_runs_out_of_time_interrupts_the_server(api: FakeApi):
    swarm = SwarmUI(api, seconds=5.0)
    p = await provider(api)
    request = p.prepare(GenerationRequest("x", seed=1, width=64, height=64))
    task = asyncio.create_task(p.generate(request, lambda _: None, CancelToken()))
    await asyncio.wait_for(swarm.running.wait(), 30)
    task.cancel()  # what the worker's time limit does
    with pytest.raises(asyncio.CancelledError):
        await task
    await p.close()
    assert len(swarm.interrupts) == 1


async def test_settings_naming_nothing_the_server_has_make_it_unavailable(api: FakeApi):
    SwarmUI(api)
    p = await provider(api, models=["Gone/model"])
    await p.close()
    assert p.unavailable is not None and "none of the models its settings list" in p.unavailable
    p = await provider(api, scheduler="nope")
    await p.close()
    assert p.unavailable is not None and "no scheduler 'nope' (it has normal, karras)" in (
        p.unavailable
    )


async def test_a_server_that_keeps_the_socket_alive_for_ever_meets_the_deadline(api: FakeApi):
    swarm = SwarmUI(api)

    async def forever(request: web.Request, body: Any) -> web.StreamResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.receive_json()
        while not ws.closed:  # queued, and queued, and queued...
            await ws.send_json({"status": {"waiting_gens": 1, "live_gens": 0}})
            await asyncio.sleep(0.02)
        return ws

    api.route("GET", WS, forever)
    p = await provider(api, deadline_seconds=0.5)
    request = p.prepare(GenerationRequest("x", seed=1, width=64, height=64))
    try:
        with pytest.raises(ProviderTimeout, match=r"did not finish within 0\.5 s"):
            # a guard against a hang, not a measure
            await asyncio.wait_for(p.generate(request, lambda _: None, CancelToken()), 30)
    finally:
        await p.close()
    assert swarm.interrupts  # its work is stopped on the server too
