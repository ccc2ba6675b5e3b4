"""The member's own commands, the image tools and the command schema as synced."""

from __future__ import annotations

import asyncio

from bot.jobs import JobStatus
from tests.cogs.conftest import ALICE, BOB, GENERAL, World
from tests.cogs.test_imagine import (
    is_result,
    png,
    result_files,
    result_job,
    result_of,
    result_prompt,
)
from tests.cogs.test_results import held, imagine


async def reply_of(
    world: World,
    command: str,
    options: dict[str, object] | None = None,
    *,
    user: int = ALICE,
    channel: int = GENERAL,
) -> str:
    interaction = await world.fake.invoke(command, options or {}, user=user, channel=channel)
    await interaction.wait(lambda i: bool(i.original and (i.original.content or i.original.embeds)))
    assert interaction.ephemeral
    message = interaction.original
    assert message is not None
    text = message.content
    for embed in message.embeds:
        text += "\n" + embed.get("title", "") + "\n" + embed.get("description", "")
        text += "\n".join(f"{f['name']}: {f['value']}" for f in embed.get("fields", []))
    return text


async def one_running_one_queued(world: World) -> asyncio.Event:
    """Alice's "first" holds the provider and "second" waits; set the event to go on."""
    release = held(world)
    await imagine(world, "first")
    await asyncio.wait_for(world.provider.started.wait(), 10)
    second = await imagine(world, "second")
    await second.wait(lambda i: bool(i.original and "queued" in i.original.content))
    return release


def test_commands_are_installable_by_users_and_usable_everywhere(world: World):
    synced = {command["name"]: command for command in world.fake.synced}
    assert {
        "imagine",
        "upscale",
        "describe",
        "models",
        "queue",
        "cancel",
        "quota",
        "settings",
        "history",
        "show",
        "forget-me",
        "help",
        "Upscale",
        "Describe",
    } <= set(synced)
    for command in synced.values():
        if command["name"] == "admin":  # server moderation: only where a server installed it
            continue
        assert sorted(command["integration_types"]) == [0, 1]
        assert sorted(command["contexts"]) == [0, 1, 2]
    options = {option["name"]: option for option in synced["imagine"]["options"]}
    assert options["count"]["min_value"] == 1 and options["count"]["max_value"] == 4
    assert options["model"]["autocomplete"] and options["sampler"]["autocomplete"]
    assert options["image"]["type"] == 11


async def test_queue_lists_my_jobs_with_their_place(world: World):
    release = await one_running_one_queued(world)
    text = await reply_of(world, "queue")
    assert "#1" in text and "starting" in text
    assert "#2" in text and "next in line" in text and "second" in text
    assert "no jobs" in await reply_of(world, "queue", user=BOB)
    release.set()


async def test_cancel_everything(world: World):
    release = await one_running_one_queued(world)
    text = await reply_of(world, "cancel", {"everything": True})
    assert "#2 was cancelled" in text and "#1 is stopping" in text
    release.set()
    for _ in range(100):
        job = await world.runtime.store.get(1)
        if job is not None and job.status.terminal:
            break
        await asyncio.sleep(0.05)
    assert job is not None and job.status is JobStatus.CANCELLED
    assert await world.used(ALICE) == 0


async def test_cancel_someone_elses_job_is_refused(world: World):
    await result_of(world, await imagine(world))
    text = await reply_of(world, "cancel", {"job": 1}, user=BOB)
    assert "no job 1 of yours" in text


async def test_quota_shows_use_reset_and_tier(world: World):
    await result_of(world, await imagine(world, count=2))
    text = await reply_of(world, "quota")
    assert "used 2 of 50" in text and "48 left" in text and "Tier: default" in text
    assert "<t:" in text


async def test_settings_are_kept_and_used_by_imagine(world: World):
    text = await reply_of(
        world,
        "settings",
        {"model": "fake:fake-v2", "width": 256, "height": 128, "negative": "text"},
    )
    assert "Saved" in text and "fake:fake-v2" in text and "256×128" in text
    await result_of(world, await imagine(world))
    request = world.provider.calls[0]
    assert request.model == "fake-v2" and request.size == (256, 128)
    assert request.negative_prompt == "text"
    assert "cleared" in await reply_of(world, "settings", {"reset": True})


async def test_private_delivery_answers_ephemerally(world: World):
    await reply_of(world, "settings", {"private": True})
    result = await result_of(world, await imagine(world))
    assert result.ephemeral


async def test_history_pages_and_show_reposts_with_buttons(world: World):
    for n in range(7):
        await result_of(world, await imagine(world, f"picture {n}"))
    page = await world.fake.invoke("history", {}, user=ALICE, channel=GENERAL)
    await page.wait(lambda i: bool(i.original and i.original.content))
    assert page.ephemeral and "page 1 of 2" in page.original.content  # type: ignore[union-attr]
    assert "picture 6" in page.original.content  # type: ignore[union-attr]
    older = await world.fake.click(page.original.id, f"hist:{ALICE}:1", user=ALICE)  # type: ignore[union-attr]
    await older.response()
    assert "page 2 of 2" in page.original.content and "picture 0" in page.original.content  # type: ignore[union-attr]

    shown = await world.fake.invoke("show", {"job": 3}, user=ALICE, channel=GENERAL)
    await shown.wait(lambda i: is_result(i.original))
    assert shown.original is not None and result_job(shown.original) == 3
    assert not shown.ephemeral and result_files(shown.original) == ["3-0.png"]
    assert "picture 2" in result_prompt(shown.original)
    assert "no job 3 of yours" in await reply_of(world, "show", {"job": 3}, user=BOB)


async def test_forget_me_deletes_after_confirmation(world: World):
    await result_of(world, await imagine(world, "secret"))
    await reply_of(world, "settings", {"negative": "x"})
    asked = await world.fake.invoke("forget-me", {}, user=ALICE, channel=GENERAL)
    await asked.response()
    confirm = next(
        c["custom_id"]
        for row in asked.original.components
        for c in row["components"]  # type: ignore[union-attr]
        if c.get("label") == "Delete everything"
    )
    clicked = await world.fake.click(asked.original.id, confirm, user=ALICE)  # type: ignore[union-attr]
    await clicked.response()
    await asked.wait(lambda i: "Done" in i.original.content)  # type: ignore[union-attr]
    assert await world.jobs() == []
    assert (await world.runtime.members.preferences(ALICE)).negative_prompt is None
    assert await world.used(ALICE) == 1  # forgetting does not reset the quota


async def test_models_and_help(world: World):
    text = await reply_of(world, "models")
    assert "fake" in text and "fake-v1" in text and "ready" in text
    assert "/imagine" in await reply_of(world, "help")


async def test_describe_and_the_message_menus(world: World):
    attachment = world.fake.add_attachment(png(80, 48), "photo.png")
    described = await world.fake.invoke(
        "describe", {"image": attachment}, user=ALICE, channel=GENERAL
    )
    await described.wait(lambda i: bool(i.original and "fake caption" in i.original.content))
    assert "80x48" in described.original.content  # type: ignore[union-attr]

    result = await result_of(world, await imagine(world, width=64, height=64))
    menu = await world.fake.message_command("Describe", result.id, user=ALICE, channel=GENERAL)
    await menu.wait(lambda i: bool(i.original and "fake caption" in i.original.content))
    assert "64x64" in menu.original.content  # type: ignore[union-attr]

    upscale = await world.fake.message_command("Upscale", result.id, user=ALICE, channel=GENERAL)
    upscaled = await result_of(world, upscale)
    job = await world.runtime.store.get(4)  # descriptions are jobs too: #1 and #3
    assert job is not None and job.request.mode.value == "upscale"
    assert upscaled.files

    slash = await world.fake.invoke("upscale", {"image": attachment}, user=ALICE, channel=GENERAL)
    await result_of(world, slash)
    assert not world.fake.violations
