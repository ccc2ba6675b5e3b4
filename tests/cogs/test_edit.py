"""/edit and the "Edit image" message menu: the instruction, the images, the model, refusals, and
the places they work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.jobs import Job
from engine import Mode
from tests.cogs.conftest import ALICE, ELSEWHERE_CHANNEL, GENERAL, World, open_world
from tests.cogs.test_imagine import result_of
from tests.cogs.test_tools import TOOLS, imagined, png, said, same_picture


@pytest.fixture
async def tools(tmp_path: Path, redirect: None) -> AsyncIterator[World]:
    async with open_world(tmp_path, fake=TOOLS) as opened:
        yield opened


async def edited(world: World, **options: object) -> Job:
    interaction = await world.fake.invoke(
        "edit", {"instruction": "make it night", **options}, user=ALICE, channel=GENERAL
    )
    await result_of(world, interaction)
    [row] = await world.jobs()
    job = await world.runtime.store.get(row["job_id"])
    assert job is not None
    return job


async def test_edit_changes_the_attached_image_as_the_instruction_says(tools: World):
    photo = png(300, 200)
    job = await edited(tools, image=tools.fake.add_attachment(photo))
    request = job.request
    assert request.mode is Mode.EDIT and request.prompt == "make it night"
    assert same_picture(request.init_image, photo) and request.extra_images == ()
    assert job.model == "fake-v1"
    width, height = request.size  # the photo's shape at the model's usual pixel count
    assert width % 8 == height % 8 == 0 and abs(width / height - 1.5) < 0.02
    assert width * height <= 512 * 512 * 1.05
    assert not job.target["nsfw"]  # a member's upload is edited SFW, always


async def test_edit_takes_further_images_where_the_model_does(tmp_path: Path, redirect: None):
    async with open_world(tmp_path, fake={**TOOLS, "max_input_images": 3}) as world:
        logo, mug = png(64, 64, (200, 0, 0)), png(128, 96)
        job = await edited(
            world,
            image=world.fake.add_attachment(mug),
            image2=world.fake.add_attachment(logo, "logo.png"),
            instruction="put this logo on the mug",
            strength=0.8,
        )
        assert same_picture(job.request.init_image, mug)
        [extra] = job.request.extra_images
        assert same_picture(extra, logo)
        assert job.request.strength == 0.8


async def test_edit_refuses_more_images_than_the_model_takes(tools: World):
    interaction = await tools.fake.invoke(
        "edit",
        {
            "instruction": "x",
            "image": tools.fake.add_attachment(png(64, 64)),
            "image2": tools.fake.add_attachment(png(64, 64)),
        },
        user=ALICE,
        channel=GENERAL,
    )
    assert "takes 1 image per edit" in await said(interaction)
    assert await tools.jobs() == [] and await tools.used(ALICE) == 0


async def test_edit_offers_and_takes_only_models_that_edit(tools: World):
    choices = await tools.fake.autocomplete(
        "edit", {"instruction": "x", "model": "fake"}, focused="model", user=ALICE, channel=GENERAL
    )
    assert [choice["value"] for choice in choices] == ["fake:fake-v1"]
    interaction = await tools.fake.invoke(
        "edit",
        {
            "instruction": "x",
            "image": tools.fake.add_attachment(png(64, 64)),
            "model": "fake:fake-v2",
        },
        user=ALICE,
        channel=GENERAL,
    )
    answer = await said(interaction)
    assert "fake-v2 can't edit an image by instruction" in answer and "fake:fake-v1" in answer
    assert await tools.jobs() == []


async def test_edit_without_an_edit_model_says_so(world: World):
    interaction = await world.fake.invoke(
        "edit",
        {"instruction": "x", "image": world.fake.add_attachment(png(64, 64))},
        user=ALICE,
        channel=GENERAL,
    )
    assert "No model on this bot edits images" in await said(interaction)


async def test_the_edit_image_menu_asks_for_the_instruction(tools: World):
    photo = png(96, 64)
    posted = tools.fake.user_message(GENERAL, ALICE, files={"cat.png": photo})
    menu = await tools.fake.message_command("Edit image", posted.id, user=ALICE, channel=GENERAL)
    await menu.response()
    assert menu.modal is not None
    await result_of(tools, await tools.fake.submit_modal(menu, {"instruction": "add a hat"}))
    job = await tools.runtime.store.get(1)
    assert job is not None and job.request.mode is Mode.EDIT
    assert job.request.prompt == "add a hat" and same_picture(job.request.init_image, photo)


async def test_the_edit_image_menu_works_on_a_result_and_refuses_a_message_without_one(
    tools: World,
):
    result = await imagined(tools)
    menu = await tools.fake.message_command("Edit image", result.id, user=ALICE, channel=GENERAL)
    await menu.response()
    await result_of(tools, await tools.fake.submit_modal(menu, {"instruction": "snow"}))
    job = await tools.runtime.store.get(2)
    assert job is not None and job.request.mode is Mode.EDIT

    text = tools.fake.user_message(GENERAL, ALICE, "no picture here")
    refused = await tools.fake.message_command("Edit image", text.id, user=ALICE, channel=GENERAL)
    assert "no image to edit" in await said(refused)


@pytest.mark.parametrize("where", ["dm", "user install"])
async def test_edit_works_in_dms_and_as_a_user_installed_app(tools: World, where: str):
    if where == "dm":
        channel, by_user = tools.fake.dm_channel_of(ALICE), False
    else:
        channel, by_user = ELSEWHERE_CHANNEL, True
    interaction = await tools.fake.invoke(
        "edit",
        {"instruction": "make it night", "image": tools.fake.add_attachment(png(64, 64))},
        user=ALICE,
        channel=channel,
        installed_by_user=by_user,
    )
    result = await result_of(tools, interaction)
    assert result.files
    posted = tools.fake.user_message(channel, ALICE, files={"a.png": png(64, 64)})
    menu = await tools.fake.message_command(
        "Edit image", posted.id, user=ALICE, channel=channel, installed_by_user=by_user
    )
    await menu.response()
    assert (await result_of(tools, await tools.fake.submit_modal(menu, {"instruction": "y"}))).files
    assert not tools.fake.violations


async def test_the_edit_image_menu_takes_an_embeds_picture_from_discord_only(tools: World):
    photo = png(80, 64)
    hosted = tools.fake.add_attachment(photo)
    posted = tools.fake.user_message(GENERAL, ALICE, "look")
    posted.embeds = [{"type": "rich", "image": {"url": hosted["url"]}}]
    menu = await tools.fake.message_command("Edit image", posted.id, user=ALICE, channel=GENERAL)
    await menu.response()
    await result_of(tools, await tools.fake.submit_modal(menu, {"instruction": "add a hat"}))
    job = await tools.runtime.store.get(1)
    assert job is not None and same_picture(job.request.init_image, photo)

    elsewhere = tools.fake.user_message(GENERAL, ALICE, "look")
    elsewhere.embeds = [{"type": "rich", "image": {"url": "http://127.0.0.1:1/internal.png"}}]
    menu = await tools.fake.message_command("Edit image", elsewhere.id, user=ALICE, channel=GENERAL)
    await menu.response()
    refused = await tools.fake.submit_modal(menu, {"instruction": "add a hat"})
    assert "uploaded to Discord" in await said(refused)
    assert len(await tools.jobs()) == 1
