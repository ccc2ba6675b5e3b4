"""Results as cards (layout components): the gallery, the prompt and parameters, the same
stateless buttons, the split for size, the follow-up and DM paths, and the embed form when
the owner turns cards off. The fake Discord checks every card against Discord's limits."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.members import Preferences
from tests.cogs.conftest import (
    ADULT,
    ALICE,
    ELSEWHERE,
    ELSEWHERE_CHANNEL,
    GENERAL,
    World,
    open_world,
)
from tests.cogs.test_references import STEERED
from tests.cogs.test_tools import TOOLS, png
from tests.fakes.discord import FakeInteraction, FakeMessage
from tests.fakes.discord.layout import MAX_COMPONENTS, MAX_TEXT, count, texts
from tests.fakes.discord.rules import walk

JOB = re.compile(r"Job #(\d+)")
CARDS = {"result_cards": True}


@pytest.fixture
async def world(tmp_path: Path, redirect: None) -> AsyncIterator[World]:
    async with open_world(tmp_path, discord=CARDS) as opened:
        yield opened


async def card_of(world: World, interaction: FakeInteraction) -> FakeMessage:
    """The first message of the result of the job this interaction queued."""
    await interaction.wait(lambda i: bool(i.original and JOB.search(i.original.content)), 15)
    assert interaction.original is not None
    head = f"**Job #{JOB.search(interaction.original.content)[1]}**"  # type: ignore[index]

    def posted() -> FakeMessage | None:
        for message in world.fake._messages.values():
            if not message.deleted and any(text.startswith(head) for text in message.texts):
                return message
        return None

    await world.fake.wait_for(lambda: posted() is not None, 15)
    found = posted()
    assert found is not None
    return found


def custom_ids(message: FakeMessage) -> list[str]:
    return [c["custom_id"] for c in walk(message.components) if "custom_id" in c]


def labels(message: FakeMessage) -> list[str]:
    return [c.get("label", "") for c in walk(message.components) if c.get("type") == 2]


def within_limits(message: FakeMessage) -> bool:
    text = sum(len(t) for t in texts(message.components))
    return count(message.components) <= MAX_COMPONENTS and text <= MAX_TEXT


async def imagine(world: World, prompt: str = "a fox", **options: Any) -> FakeInteraction:
    return await world.fake.invoke(
        "imagine", {"prompt": prompt, **options}, user=ALICE, channel=GENERAL
    )


async def test_a_result_is_a_card_with_its_images_prompt_parameters_and_buttons(world: World):
    interaction = await imagine(world, "a lighthouse at dusk", count=2, guidance=6.5)
    card = await card_of(world, interaction)

    assert card.layout and card.content == "" and card.embeds == []
    assert card.via == "channel" and card.nonce == "job-1" and card.channel_id == GENERAL
    mention, prompt, parameters = card.texts
    assert mention.startswith(f"<@{ALICE}>") and card.pinged == {f"user:{ALICE}"}
    assert prompt == "**Job #1**\na lighthouse at dusk"
    assert "**Model** fake-v1" in parameters and "**Size** 512×512" in parameters
    assert "**Guidance** 6.5" in parameters and "**Seeds** " in parameters
    assert [stored.filename for stored in card.gallery] == ["1-0.png", "1-1.png"]
    assert card.hidden_files == []  # every file it carries shows
    [gallery] = [c for c in walk(card.components) if c.get("type") == 12]
    assert [item["description"] for item in gallery["items"]] == [
        "Image 1 of job #1",
        "Image 2 of job #1",
    ]
    container = card.components[1]
    assert container["type"] == 17 and container["accent_color"] == 0x5865F2
    assert labels(card)[:4] == ["U1", "U2", "V1", "V2"]
    assert {"img:u:1:0", "img:v:1:1", "img:r:1:0", "img:d:1:0"} <= set(custom_ids(card))
    assert within_limits(card) and not world.fake.violations


async def test_a_card_s_buttons_work_as_before(world: World):
    card = await card_of(world, await imagine(world, count=2))

    upscale = await world.fake.click(card.id, "img:u:1:1", user=ALICE)
    upscaled = await card_of(world, upscale)
    job = await world.runtime.store.get(2)
    assert job is not None and job.request.mode.value == "upscale"
    assert upscaled.layout and [s.filename for s in upscaled.gallery] == ["2-0.png"]

    variation = await world.fake.click(card.id, "img:v:1:0", user=ALICE)
    await card_of(world, variation)
    varied = await world.runtime.store.get(3)
    assert varied is not None and varied.request.mode.value == "img2img"

    deleted = await world.fake.click(card.id, "img:d:1:0", user=ALICE)
    await world.fake.wait_for(lambda: card.deleted)
    assert deleted.responses and not world.fake.violations


async def test_four_images_fill_one_gallery_with_all_their_buttons(world: World):
    card = await card_of(world, await imagine(world, count=4))
    assert [s.filename for s in card.gallery] == [f"1-{i}.png" for i in range(4)]
    assert [label for label in labels(card) if label[:1] in "UV"] == [
        *(f"U{i}" for i in range(1, 5)),
        *(f"V{i}" for i in range(1, 5)),
    ]
    assert within_limits(card) and not world.fake.violations


async def test_a_single_image_carries_its_whole_tool_panel_within_the_limits(world: World):
    card = await card_of(world, await imagine(world))
    rows = [c for c in walk(card.components) if c.get("type") == 1]
    assert len(rows) >= 2 and all(1 <= len(row["components"]) <= 5 for row in rows)
    assert within_limits(card) and not world.fake.violations


async def test_a_result_too_large_for_one_message_is_split_into_cards(
    tmp_path: Path, redirect: None
):
    async with open_world(tmp_path, fake_options={"upload_limit": 2500}, discord=CARDS) as world:
        card = await card_of(world, await imagine(world, count=4))
        parts = world.fake.messages
        await world.fake.wait_for(lambda: sum(len(m.gallery) for m in parts) == 4)
        assert len(parts) >= 2 and parts[0] is card
        assert [m.nonce for m in parts] == ["job-1"] + [f"job-1-{i}" for i in range(1, len(parts))]
        assert all(m.layout and m.hidden_files == [] for m in parts)
        assert all(sum(map(len, m.files.values())) <= 2500 for m in parts)
        assert parts[-1].texts == [f"-# Job #1, part {len(parts)} of {len(parts)}"]
        assert sorted(s.filename for m in parts for s in m.gallery) == [
            f"1-{i}.png" for i in range(4)
        ]
        assert "img:u:1:3" in custom_ids(card)  # every button stays on the first
        assert not world.fake.violations


async def test_with_cards_off_the_result_is_the_embed_beside_the_files(
    tmp_path: Path, redirect: None
):
    async with open_world(tmp_path, discord={"result_cards": False}) as world:
        interaction = await imagine(world, count=2)
        await interaction.wait(lambda i: bool(world.fake.messages), 15)
        await world.fake.wait_for(lambda: bool(world.fake.messages[0].files))
        [result] = world.fake.messages
        assert not result.layout and result.embeds[0]["author"]["name"] == "Job #1"
        assert sorted(result.files) == ["1-0.png", "1-1.png"]
        assert f"<@{ALICE}>" in result.content and "img:u:1:0" in custom_ids(result)


async def test_a_user_install_gets_its_card_as_a_follow_up(world: World):
    interaction = await world.fake.invoke(
        "imagine",
        {"prompt": "a kite"},
        user=ALICE,
        channel=ELSEWHERE_CHANNEL,
        installed_by_user=True,
    )
    card = await card_of(world, interaction)
    assert card.via == "followup" and card.layout and card.channel_id == ELSEWHERE_CHANNEL
    assert card.texts[0] == f"<@{ALICE}>" and [s.filename for s in card.gallery] == ["1-0.png"]
    assert await world.used(ALICE, scope=ELSEWHERE) == 1
    assert not world.fake.violations


async def test_a_private_result_is_an_ephemeral_card(world: World):
    await world.runtime.members.save_preferences(ALICE, Preferences(private_delivery=True))
    card = await card_of(world, await imagine(world))
    assert card.ephemeral and card.layout and card.via == "followup"
    assert card.texts[0].startswith("**Job #1**")  # no mention: nobody else sees it
    assert not world.fake.violations


async def test_after_the_token_the_card_goes_to_the_dm(world: World):
    await world.runtime.members.save_preferences(ALICE, Preferences(private_delivery=True))
    interaction = await imagine(world)
    await interaction.wait(lambda i: bool(i.original and JOB.search(i.original.content)))
    await world.runtime.store.update_target(1, {"token_expires": time.time() - 1})
    card = await card_of(world, interaction)
    assert card.channel_id == world.fake.dm_channel_of(ALICE) and card.layout
    assert [s.filename for s in card.gallery] == ["1-0.png"]


async def test_flagged_images_are_spoilers_in_the_gallery_or_withheld(
    tmp_path: Path, redirect: None
):
    async with open_world(tmp_path, fake={"flag": True}, discord=CARDS) as world:
        sfw = await world.fake.invoke("imagine", {"prompt": "x"}, user=ALICE, channel=GENERAL)
        withheld = await card_of(world, sfw)
        assert withheld.files == {} and withheld.gallery == []
        assert "**Withheld**" in withheld.texts[-1]
        adult = await world.fake.invoke("imagine", {"prompt": "x"}, user=ALICE, channel=ADULT)
        card = await card_of(world, adult)
        [item] = next(c for c in walk(card.components) if c.get("type") == 12)["items"]
        assert item["spoiler"] and [s.filename for s in card.gallery] == ["SPOILER_2-0.png"]
        assert not world.fake.violations


async def test_show_reposts_a_result_as_a_card(world: World):
    await card_of(world, await imagine(world, "picture one"))
    shown = await world.fake.invoke("show", {"job": 1}, user=ALICE, channel=GENERAL)
    await shown.wait(lambda i: bool(i.original and i.original.layout), 15)
    card = shown.original
    assert card is not None and "picture one" in card.texts[0]
    assert [s.filename for s in card.gallery] == ["1-0.png"] and "img:r:1:0" in custom_ids(card)
    assert not world.fake.violations


async def test_a_long_prompt_stays_within_the_text_limit(world: World):
    prompt = "a very long prompt " * 78  # the 1500 characters a prompt may have
    card = await card_of(world, await imagine(world, prompt.strip(), negative="n " * 700))
    assert within_limits(card) and not world.fake.violations


async def test_the_control_map_sits_beside_the_parameters(tmp_path: Path, redirect: None):
    drawn_map = png(512, 384, (255, 255, 255))
    fake = {**STEERED, "control_map": drawn_map}
    async with open_world(tmp_path, fake=fake, discord=CARDS) as world:
        control = world.fake.add_attachment(png(64, 64))
        card = await card_of(
            world,
            await imagine(world, control=control, control_type="canny", control_strength=0.8),
        )
        [section] = [c for c in walk(card.components) if c.get("type") == 9]
        thumbnail = section["accessory"]
        assert thumbnail["type"] == 11 and thumbnail["media"]["url"].endswith("/1-map.png")
        parameters = section["components"][0]["content"]
        assert "**Control** canny 0.8" in parameters and "control map" in parameters
        assert [s.filename for s in card.gallery] == ["1-0.png"] and card.hidden_files == []
        assert not world.fake.violations


async def test_a_card_s_tool_panel_and_edit_menu_find_its_pictures(tmp_path: Path, redirect: None):
    async with open_world(tmp_path, fake=TOOLS, discord=CARDS) as world:
        four = await card_of(world, await imagine(world, count=4))
        opened = await world.fake.click(four.id, "img:x:1:2", user=ALICE)
        await opened.response()
        panel = opened.original
        assert panel is not None and panel.ephemeral and "image 3 of job #1" in panel.content
        [shown] = [file for file in four.attachments if file.filename == "1-2.png"]
        assert panel.embeds[0]["thumbnail"]["url"] == shown.url

        menu = await world.fake.message_command("Edit image", four.id, user=ALICE, channel=GENERAL)
        await menu.response()
        edited = await card_of(world, await world.fake.submit_modal(menu, {"instruction": "snow"}))
        job = await world.runtime.store.get(2)
        assert job is not None and job.request.mode.value == "edit" and edited.layout
        assert not world.fake.violations


async def test_a_grid_is_one_picture_in_the_gallery(tmp_path: Path, redirect: None):
    async with open_world(tmp_path, discord={**CARDS, "result_layout": "grid"}) as world:
        card = await card_of(world, await imagine(world, count=4))
        [item] = next(c for c in walk(card.components) if c.get("type") == 12)["items"]
        assert item["description"] == "The images of job #1"
        assert [s.filename for s in card.gallery] == ["1.png"] and card.hidden_files == []
        assert card.gallery[0].size_px == (1024, 1024)
        assert not world.fake.violations
