"""/imagine from the first answer to the result, its refusals, and where it may run."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image

from tests.cogs.conftest import (
    ADULT,
    ALICE,
    EITHER_FORM,
    ELSEWHERE,
    ELSEWHERE_CHANNEL,
    GENERAL,
    GUILD,
    World,
    open_world,
)
from tests.fakes.discord import FakeInteraction, FakeMessage
from tests.fakes.discord.rules import walk

JOB = re.compile(r"Job #(\d+)")


def png(width: int = 64, height: int = 64) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (width, height), (10, 200, 30)).save(buffer, "PNG")
    return buffer.getvalue()


async def result_of(world: World, interaction: FakeInteraction) -> FakeMessage:
    """The message carrying the images of the job this interaction queued, wherever it was
    posted (in the channel by the bot, or as a follow-up of the interaction)."""
    await interaction.wait(lambda i: bool(i.original and JOB.search(i.original.content)), 15)
    assert interaction.original is not None
    author = f"Job #{JOB.search(interaction.original.content)[1]}"  # type: ignore[index]

    def posted() -> FakeMessage | None:
        for message in world.fake._messages.values():
            if not message.deleted and (
                any(embed.get("author", {}).get("name") == author for embed in message.embeds)
                or any(text.startswith(f"**{author}**") for text in message.texts)  # a card
            ):
                return message
        return None

    await world.fake.wait_for(lambda: posted() is not None, 15)
    found = posted()
    assert found is not None
    return found


def buttons(message: FakeMessage) -> list[str]:
    """Every custom id, in a card's container too."""
    return [
        component["custom_id"] for component in walk(message.components) if "custom_id" in component
    ]


def action_rows(message: FakeMessage) -> list[dict[str, object]]:
    """The rows of buttons, at the top level or in a card's box."""
    return [component for component in walk(message.components) if component.get("type") == 1]


def labels(message: FakeMessage) -> list[str]:
    return [
        component.get("label", "")
        for row in walk(message.components)
        if row.get("type") == 1
        for component in row["components"]
    ]


FIELD = re.compile(r"\*\*(.+?)\*\* (.*)", re.DOTALL)


def result_mention(message: FakeMessage) -> str:
    """The line above a result: the message's content, or a card's text outside its box."""
    if not message.layout:
        return message.content
    return "\n".join(str(c["content"]) for c in message.components if c.get("type") == 10)


def result_prompt(message: FakeMessage) -> str:
    """What the result shows as its prompt: the embed's description, or a card's first text
    in its box without the "**Job #N**" heading."""
    if not message.layout:
        return str(message.embeds[0].get("description", ""))
    box = next(c for c in message.components if c.get("type") == 17)
    first = next(c for c in walk(box["components"]) if c.get("type") == 10)
    return str(first["content"]).partition("\n")[2]


def result_fields(message: FakeMessage) -> dict[str, str]:
    """The result's parameters by name: the embed's fields, or a card's "**Name** value"
    parts (short ones joined by " · ", long ones on their own lines). A card also names the
    guidance, sampler, references and control the embed leaves out."""
    if not message.layout:
        return {field["name"]: field["value"] for field in message.embeds[0].get("fields", [])}
    box = next(c for c in message.components if c.get("type") == 17)
    texts = [str(c["content"]) for c in walk(box["components"]) if c.get("type") == 10]
    fields: dict[str, str] = {}
    name = None
    for line in texts[-1].splitlines():
        if line.startswith("**"):
            for part in line.split(" · ") if " · **" in line else [line]:
                found = FIELD.fullmatch(part)
                assert found, f"not a parameter: {part!r}"
                name = found[1]
                fields[name] = found[2]
        elif name is not None and not line.startswith("-# "):
            fields[name] += "\n" + line  # a long value that goes on over lines
    return fields


def result_thumbnail(message: FakeMessage) -> str | None:
    """The file shown small beside the parameters (a control map): the embed's thumbnail,
    or the thumbnail of a card's section; None when there is none."""
    if not message.layout:
        url = message.embeds[0].get("thumbnail", {}).get("url")
        return str(url).removeprefix("attachment://") if url else None
    by_id = {str(stored.id): stored.filename for stored in message.attachments}
    thumbnails = [c["media"] for c in walk(message.components) if c.get("type") == 11]
    assert len(thumbnails) <= 1
    return by_id[str(thumbnails[0]["attachment_id"])] if thumbnails else None


def result_job(message: FakeMessage | None) -> int | None:
    """The job a result message shows, in either form (an embed headed "Job #N", or a card
    whose first text in its box is "**Job #N**"); None for any other message."""
    if message is None:
        return None
    heads = [e.get("author", {}).get("name", "") for e in message.embeds]
    heads += [text.partition("\n")[0].strip("*") for text in message.texts]
    found = next((JOB.fullmatch(head) for head in heads if JOB.fullmatch(head)), None)
    return int(found[1]) if found else None


def is_result(message: FakeMessage | None) -> bool:
    return result_job(message) is not None


def result_files(message: FakeMessage) -> list[str]:
    """The names of the files the message shows (a card shows every file it carries)."""
    assert not message.hidden_files, f"files no component shows: {message.hidden_files}"
    return sorted(message.files)


@pytest.mark.parametrize("result_cards", EITHER_FORM)
async def test_imagine_answers_privately_with_the_queue_then_posts_the_result(
    world: World, result_cards: bool
):
    interaction = await world.fake.invoke(
        "imagine", {"prompt": "a lighthouse at dusk", "count": 2}, user=ALICE, channel=GENERAL
    )
    first = await interaction.response()
    assert first["type"] == 5 and interaction.ephemeral
    result = await result_of(world, interaction)

    assert not result.ephemeral and result.channel_id == GENERAL
    assert result.via == "channel" and result.nonce == "job-1"  # posted once, whatever happens
    assert f"<@{ALICE}>" in result_mention(result)
    assert "a lighthouse at dusk" in result_prompt(result)
    fields = result_fields(result)
    assert result.layout is result_cards
    assert fields["Model"] == "fake-v1" and fields["Provider"] == "fake"
    assert fields["Size"] == "512×512" and len(fields["Seeds"].split(", ")) == 2
    assert {"Steps", "Time"} <= set(fields)
    assert result_files(result) == ["1-0.png", "1-1.png"]
    assert labels(result)[:4] == ["U1", "U2", "V1", "V2"]
    assert all(len(custom_id) <= 100 for custom_id in buttons(result))

    status = interaction.original
    assert status is not None
    await interaction.wait(lambda i: "done" in (i.original.content if i.original else ""))
    assert status.components == []  # the Cancel button is gone
    assert any(
        "queued" in edit.get("content", "") or "starting" in edit.get("content", "")
        for edit in status.edits
    )
    assert await world.used(ALICE) == 2
    assert not world.fake.violations


@pytest.mark.parametrize(
    ("options", "named"),
    [
        ({"sampler": "Heun"}, "sampler"),
        ({"model": "nope"}, "model"),
        ({"strength": 0.5}, "strength"),
        ({"loras": "detail:0.5"}, "loras"),
        ({"width": 100}, "width"),
        ({"loras": "::"}, "loras"),
    ],
)
async def test_bad_options_get_a_private_message_naming_them_and_charge_nothing(
    world: World, options: dict[str, object], named: str
):
    interaction = await world.fake.invoke(
        "imagine", {"prompt": "a cat", **options}, user=ALICE, channel=GENERAL
    )
    await interaction.wait(lambda i: bool(i.original and i.original.content))
    assert interaction.ephemeral
    assert named in interaction.original.content  # type: ignore[union-attr]
    assert await world.jobs() == []
    assert await world.used(ALICE) == 0
    assert not world.fake.violations


async def test_an_exhausted_quota_is_explained_and_nothing_is_queued(
    tmp_path: Path, redirect: None
):
    async with open_world(tmp_path, quota={"daily_units": 1}) as world:
        interaction = await world.fake.invoke(
            "imagine", {"prompt": "two cats", "count": 2}, user=ALICE, channel=GENERAL
        )
        await interaction.wait(lambda i: bool(i.original and i.original.content))
        assert "quota" in interaction.original.content  # type: ignore[union-attr]
        assert await world.jobs() == []


def same_pixels(first: bytes, second: bytes) -> bool:
    """The same picture, whatever the encoding (the bot re-encodes every input image)."""
    with Image.open(io.BytesIO(first)) as a, Image.open(io.BytesIO(second)) as b:
        return a.size == b.size and a.convert("RGB").tobytes() == b.convert("RGB").tobytes()


async def test_img2img_takes_the_attached_image(world: World):
    attachment = world.fake.add_attachment(png(96, 64), "start.png")
    interaction = await world.fake.invoke(
        "imagine",
        {"prompt": "make it autumn", "image": attachment, "strength": 0.4},
        user=ALICE,
        channel=GENERAL,
    )
    await result_of(world, interaction)
    request = world.provider.calls[0]
    assert request.mode.value == "img2img" and request.strength == 0.4
    assert request.init_image is not None and same_pixels(request.init_image, png(96, 64))
    assert not request.nsfw_allowed


async def test_a_file_that_is_not_an_image_is_refused(world: World):
    attachment = world.fake.add_attachment(b"not an image at all", "notes.txt", "text/plain")
    interaction = await world.fake.invoke(
        "imagine", {"prompt": "x", "image": attachment}, user=ALICE, channel=GENERAL
    )
    await interaction.wait(lambda i: bool(i.original and i.original.content))
    assert "image" in interaction.original.content  # type: ignore[union-attr]
    assert await world.jobs() == []


async def test_nsfw_models_only_run_in_age_restricted_server_channels(
    tmp_path: Path, redirect: None
):
    async with open_world(tmp_path, fake={"nsfw_models": ["spicy"]}) as world:
        refused = await world.fake.invoke(
            "imagine", {"prompt": "x", "model": "fake:spicy"}, user=ALICE, channel=GENERAL
        )
        await refused.wait(lambda i: bool(i.original and i.original.content))
        assert "NSFW" in refused.original.content  # type: ignore[union-attr]
        in_dm = await world.fake.invoke(
            "imagine",
            {"prompt": "x", "model": "fake:spicy"},
            user=ALICE,
            channel=world.fake.dm_channel_of(ALICE),
        )
        await in_dm.wait(lambda i: bool(i.original and i.original.content))
        assert "NSFW" in in_dm.original.content  # type: ignore[union-attr]
        allowed = await world.fake.invoke(
            "imagine", {"prompt": "x", "model": "fake:spicy"}, user=ALICE, channel=ADULT
        )
        await result_of(world, allowed)
        assert world.provider.calls[-1].nsfw_allowed
        assert len(await world.jobs()) == 1


@pytest.mark.parametrize("result_cards", EITHER_FORM)
async def test_flagged_results_are_withheld_outside_age_restricted_channels(
    tmp_path: Path, redirect: None, result_cards: bool
):
    cards = {"result_cards": result_cards}
    async with open_world(tmp_path, fake={"flag": True}, discord=cards) as world:
        sfw = await world.fake.invoke("imagine", {"prompt": "x"}, user=ALICE, channel=GENERAL)
        message = await result_of(world, sfw)
        assert message.files == {}
        assert "Withheld" in result_fields(message)
        adult = await world.fake.invoke("imagine", {"prompt": "x"}, user=ALICE, channel=ADULT)
        message = await result_of(world, adult)
        assert list(message.files) == ["SPOILER_2-0.png"]


async def test_in_a_dm_everything_goes_through_the_interaction(world: World):
    dm = world.fake.dm_channel_of(ALICE)
    interaction = await world.fake.invoke("imagine", {"prompt": "a boat"}, user=ALICE, channel=dm)
    result = await result_of(world, interaction)
    assert result.channel_id == dm and result.via == "channel" and result.nonce == "job-1"
    assert await world.used(ALICE, scope=0) == 1
    assert not world.fake.violations


async def test_as_a_user_installed_app_in_a_server_without_the_bot(world: World):
    interaction = await world.fake.invoke(
        "imagine",
        {"prompt": "a kite"},
        user=ALICE,
        channel=ELSEWHERE_CHANNEL,
        installed_by_user=True,
    )
    result = await result_of(world, interaction)
    assert result.channel_id == ELSEWHERE_CHANNEL and result.via == "followup"
    assert await world.used(ALICE, scope=ELSEWHERE) == 1
    assert not world.fake.violations


async def test_a_missing_attach_files_permission_is_explained(tmp_path: Path, redirect: None):
    async with open_world(tmp_path) as world:
        world.fake.add_channel(555, guild_id=GUILD, name="no-files", bot_denied={"attach_files"})
        interaction = await world.fake.invoke("imagine", {"prompt": "x"}, user=ALICE, channel=555)
        await interaction.wait(lambda i: bool(i.original and i.original.content))
        assert "Attach Files" in interaction.original.content  # type: ignore[union-attr]
        assert await world.jobs() == []


async def test_model_and_sampler_autocomplete(world: World):
    models = await world.fake.autocomplete(
        "imagine", {"prompt": "x", "model": "v2"}, focused="model", user=ALICE, channel=GENERAL
    )
    assert models == [{"name": "fake-v2 (fake)", "value": "fake:fake-v2"}]
    samplers = await world.fake.autocomplete(
        "imagine",
        {"prompt": "x", "model": "fake:fake-v1", "sampler": "a"},
        focused="sampler",
        user=ALICE,
        channel=GENERAL,
    )
    assert [choice["value"] for choice in samplers] == ["Euler a"]


async def test_an_aspect_ratio_keeps_the_usual_pixel_count(world: World):
    interaction = await world.fake.invoke(
        "imagine", {"prompt": "wide", "aspect": "16:9"}, user=ALICE, channel=GENERAL
    )
    await result_of(world, interaction)
    assert world.provider.calls[0].size == (704, 384)
