"""A result made on A1111/Forge taken through its tools in the fake Discord: Zoom Out, Make
Square and Vary (Region) reach the web UI as img2img with the image or canvas and its mask;
Edit is not offered."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.jobs import JobStatus
from bot.settings import Secrets
from engine import Mode
from tests.cogs.conftest import ALICE, GENERAL, World, open_world
from tests.cogs.test_imagine import buttons, result_of
from tests.cogs.test_region import option, preview_of, region_choice
from tests.engine.remote.test_a1111 import PASSWORD, Forge, levels
from tests.fakes.http_api import FakeApi

MODEL = "forge:dreamshaper_8.safetensors"


@pytest.fixture
async def forge_world(
    tmp_path: Path, redirect: None, api: FakeApi
) -> AsyncIterator[tuple[World, Forge]]:
    web_ui = Forge(api)  # answering before the bot starts: it discovers the models then
    forge = {"kind": "a1111", "base_url": api.base, "username": "owner", "progress_seconds": 0.05}
    secrets = Secrets(provider_keys={"forge": SecretStr(PASSWORD)})
    async with open_world(tmp_path, secrets=secrets, providers={"forge": forge}) as world:
        yield world, web_ui


async def test_zoom_out_on_an_a1111_result_outpaints_its_canvas(
    forge_world: tuple[World, Forge], api: FakeApi
):
    world, web_ui = forge_world
    first = await world.fake.invoke(
        "imagine",
        {"prompt": "a lighthouse", "model": MODEL, "width": 512, "height": 384},
        user=ALICE,
        channel=GENERAL,
    )
    result = await result_of(world, first)
    offered = buttons(result)
    assert {"img:s:1:0", "img:z:1:0:2", "img:n:1:0:l", "img:q:1:0"} <= set(offered)
    assert "img:e:1:0" not in offered  # the web UI has no edit by instruction

    zoomed = await world.fake.click(result.id, "img:z:1:0:2", user=ALICE)
    await result_of(world, zoomed)
    job = await world.runtime.store.get(2)
    assert job is not None and job.status is JobStatus.SUCCEEDED, job
    assert job.request.mode is Mode.OUTPAINT and job.provider == "forge"
    body = api.calls("/sdapi/v1/img2img")[0].body
    assert (body["inpainting_fill"], body["inpaint_full_res"], body["inpainting_mask_invert"]) == (
        2,
        False,
        0,
    )
    assert (body["width"], body["height"]) == job.request.size
    mask = web_ui.masks[0]
    assert levels(mask) == {0, 255} and mask.size == job.request.size
    width, height = mask.size
    assert mask.getpixel((0, 0)) == 255 and mask.getpixel((width // 2, height // 2)) == 0
    assert not world.fake.violations


async def test_make_square_on_an_a1111_result_pads_the_shorter_side(
    forge_world: tuple[World, Forge], api: FakeApi
):
    world, web_ui = forge_world
    first = await world.fake.invoke(
        "imagine",
        {"prompt": "a lighthouse", "model": MODEL, "width": 512, "height": 256},
        user=ALICE,
        channel=GENERAL,
    )
    result = await result_of(world, first)
    squared = await world.fake.click(result.id, "img:q:1:0", user=ALICE)
    message = await result_of(world, squared)
    job = await world.runtime.store.get(2)
    assert job is not None and job.status is JobStatus.SUCCEEDED, job
    width, height = job.request.size
    assert width == height and web_ui.masks[0].size == (width, height)
    assert web_ui.masks[0].getpixel((width // 2, 0)) == 255  # the new top band
    assert web_ui.masks[0].getpixel((width // 2, height // 2)) == 0  # the image kept
    assert message.attachments


async def test_vary_region_on_an_a1111_result_repaints_the_chosen_part(
    forge_world: tuple[World, Forge], api: FakeApi
):
    world, web_ui = forge_world
    first = await world.fake.invoke(
        "imagine", {"prompt": "a fox", "model": MODEL}, user=ALICE, channel=GENERAL
    )
    result = await result_of(world, first)
    choice = await region_choice(world, result)
    assert choice.original is not None
    picked = await world.fake.select(choice.original.id, "region:1:0", ["left"], user=ALICE)
    preview = await preview_of(picked)
    confirmed = await world.fake.click(preview.id, option(preview, "y"), user=ALICE)
    repainted = await result_of(world, confirmed)
    job = await world.runtime.store.get(2)
    assert job is not None and job.status is JobStatus.SUCCEEDED, job
    assert job.request.mode is Mode.INPAINT and job.request.prompt == "a fox"
    body = api.calls("/sdapi/v1/img2img")[0].body
    assert (body["inpainting_fill"], body["inpaint_full_res"], body["inpainting_mask_invert"]) == (
        1,
        True,
        0,
    )
    mask = web_ui.masks[0]
    assert mask.getpixel((10, 256)) == 255 and mask.getpixel((500, 256)) == 0
    assert repainted.attachments and not world.fake.violations
