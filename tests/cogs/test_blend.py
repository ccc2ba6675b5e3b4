"""/blend and the "Use as reference" and "Use as pose" menus: what is queued, the refusals,
and the places they work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.jobs import Job
from engine import Mode
from engine.types import Control, ControlKind, Reference, ReferenceKind
from tests.cogs.conftest import ALICE, ELSEWHERE_CHANNEL, GENERAL, World, open_world
from tests.cogs.test_imagine import result_of
from tests.cogs.test_references import STEERED
from tests.cogs.test_tools import imagined, png, said, same_picture


@pytest.fixture
async def steered(tmp_path: Path, redirect: None) -> AsyncIterator[World]:
    async with open_world(tmp_path, fake=STEERED) as opened:
        yield opened


async def blended(world: World, channel: int = GENERAL, **options: Any) -> Job:
    interaction = await world.fake.invoke("blend", options, user=ALICE, channel=channel)
    await result_of(world, interaction)
    rows = await world.jobs()
    job = await world.runtime.store.get(rows[-1]["job_id"])
    assert job is not None
    return job


async def test_blend_mixes_the_images_as_style_references_of_weight_one(steered: World):
    pictures = [png(64, 64, (200, 0, 0)), png(80, 64, (0, 200, 0)), png(64, 80, (0, 0, 200))]
    job = await blended(
        steered,
        image1=steered.fake.add_attachment(pictures[0]),
        image2=steered.fake.add_attachment(pictures[1]),
        image3=steered.fake.add_attachment(pictures[2]),
        prompt="a lighthouse",
        aspect_ratio="16:9",
    )
    request = job.request
    assert request.mode is Mode.TXT2IMG and request.prompt == "a lighthouse"
    assert request.references == (Reference(ReferenceKind.STYLE, 1.0),) * 3
    width, height = request.size
    assert abs(width / height - 16 / 9) < 0.1
    drawn = steered.provider.calls[-1].reference_images
    assert all(same_picture(a, b) for a, b in zip(drawn, pictures, strict=True))
    assert not job.target["nsfw"]


async def test_blend_refuses_a_model_that_cant_and_offers_only_those_that_can(steered: World):
    choices = await steered.fake.autocomplete(
        "blend", {"model": "fake"}, focused="model", user=ALICE, channel=GENERAL
    )
    assert [choice["value"] for choice in choices] == ["fake:fake-v1"]
    interaction = await steered.fake.invoke(
        "blend",
        {
            "image1": steered.fake.add_attachment(png(64, 64)),
            "image2": steered.fake.add_attachment(png(64, 64)),
            "model": "fake:fake-v2",
            "prompt": "x",
        },
        user=ALICE,
        channel=GENERAL,
    )
    text = await said(interaction)
    assert "fake-v2 can't blend 2 images" in text and "fake:fake-v1" in text
    assert await steered.jobs() == []


async def test_blend_refuses_more_images_than_the_model_takes(tmp_path: Path, redirect: None):
    async with open_world(tmp_path, fake={**STEERED, "max_references": 2}) as world:
        interaction = await world.fake.invoke(
            "blend",
            {f"image{n}": world.fake.add_attachment(png(64, 64)) for n in (1, 2, 3)}
            | {"prompt": "x"},
            user=ALICE,
            channel=GENERAL,
        )
        assert "No model on this bot" in await said(interaction)
        assert await world.jobs() == []


async def test_blend_without_a_model_that_follows_references_says_so(world: World):
    interaction = await world.fake.invoke(
        "blend",
        {f"image{n}": world.fake.add_attachment(png(64, 64)) for n in (1, 2)},
        user=ALICE,
        channel=GENERAL,
    )
    assert "No model on this bot" in await said(interaction)


async def test_use_as_reference_asks_for_a_prompt_kind_and_weight(steered: World):
    photo = png(96, 64)
    posted = steered.fake.user_message(GENERAL, ALICE, files={"cat.png": photo})
    menu = await steered.fake.message_command(
        "Use as reference", posted.id, user=ALICE, channel=GENERAL
    )
    await menu.response()
    assert menu.modal is not None
    submitted = await steered.fake.submit_modal(
        menu, {"prompt": "a cat astronaut", "kind": "subject", "weight": "0,8"}
    )
    await result_of(steered, submitted)
    job = await steered.runtime.store.get(1)
    assert job is not None and job.request.mode is Mode.TXT2IMG
    assert job.request.prompt == "a cat astronaut"
    assert job.request.references == (Reference(ReferenceKind.SUBJECT, 0.8),)
    assert same_picture(steered.provider.calls[-1].reference_images[0], photo)
    assert not job.target["nsfw"]


async def test_use_as_reference_refuses_a_bad_weight(steered: World):
    posted = steered.fake.user_message(GENERAL, ALICE, files={"cat.png": png(64, 64)})
    menu = await steered.fake.message_command(
        "Use as reference", posted.id, user=ALICE, channel=GENERAL
    )
    await menu.response()
    submitted = await steered.fake.submit_modal(menu, {"prompt": "x", "weight": "3"})
    assert "use a weight from 0 to 2" in await said(submitted)
    assert await steered.jobs() == []


async def test_use_as_pose_follows_the_pose_of_a_result(steered: World):
    result = await imagined(steered)
    menu = await steered.fake.message_command("Use as pose", result.id, user=ALICE, channel=GENERAL)
    await menu.response()
    await result_of(steered, await steered.fake.submit_modal(menu, {"prompt": "a dancer"}))
    job = await steered.runtime.store.get(2)
    assert job is not None and job.request.control == Control(ControlKind.POSE)
    assert job.request.prompt == "a dancer"
    assert steered.provider.calls[-1].control_image is not None


async def test_the_menus_refuse_a_message_without_an_image_or_a_bot_without_a_model(
    world: World,
):
    text = world.fake.user_message(GENERAL, ALICE, "no picture here")
    refused = await world.fake.message_command(
        "Use as reference", text.id, user=ALICE, channel=GENERAL
    )
    assert "no image to use as a reference" in await said(refused)
    posted = world.fake.user_message(GENERAL, ALICE, files={"a.png": png(64, 64)})
    refused = await world.fake.message_command(
        "Use as pose", posted.id, user=ALICE, channel=GENERAL
    )
    assert "No model on this bot can follow a pose" in await said(refused)


@pytest.mark.parametrize("where", ["dm", "user install"])
async def test_blend_and_the_menus_work_in_dms_and_as_a_user_installed_app(
    steered: World, where: str
):
    if where == "dm":
        channel, by_user = steered.fake.dm_channel_of(ALICE), False
    else:
        channel, by_user = ELSEWHERE_CHANNEL, True
    interaction = await steered.fake.invoke(
        "blend",
        {f"image{n}": steered.fake.add_attachment(png(64, 64)) for n in (1, 2)} | {"prompt": "x"},
        user=ALICE,
        channel=channel,
        installed_by_user=by_user,
    )
    assert (await result_of(steered, interaction)).files
    posted = steered.fake.user_message(channel, ALICE, files={"a.png": png(64, 64)})
    for name in ("Use as reference", "Use as pose"):
        menu = await steered.fake.message_command(
            name, posted.id, user=ALICE, channel=channel, installed_by_user=by_user
        )
        await menu.response()
        submitted = await steered.fake.submit_modal(menu, {"prompt": "y"})
        assert (await result_of(steered, submitted)).files
    assert not steered.fake.violations


async def test_blend_needs_no_prompt(steered: World):
    job = await blended(
        steered,
        image1=steered.fake.add_attachment(png(64, 64)),
        image2=steered.fake.add_attachment(png(64, 64, (0, 0, 0))),
    )
    assert job.request.prompt == "" and len(job.request.references) == 2
    assert job.request.size == (512, 512)  # 1:1 at the model's usual pixel count


async def test_use_as_pose_takes_an_embeds_picture_from_discord_only(steered: World):
    elsewhere = steered.fake.user_message(GENERAL, ALICE, "look")
    elsewhere.embeds = [{"type": "rich", "image": {"url": "http://127.0.0.1:1/internal.png"}}]
    menu = await steered.fake.message_command(
        "Use as pose", elsewhere.id, user=ALICE, channel=GENERAL
    )
    await menu.response()
    refused = await steered.fake.submit_modal(menu, {"prompt": "a dancer"})
    assert "uploaded to Discord" in await said(refused)
    assert await steered.jobs() == []
