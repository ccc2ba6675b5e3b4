"""/imagine on a SwarmUI server, through the fake Discord, the queue and the fake SwarmUI: the
server's models and LoRAs fill autocomplete, its ranges refuse a request before it is queued,
and a job's images come back over the WebSocket route."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.jobs import JobStatus
from bot.settings import Secrets
from tests.cogs.conftest import ALICE, GENERAL, World, open_world
from tests.cogs.test_imagine import result_of
from tests.cogs.test_tools import picture, said
from tests.engine.remote.fake_swarmui import MODELS, TOKEN, SwarmUI
from tests.fakes.http_api import FakeApi

MODEL = f"swarm:{MODELS[0]}"


@pytest.fixture
def swarm(api: FakeApi) -> SwarmUI:
    return SwarmUI(api)


@pytest.fixture
async def world(
    tmp_path: Path, redirect: None, api: FakeApi, swarm: SwarmUI
) -> AsyncIterator[World]:
    # the fake answers before the bot starts: the provider reads the lists then
    swarm = {"kind": "swarmui", "base_url": api.base, "refresh_seconds": 0}
    secrets = Secrets(provider_keys={"swarm": SecretStr(TOKEN)})
    async with open_world(tmp_path, secrets=secrets, providers={"swarm": swarm}) as opened:
        yield opened


async def test_imagine_on_swarmui_streams_the_images_back(world: World, swarm: SwarmUI):
    interaction = await world.fake.invoke(
        "imagine",
        {
            "prompt": "a lighthouse at dusk",
            "model": MODEL,
            "width": 512,
            "height": 384,
            "count": 2,
            "seed": 40,
            "loras": "ink-wash:0.6",
        },
        user=ALICE,
        channel=GENERAL,
    )
    result = await result_of(world, interaction)
    job = await world.runtime.store.get(1)
    assert job is not None and job.status is JobStatus.SUCCEEDED, job
    [sent] = swarm.inputs
    assert (sent["model"], sent["seed"], sent["images"]) == (MODELS[0], 40, 2)
    assert (sent["loras"], sent["loraweights"]) == (["styles/ink-wash"], ["0.6"])
    assert sorted(result.files) == ["1-0.png", "1-1.png"]
    shown = picture(result.files["1-1.png"])
    assert shown.size == (512, 384) and shown.getpixel((0, 0)) == (41, 0, 0)
    assert not world.fake.violations


async def test_models_and_loras_autocomplete_from_the_server(world: World):
    models = await world.fake.autocomplete(
        "imagine", {"prompt": "x", "model": "flux"}, focused="model", user=ALICE, channel=GENERAL
    )
    assert [choice["value"] for choice in models] == [f"swarm:{MODELS[1]}"]
    loras = await world.fake.autocomplete(
        "imagine",
        {"prompt": "x", "model": MODEL, "loras": "al"},
        focused="loras",
        user=ALICE,
        channel=GENERAL,
    )
    assert [choice["value"] for choice in loras] == ["alex:1"]


async def test_a_size_off_the_servers_step_is_refused_before_queueing(world: World, api: FakeApi):
    interaction = await world.fake.invoke(
        "imagine",
        {"prompt": "x", "model": MODEL, "width": 520, "height": 512},
        user=ALICE,
        channel=GENERAL,
    )
    assert "use a multiple of 32 from 64 to 2048" in await said(interaction)
    assert not await world.jobs() and not api.calls("/API/GenerateText2ImageWS")
