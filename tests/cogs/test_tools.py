"""Each result image's tools: the panel, Vary (Subtle/Strong), Zoom Out (1.5×, 2×, custom),
Pan, Make Square and Edit, each queued as a job with the right mode, size and mask; refusals;
the panel after a restart."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.jobs import Job, JobStatus
from engine import Mode
from tests.cogs.conftest import ALICE, BOB, ELSEWHERE_CHANNEL, GENERAL, World, open_world
from tests.cogs.test_imagine import action_rows, buttons, result_fields, result_of
from tests.cogs.test_storage_limits import expire_all
from tests.fakes.discord import FakeInteraction, FakeMessage

# fake-v1 takes every tool; fake-v2 only img2img (no edit, no repaint, no outpaint).
TOOLS = {"edit": ["fake-v1"], "inpaint": ["fake-v1"], "outpaint": ["fake-v1"]}


@pytest.fixture
async def tools(tmp_path: Path, redirect: None) -> AsyncIterator[World]:
    async with open_world(tmp_path, fake=TOOLS) as opened:
        yield opened


async def imagined(world: World, **options: Any) -> FakeMessage:
    interaction = await world.fake.invoke(
        "imagine", {"prompt": "a fox", **options}, user=ALICE, channel=GENERAL
    )
    return await result_of(world, interaction)


async def said(interaction: FakeInteraction) -> str:
    """What a refused (or answered) interaction said to the member, privately."""
    await interaction.wait(
        lambda i: bool(
            (i.original and i.original.content and not i.original.loading)
            or (i.responses and (i.responses[0].get("data") or {}).get("content"))
        )
    )
    assert interaction.ephemeral
    if interaction.original is not None and interaction.original.content:
        return interaction.original.content
    return str(interaction.responses[0]["data"]["content"])


async def queued(world: World, interaction: FakeInteraction, job_id: int) -> Job:
    await result_of(world, interaction)
    job = await world.runtime.store.get(job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED
    return job


async def stored(world: World, job_id: int, index: int = 0) -> bytes:
    images = await world.runtime.store.images(job_id)
    return await asyncio.to_thread(Path(images[index].path).read_bytes)


def picture(data: bytes | None) -> Image.Image:
    assert data is not None
    with Image.open(io.BytesIO(data)) as opened:
        return opened.copy()


def same_picture(a: bytes | None, b: bytes | None) -> bool:
    """The same pixels (the service re-encodes every input image before queueing it)."""
    first, second = picture(a).convert("RGB"), picture(b).convert("RGB")
    return first.size == second.size and first.tobytes() == second.tobytes()


def png(width: int, height: int, colour: tuple[int, int, int] = (10, 200, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), colour).save(buffer, "PNG")
    return buffer.getvalue()


def forge(message: FakeMessage, custom_id: str) -> None:
    """A button the bot never put there, as a hand-made request would press it."""
    message.components.append(
        {"type": 1, "components": [{"type": 2, "style": 2, "label": "x", "custom_id": custom_id}]}
    )


async def test_a_single_image_carries_its_panel_and_several_get_a_tools_button_each(
    tools: World,
):
    one = await imagined(tools, width=512, height=256)
    assert {
        "img:u:1:0",
        "img:v:1:0",
        "img:s:1:0",
        "img:t:1:0",
        "img:g:1:0",
        "img:z:1:0:1.5",
        "img:z:1:0:2",
        "img:z:1:0:c",
        "img:q:1:0",
        "img:e:1:0",
        "img:n:1:0:l",
        "img:n:1:0:r",
        "img:n:1:0:u",
        "img:n:1:0:d",
        "img:r:1:0",
    } <= set(buttons(one))
    rows = action_rows(one)
    assert len(rows) <= 5 and all(len(row["components"]) <= 5 for row in rows)  # type: ignore[arg-type]

    square = await imagined(tools)
    assert "img:q:2:0" not in buttons(square)  # already square

    four = await imagined(tools, count=4)
    assert [c for c in buttons(four) if c.startswith("img:x:")] == [
        f"img:x:3:{index}" for index in range(4)
    ]
    assert not any(c.startswith(("img:s:", "img:z:")) for c in buttons(four))
    opened = await tools.fake.click(four.id, "img:x:3:2", user=ALICE)
    await opened.response()
    panel = opened.original
    assert panel is not None and panel.ephemeral and "image 3 of job #3" in panel.content
    [shown] = [file for file in four.attachments if file.filename == "3-2.png"]
    assert panel.embeds[0]["thumbnail"]["url"] == shown.url
    assert {"img:s:3:2", "img:g:3:2", "img:z:3:2:2", "img:n:3:2:u", "img:e:3:2"} <= set(
        buttons(panel)
    )
    assert "img:q:3:2" not in buttons(panel)
    assert not tools.fake.violations


async def test_a_model_without_a_mode_offers_none_of_its_tools(tools: World):
    result = await imagined(tools, model="fake:fake-v2")
    offered = buttons(result)
    assert {"img:s:1:0", "img:t:1:0"} <= set(offered)  # img2img it takes
    assert not any(
        c.startswith(("img:g:", "img:z:", "img:n:", "img:q:", "img:e:")) for c in offered
    )


@pytest.mark.parametrize(("custom_id", "strength"), [("img:s:1:0", 0.35), ("img:t:1:0", 0.75)])
async def test_vary_subtle_and_strong_are_img2img_of_that_image_at_their_strengths(
    tools: World, custom_id: str, strength: float
):
    result = await imagined(tools, count=1)
    first = await tools.runtime.store.get(1)
    job = await queued(tools, await tools.fake.click(result.id, custom_id, user=ALICE), 2)
    request = job.request
    assert request.mode is Mode.IMG2IMG and request.strength == strength
    assert same_picture(request.init_image, await stored(tools, 1))
    assert request.prompt == "a fox" and job.model == "fake-v1"
    assert first is not None and request.seed != first.request.seed


async def test_the_vary_strengths_are_the_owners_settings(tmp_path: Path, redirect: None):
    strengths = {"vary_subtle_strength": 0.2, "vary_strong_strength": 0.9}
    async with open_world(tmp_path, fake=TOOLS, defaults=strengths) as world:
        result = await imagined(world)
        await queued(world, await world.fake.click(result.id, "img:s:1:0", user=ALICE), 2)
        await queued(world, await world.fake.click(result.id, "img:t:1:0", user=ALICE), 3)
        subtle, strong = await world.runtime.store.get(2), await world.runtime.store.get(3)
        assert subtle is not None and subtle.request.strength == 0.2
        assert strong is not None and strong.request.strength == 0.9


async def test_zoom_out_centres_the_image_on_a_masked_canvas_within_the_models_size(
    tools: World,
):
    result = await imagined(tools)  # 512×512, the fake model's usual size
    zoomed = await result_of(tools, await tools.fake.click(result.id, "img:z:1:0:2", user=ALICE))
    fields = result_fields(zoomed)
    assert fields["Made with"] == "Zoom out 2× of image 1 of job #1"
    job = await tools.runtime.store.get(2)
    assert job is not None
    request = job.request
    assert request.mode is Mode.OUTPAINT and request.prompt == "a fox"
    canvas, mask = picture(request.init_image), picture(request.mask_image)
    assert canvas.size == mask.size == request.size == (512, 512)  # the pixel count kept
    assert mask.mode == "L"
    assert mask.getpixel((0, 0)) == 255 and mask.getpixel((511, 511)) == 255  # the padding
    assert mask.getpixel((256, 256)) == 0  # the kept image, shrunk to half its side
    assert canvas.getpixel((256, 256)) == picture(await stored(tools, 1)).getpixel((0, 0))


async def test_pan_left_widens_the_canvas_on_the_left(tools: World):
    result = await imagined(tools)
    job = await queued(tools, await tools.fake.click(result.id, "img:n:1:0:l", user=ALICE), 2)
    mask = picture(job.request.mask_image)
    width, height = mask.size
    assert job.request.mode is Mode.OUTPAINT
    assert (width, height) == (768, 512)  # half the image again, pixel for pixel
    assert mask.getpixel((0, height // 2)) == 255 and mask.getpixel((width - 1, height // 2)) == 0


async def test_make_square_pads_the_shorter_side(tools: World):
    result = await imagined(tools, width=512, height=256)
    job = await queued(tools, await tools.fake.click(result.id, "img:q:1:0", user=ALICE), 2)
    mask = picture(job.request.mask_image)
    width, height = mask.size
    assert width == height and job.request.size == (width, height)
    assert mask.getpixel((width // 2, 0)) == 255 and mask.getpixel((width // 2, height // 2)) == 0


async def test_custom_zoom_asks_for_a_factor_and_refuses_one_out_of_range(tools: World):
    result = await imagined(tools)
    clicked = await tools.fake.click(result.id, "img:z:1:0:c", user=ALICE)
    await clicked.response()
    assert clicked.modal is not None
    refused = await tools.fake.submit_modal(clicked, {"factor": "3"})
    assert "from 1 to 2" in await said(refused)
    again = await tools.fake.click(result.id, "img:z:1:0:c", user=ALICE)
    await again.response()
    nothing = await tools.fake.submit_modal(again, {"factor": "1"})
    assert "nothing to paint past the edges" in await said(nothing)
    assert len(await tools.jobs()) == 1 and await tools.used(ALICE) == 1

    again = await tools.fake.click(result.id, "img:z:1:0:c", user=ALICE)
    await again.response()
    job = await queued(tools, await tools.fake.submit_modal(again, {"factor": "1.25x"}), 2)
    mask = picture(job.request.mask_image)
    assert job.request.mode is Mode.OUTPAINT and mask.getpixel((0, 0)) == 255
    assert mask.getpixel((256, 256)) == 0
    assert "zoom out 1.25×" in job.target["tool"]


async def test_edit_asks_for_the_instruction_and_edits_that_image(tools: World):
    result = await imagined(tools, count=2)
    opened = await tools.fake.click(result.id, "img:x:1:1", user=ALICE)
    await opened.response()
    assert opened.original is not None
    clicked = await tools.fake.click(opened.original.id, "img:e:1:1", user=ALICE)
    await clicked.response()
    assert clicked.modal is not None
    submitted = await tools.fake.submit_modal(clicked, {"instruction": "make it night"})
    job = await queued(tools, submitted, 2)
    assert job.request.mode is Mode.EDIT and job.request.prompt == "make it night"
    assert same_picture(job.request.init_image, await stored(tools, 1, 1))
    assert job.model == "fake-v1"


async def test_a_forged_tool_button_is_refused_naming_the_models_that_can(tools: World):
    result = await imagined(tools, model="fake:fake-v2")
    for custom_id, words in (
        ("img:z:1:0:2", "can't paint past an image's edges"),
        ("img:e:1:0", "can't edit an image by instruction"),
    ):
        forge(result, custom_id)
        answer = await said(await tools.fake.click(result.id, custom_id, user=ALICE))
        assert words in answer and "fake:fake-v1" in answer and "fake:fake-v2" not in answer
    first = await imagined(tools)
    forge(first, "img:z:2:0:3")
    assert "not one this bot makes" in await said(
        await tools.fake.click(first.id, "img:z:2:0:3", user=ALICE)
    )
    assert len(await tools.jobs()) == 2


async def test_someone_elses_result_and_an_expired_one_are_refused(tools: World):
    result = await imagined(tools)
    for custom_id in ("img:s:1:0", "img:z:1:0:2", "img:e:1:0"):
        assert "Only the member" in await said(
            await tools.fake.click(result.id, custom_id, user=BOB)
        )
    await expire_all(tools)
    for custom_id in ("img:t:1:0", "img:n:1:0:u"):
        assert "has expired" in await said(await tools.fake.click(result.id, custom_id, user=ALICE))
    assert len(await tools.jobs()) == 1


async def test_the_panel_answers_after_a_restart(tools: World):
    result = await imagined(tools, count=2)
    await tools.bot.close()
    async with tools.restart() as (_, runtime):
        opened = await tools.fake.click(result.id, "img:x:1:0", user=ALICE)
        await opened.response()
        assert opened.original is not None
        zoomed = await tools.fake.click(opened.original.id, "img:z:1:0:1.5", user=ALICE)
        await result_of(tools, zoomed)
        job = await runtime.store.get(2)
        assert job is not None and job.status is JobStatus.SUCCEEDED
        assert job.request.mode is Mode.OUTPAINT and job.request.mask_image is not None


async def test_where_the_owner_allows_it_edit_falls_back_to_img2img(tmp_path: Path, redirect: None):
    limits = {"edit_falls_back_to_img2img": True}
    async with open_world(tmp_path, fake=TOOLS, limits=limits) as world:
        result = await imagined(world, model="fake:fake-v2")
        assert "img:e:1:0" in buttons(result)
        clicked = await world.fake.click(result.id, "img:e:1:0", user=ALICE)
        await clicked.response()
        job = await queued(world, await world.fake.submit_modal(clicked, {"instruction": "x"}), 2)
        assert job.request.mode is Mode.IMG2IMG and job.target["edit_fallback"]


@pytest.mark.parametrize("where", ["dm", "user install"])
async def test_the_tools_work_in_dms_and_as_a_user_installed_app(tools: World, where: str):
    if where == "dm":
        channel, by_user = tools.fake.dm_channel_of(ALICE), False
    else:
        channel, by_user = ELSEWHERE_CHANNEL, True
    options = {"prompt": "a fox", "count": 2}
    first = await tools.fake.invoke(
        "imagine", options, user=ALICE, channel=channel, installed_by_user=by_user
    )
    result = await result_of(tools, first)
    opened = await tools.fake.click(result.id, "img:x:1:1", user=ALICE)
    await opened.response()
    assert opened.original is not None
    zoomed = await tools.fake.click(opened.original.id, "img:z:1:1:2", user=ALICE)
    assert (await result_of(tools, zoomed)).files
    job = await tools.runtime.store.get(2)
    assert job is not None and job.request.mode is Mode.OUTPAINT
    assert not tools.fake.violations


async def test_a_form_opened_before_a_restart_is_answered_after_it(tools: World):
    result = await imagined(tools)
    edit = await tools.fake.click(result.id, "img:e:1:0", user=ALICE)
    zoom = await tools.fake.click(result.id, "img:z:1:0:c", user=ALICE)
    await edit.response()
    await zoom.response()
    await tools.bot.close()
    async with tools.restart() as (_, runtime):
        await result_of(tools, await tools.fake.submit_modal(edit, {"instruction": "snow"}))
        await result_of(tools, await tools.fake.submit_modal(zoom, {"factor": "1.5"}))
        edited, zoomed = await runtime.store.get(2), await runtime.store.get(3)
        assert edited is not None and edited.request.mode is Mode.EDIT
        assert edited.request.prompt == "snow"
        assert zoomed is not None and zoomed.request.mode is Mode.OUTPAINT


async def test_a_forged_form_is_held_to_the_same_checks(tools: World):
    result = await imagined(tools)
    clicked = await tools.fake.click(result.id, "img:e:1:0", user=ALICE)
    await clicked.response()
    assert clicked.modal is not None
    clicked.modal["custom_id"] = "imgf:z:1:0"  # the zoom form's id on the edit form's fields
    assert "from 1 to 2" in await said(
        await tools.fake.submit_modal(clicked, {"instruction": "snow"})
    )
    other = await tools.fake.click(result.id, "img:e:1:0", user=ALICE)
    await other.response()
    assert "Only the member" in await said(
        await tools.fake.submit_modal(other, {"instruction": "snow"}, user=BOB)
    )
    assert len(await tools.jobs()) == 1
