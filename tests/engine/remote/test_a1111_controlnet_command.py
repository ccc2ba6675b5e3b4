"""/imagine with a control image and references on A1111/Forge, through the fake Discord, the
queue and the fake web UI with its ControlNet extension: the units reach the web UI, the
detected map comes back as the result's preview and never as one of its images."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.jobs import JobStatus
from bot.settings import Secrets
from engine.types import Control, ControlKind, Reference, ReferenceKind
from tests.cogs.conftest import ALICE, GENERAL, World, open_world
from tests.cogs.test_imagine import result_files, result_of, result_thumbnail
from tests.cogs.test_tools import picture, png, said
from tests.engine.remote.fake_controlnet import ControlNetExtension
from tests.engine.remote.test_a1111 import PASSWORD, Forge
from tests.fakes.http_api import FakeApi

MODEL = "forge:dreamshaper_8.safetensors"


async def forge_world(
    tmp_path: Path, api: FakeApi, controlnet: bool
) -> AsyncIterator[tuple[World, ControlNetExtension | None]]:
    web_ui = Forge(api)  # answering before the bot starts: it detects the extension then
    extension = ControlNetExtension(api, web_ui) if controlnet else None
    forge = {"kind": "a1111", "base_url": api.base, "username": "owner", "progress_seconds": 0.05}
    secrets = Secrets(provider_keys={"forge": SecretStr(PASSWORD)})
    async with open_world(tmp_path, secrets=secrets, providers={"forge": forge}) as world:
        yield world, extension


@pytest.fixture
async def with_controlnet(
    tmp_path: Path, redirect: None, api: FakeApi
) -> AsyncIterator[tuple[World, ControlNetExtension]]:
    async for world, extension in forge_world(tmp_path, api, controlnet=True):
        assert extension is not None
        yield world, extension


@pytest.fixture
async def without_controlnet(tmp_path: Path, redirect: None, api: FakeApi) -> AsyncIterator[World]:
    async for world, _ in forge_world(tmp_path, api, controlnet=False):
        yield world


async def test_imagine_with_a_pose_on_forge_shows_the_detected_map_as_a_preview(
    with_controlnet: tuple[World, ControlNetExtension], api: FakeApi
):
    world, extension = with_controlnet
    interaction = await world.fake.invoke(
        "imagine",
        {
            "prompt": "a dancer",
            "model": MODEL,
            "width": 512,
            "height": 384,
            "count": 2,
            "control": world.fake.add_attachment(png(96, 64, (10, 200, 30))),
            "control_type": "pose",
            "control_strength": 0.7,
            "control_start": 0.1,
            "control_end": 0.8,
        },
        user=ALICE,
        channel=GENERAL,
    )
    result = await result_of(world, interaction)
    job = await world.runtime.store.get(1)
    assert job is not None and job.status is JobStatus.SUCCEEDED, job
    assert job.request.control == Control(ControlKind.POSE, 0.7, 0.1, 0.8)
    (unit,) = extension.units[0]
    assert (unit["module"], unit["model"]) == (
        "openpose_full",
        "control_v11p_sd15_openpose [cab727d4]",
    )
    assert (unit["weight"], unit["guidance_start"], unit["guidance_end"]) == (0.7, 0.1, 0.8)
    assert [name for name in result.files if not name.endswith("-map.png")] == [
        "1-0.png",
        "1-1.png",
    ]
    assert result_thumbnail(result) == "1-map.png"
    shown = picture(result.files["1-map.png"])
    assert shown.getpixel((0, 0)) == (245, 55, 225)  # the control image inverted: the fake's map
    assert not world.fake.violations


async def test_imagine_with_references_on_forge_sends_ip_adapter_units(
    with_controlnet: tuple[World, ControlNetExtension],
):
    world, extension = with_controlnet
    interaction = await world.fake.invoke(
        "imagine",
        {
            "prompt": "a castle",
            "model": MODEL,
            "sref": world.fake.add_attachment(png(64, 64, (200, 0, 0))),
            "sref_weight": 0.5,
            "oref": world.fake.add_attachment(png(64, 64, (0, 0, 200)), "cat.png"),
        },
        user=ALICE,
        channel=GENERAL,
    )
    result = await result_of(world, interaction)
    job = await world.runtime.store.get(1)
    assert job is not None and job.status is JobStatus.SUCCEEDED, job
    assert job.request.references == (
        Reference(ReferenceKind.STYLE, 0.5),
        Reference(ReferenceKind.SUBJECT, 1.0),
    )
    assert [(u["model"], u["weight"]) for u in extension.units[0]] == [
        ("ip-adapter_sd15 [6a3f6166]", 0.5),
        ("ip-adapter-plus_sd15 [836b5c2e]", 1.0),
    ]
    assert result_files(result) == ["1-0.png"] and result_thumbnail(result) is None


async def test_without_the_extension_forge_refuses_a_control_before_queueing(
    without_controlnet: World, api: FakeApi
):
    world = without_controlnet
    interaction = await world.fake.invoke(
        "imagine",
        {
            "prompt": "a dancer",
            "model": MODEL,
            "control": world.fake.add_attachment(png(64, 64)),
            "control_type": "depth",
        },
        user=ALICE,
        channel=GENERAL,
    )
    text = await said(interaction)
    assert "can't follow" in text
    assert not await world.jobs() and not api.calls("/sdapi/v1/txt2img")


async def test_blend_on_forge_is_one_style_unit_per_image_within_its_units(
    with_controlnet: tuple[World, ControlNetExtension],
):
    world, extension = with_controlnet
    colours = [(200, 0, 0), (0, 200, 0), (0, 0, 200), (9, 9, 9)]
    interaction = await world.fake.invoke(
        "blend",
        {
            "model": MODEL,
            "prompt": "a lighthouse",
            **{
                f"image{k + 1}": world.fake.add_attachment(png(64, 64, colour))
                for k, colour in enumerate(colours[:3])
            },
        },
        user=ALICE,
        channel=GENERAL,
    )
    await result_of(world, interaction)
    job = await world.runtime.store.get(1)
    assert job is not None and job.status is JobStatus.SUCCEEDED, job
    assert [(u["model"], u["weight"]) for u in extension.units[0]] == [
        ("ip-adapter_sd15 [6a3f6166]", 1.0)
    ] * 3
    # the web UI takes 3 units: a fourth image is refused, naming why, before queueing
    four = await world.fake.invoke(
        "blend",
        {
            "model": MODEL,
            "prompt": "a lighthouse",
            **{
                f"image{k + 1}": world.fake.add_attachment(png(64, 64, colour))
                for k, colour in enumerate(colours)
            },
        },
        user=ALICE,
        channel=GENERAL,
    )
    assert "can blend 4 images" in await said(four)
    assert len(await world.jobs()) == 1


async def test_a_reroll_on_forge_sends_the_same_control_and_reference_again(
    with_controlnet: tuple[World, ControlNetExtension],
):
    world, extension = with_controlnet
    interaction = await world.fake.invoke(
        "imagine",
        {
            "prompt": "a fox",
            "model": MODEL,
            "sref": world.fake.add_attachment(png(64, 64, (200, 0, 0))),
            "control": world.fake.add_attachment(png(64, 64, (9, 9, 9))),
            "control_type": "canny",
        },
        user=ALICE,
        channel=GENERAL,
    )
    result = await result_of(world, interaction)
    rerolled = await result_of(world, await world.fake.click(result.id, "img:r:1:0", user=ALICE))
    job = await world.runtime.store.get(2)
    assert job is not None and job.status is JobStatus.SUCCEEDED, job
    first, second = extension.units
    assert [(u["module"], u["model"]) for u in second] == [(u["module"], u["model"]) for u in first]
    assert second[0]["image"] == first[0]["image"] and second[1]["image"] == first[1]["image"]
    assert result_thumbnail(rerolled) == "2-map.png"
