"""The status message and the result's buttons: cancel, progress, U/V, re-roll, remix, delete,
report; delivery after the token expired; buttons after a restart; oversized results."""

from __future__ import annotations

import asyncio
import io
import itertools
import time
from pathlib import Path

import pytest
from PIL import Image

from bot.jobs import JobStatus
from bot.members import Preferences
from tests.cogs.conftest import (
    ALICE,
    BOB,
    EITHER_FORM,
    GENERAL,
    GUILD,
    MOD,
    THREAD,
    World,
    open_world,
)
from tests.cogs.test_imagine import (
    buttons,
    is_result,
    labels,
    result_fields,
    result_files,
    result_job,
    result_mention,
    result_of,
    result_prompt,
    same_pixels,
)


async def imagine(world: World, prompt: str = "a fox", user: int = ALICE, **options: object):
    return await world.fake.invoke(
        "imagine", {"prompt": prompt, **options}, user=user, channel=GENERAL
    )


def held(world: World) -> asyncio.Event:
    """Make the provider wait at its first step until the test lets it go."""
    release = asyncio.Event()
    world.provider.release = release
    return release


async def test_cancel_while_queued_refunds_and_says_so(world: World):
    release = held(world)
    running = await imagine(world, "first")
    await asyncio.wait_for(world.provider.started.wait(), 10)
    queued = await imagine(world, "second")
    await queued.wait(lambda i: bool(i.original and "queued" in i.original.content))
    assert "next in line" in queued.original.content  # type: ignore[union-attr]
    assert "img:c:2:0" in buttons(queued.original)  # type: ignore[arg-type]

    clicked = await world.fake.click(queued.original.id, "img:c:2:0", user=ALICE)  # type: ignore[union-attr]
    await clicked.response()
    assert "cancelled" in queued.original.content  # type: ignore[union-attr]
    job = await world.runtime.store.get(2)
    assert job is not None and job.status is JobStatus.CANCELLED
    assert await world.used(ALICE) == 1
    release.set()
    await result_of(world, running)
    assert not world.fake.violations


async def test_cancel_while_running_stops_the_job(world: World):
    release = held(world)
    interaction = await imagine(world)
    await asyncio.wait_for(world.provider.started.wait(), 10)
    await interaction.wait(lambda i: bool(i.original and i.original.components))
    clicked = await world.fake.click(interaction.original.id, "img:c:1:0", user=ALICE)  # type: ignore[union-attr]
    await clicked.response()
    release.set()
    await interaction.wait(lambda i: "cancelled" in i.original.content, timeout=15)  # type: ignore[union-attr]
    job = await world.runtime.store.get(1)
    assert job is not None and job.status is JobStatus.CANCELLED
    assert await world.used(ALICE) == 0
    assert interaction.followups == []


async def test_someone_else_cannot_cancel_or_use_my_buttons(world: World):
    interaction = await imagine(world)
    result = await result_of(world, interaction)
    clicked = await world.fake.click(result.id, "img:r:1:0", user=BOB)
    await clicked.wait(lambda i: bool(i.responses))
    assert clicked.ephemeral
    assert "Only the member" in (
        clicked.original.content if clicked.original else clicked.responses[0]["data"]["content"]
    )
    assert len(await world.jobs()) == 1


async def test_the_server_can_let_everyone_use_generation_buttons(world: World):
    await world.runtime.policies.set_guild_setting(GUILD, "buttons_everyone", True)
    result = await result_of(world, await imagine(world))
    clicked = await world.fake.click(result.id, "img:r:1:0", user=BOB)
    await result_of(world, clicked)
    jobs = await world.jobs()
    assert [job["user_id"] for job in jobs] == [ALICE, BOB]  # Bob pays for his re-roll


async def test_progress_edits_are_throttled_and_stop_at_the_end(tmp_path: Path, redirect: None):
    async with open_world(
        tmp_path, fake={"steps": 8, "step_seconds": 0.4, "previews": True}
    ) as world:
        interaction = await imagine(world)
        await result_of(world, interaction)
        status = interaction.original
        assert status is not None
        progress = [
            edit
            for edit in status.edits
            if "▰" in edit.get("content", "") or "▱" in edit.get("content", "")
        ]
        assert progress
        # At most one edit a second: a lower bound on the gaps, which load only lengthens.
        times = [
            stamp
            for stamp, edit in zip(status.edit_times, status.edits, strict=True)
            if edit in progress
        ]
        assert all(b - a >= 0.9 for a, b in itertools.pairwise(times))
        assert any(name.startswith("preview-") for name in status.file_history)
        assert "done" in status.content and status.components == []
        assert not world.fake.violations


async def test_upscale_variation_reroll_make_new_jobs_from_the_stored_result(world: World):
    result = await result_of(world, await imagine(world, count=2))
    assert labels(result)[:4] == ["U1", "U2", "V1", "V2"]

    upscale = await world.fake.click(result.id, "img:u:1:1", user=ALICE)
    upscaled = await result_of(world, upscale)
    job = await world.runtime.store.get(2)
    assert job is not None and job.request.mode.value == "upscale"
    first = await world.runtime.store.images(1)
    assert job.request.init_image is not None and same_pixels(
        job.request.init_image, await asyncio.to_thread(Path(first[1].path).read_bytes)
    )
    fields = result_fields(upscaled)
    assert fields["Size"] == "1024×1024"

    variation = await world.fake.click(result.id, "img:v:1:0", user=ALICE)
    await result_of(world, variation)
    job = await world.runtime.store.get(3)
    assert job is not None and job.request.mode.value == "img2img" and job.request.strength == 0.6
    assert job.request.prompt == "a fox"

    reroll = await world.fake.click(result.id, "img:r:1:0", user=ALICE)
    await result_of(world, reroll)
    original, again = await world.runtime.store.get(1), await world.runtime.store.get(4)
    assert original is not None and again is not None
    assert again.request.prompt == original.request.prompt
    assert again.request.seed != original.request.seed
    assert not world.fake.violations


async def test_remix_opens_a_modal_and_queues_the_edited_prompt(world: World):
    result = await result_of(world, await imagine(world, negative="blur"))
    clicked = await world.fake.click(result.id, "img:m:1:0", user=ALICE)
    await clicked.response()
    assert clicked.modal is not None
    submitted = await world.fake.submit_modal(
        clicked, {"prompt": "a fox in snow", "negative": "blur, text"}
    )
    await result_of(world, submitted)
    job = await world.runtime.store.get(2)
    assert job is not None
    assert job.request.prompt == "a fox in snow" and job.request.negative_prompt == "blur, text"


async def test_delete_works_for_the_requester_and_moderators_only(world: World):
    first = await result_of(world, await imagine(world))
    refused = await world.fake.click(first.id, "img:d:1:0", user=BOB)
    await refused.wait(lambda i: bool(i.responses))
    assert not first.deleted
    deleted = await world.fake.click(first.id, "img:d:1:0", user=MOD)
    await deleted.wait(lambda i: first.deleted)
    second = await result_of(world, await imagine(world, "a hare"))
    own = await world.fake.click(second.id, "img:d:2:0", user=ALICE)
    await own.wait(lambda i: second.deleted)
    assert not world.fake.violations


async def test_report_reaches_the_moderators_once(world: World):
    result = await result_of(world, await imagine(world))
    for _ in range(2):
        clicked = await world.fake.click(result.id, "img:p:1:0", user=BOB)
        await clicked.wait(lambda i: bool(i.original and i.original.content))
    assert "already reported" in clicked.original.content  # type: ignore[union-attr]
    rows = await world.runtime.db.fetchall("SELECT job_id, reporter_id, guild_id FROM reports")
    assert [tuple(row) for row in rows] == [(1, BOB, GUILD)]


async def test_buttons_keep_working_after_a_restart(world: World):
    result = await result_of(world, await imagine(world))
    await world.bot.close()
    async with world.restart() as (_, runtime):
        clicked = await world.fake.click(result.id, "img:r:1:0", user=ALICE)
        await result_of(world, clicked)
        job = await runtime.store.get(2)
        assert job is not None and job.status is JobStatus.SUCCEEDED


@pytest.mark.parametrize("result_cards", EITHER_FORM)
async def test_a_job_that_outlives_its_token_is_posted_to_the_channel(world: World):
    release = held(world)
    interaction = await imagine(world)
    await asyncio.wait_for(world.provider.started.wait(), 10)
    await interaction.wait(lambda i: bool(i.original and i.original.components))
    world.fake.advance(16 * 60)
    await world.runtime.store.update_target(1, {"token_expires": time.time() - 1})
    release.set()
    await world.fake.wait_for(lambda: bool(world.fake.messages), timeout=15)
    [posted] = world.fake.messages
    assert f"<@{ALICE}>" in result_mention(posted) and posted.nonce == "job-1"
    assert result_files(posted) == ["1-0.png"] and "img:u:1:0" in buttons(posted)
    assert posted.channel_id == GENERAL and interaction.followups == []
    assert not world.fake.violations


@pytest.mark.parametrize("result_cards", EITHER_FORM)
async def test_oversized_results_are_split_across_messages(
    tmp_path: Path, redirect: None, result_cards: bool
):
    cards = {"result_cards": result_cards}
    async with open_world(tmp_path, fake_options={"upload_limit": 2500}, discord=cards) as world:
        interaction = await imagine(world, count=4, width=512, height=512)
        await result_of(world, interaction)
        parts = world.fake.messages  # posted in the channel, nonces job-1, job-1-1, ...
        await world.fake.wait_for(lambda: sum(len(m.files) for m in parts) == 4)
        assert len(parts) >= 2 and all(m.nonce and m.nonce.startswith("job-1") for m in parts)
        assert all(sum(map(len, m.files.values())) <= 2500 for m in parts)
        assert all(m.layout is result_cards and not m.hidden_files for m in parts)
        assert not world.fake.violations


async def test_a_rate_limited_result_post_is_retried(world: World):
    world.fake.fail_next("POST", r"/channels/\d+/messages$", status=429, retry_after=0.05)
    result = await result_of(world, await imagine(world))
    assert result.files
    assert any(r.status == 429 for r in world.fake.requests)


async def test_the_place_in_line_is_kept_current(world: World):
    release = held(world)
    await imagine(world, "first")
    await asyncio.wait_for(world.provider.started.wait(), 10)
    bob = await imagine(world, "second", user=BOB)
    await bob.wait(lambda i: bool(i.original and "queued" in i.original.content))
    third = await imagine(world, "third")
    await third.wait(lambda i: bool(i.original and "1 ahead" in i.original.content))
    cancelled = await world.fake.invoke("cancel", {"job": 2}, user=BOB, channel=GENERAL)
    await cancelled.response()
    await third.wait(lambda i: "next in line" in i.original.content)  # type: ignore[union-attr]
    release.set()


async def test_after_the_token_a_private_or_dm_job_goes_to_the_members_dms(world: World):
    await world.runtime.members.save_preferences(ALICE, Preferences(private_delivery=True))
    release = held(world)
    interaction = await imagine(world)
    await interaction.wait(lambda i: bool(i.original and i.original.components))
    await world.runtime.store.update_target(1, {"token_expires": time.time() - 1})
    release.set()
    dm = world.fake.dm_channel_of(ALICE)
    await world.fake.wait_for(lambda: bool(world.fake.messages), timeout=15)
    [posted] = world.fake.messages
    assert posted.channel_id == dm and result_files(posted) == ["1-0.png"]
    assert not world.fake.violations


async def test_a_thread_the_bot_can_no_longer_post_in_gets_the_result_by_dm_with_the_reason(
    world: World,
):
    release = held(world)
    interaction = await world.fake.invoke("imagine", {"prompt": "x"}, user=ALICE, channel=THREAD)
    await interaction.wait(lambda i: bool(i.original and i.original.components))
    # While the job runs, a moderator takes the bot's right to post in threads away.
    world.fake.add_channel(
        THREAD,
        guild_id=GUILD,
        kind="thread",
        parent_id=GENERAL,
        bot_denied={"send_messages_in_threads"},
    )
    await world.runtime.store.update_target(1, {"token_expires": time.time() - 1})
    release.set()
    dm = world.fake.dm_channel_of(ALICE)
    await world.fake.wait_for(lambda: any(m.channel_id == dm for m in world.fake.messages))
    posted = next(m for m in world.fake.messages if m.channel_id == dm)
    assert "missing a permission" in result_mention(posted) and result_files(posted)
    assert f"<#{THREAD}>" in result_mention(posted)


@pytest.mark.parametrize("result_cards", EITHER_FORM)
async def test_long_prompts_stay_within_discord_limits(world: World):
    prompt = "a very detailed scene " * 68  # 1496 characters
    result = await result_of(
        world, await imagine(world, prompt[:1500], negative=("no text " * 187)[:1500])
    )
    assert "a very detailed scene" in result_prompt(result)
    assert len(result_prompt(result)) <= 4096
    assert not world.fake.violations


async def test_grid_layout_posts_one_picture(tmp_path: Path, redirect: None):
    async with open_world(tmp_path, discord={"result_layout": "grid"}) as world:
        result = await result_of(world, await imagine(world, count=4, width=64, height=64))
        [(name, data)] = result.files.items()
        assert name == "1.png"
        with Image.open(io.BytesIO(data)) as picture:
            assert picture.size == (128, 128)
        assert labels(result)[:4] == ["U1", "U2", "U3", "U4"]


async def test_lora_autocomplete_completes_the_last_item(tmp_path: Path, redirect: None):
    async with open_world(tmp_path, fake={"loras": ["detail", "watercolour"]}) as world:
        choices = await world.fake.autocomplete(
            "imagine",
            {"prompt": "x", "loras": "detail:0.5, wat"},
            focused="loras",
            user=ALICE,
            channel=GENERAL,
        )
        assert [c["value"] for c in choices] == ["detail:0.5, watercolour:1"]
        interaction = await imagine(world, loras="detail:0.5, watercolour")
        await result_of(world, interaction)
        assert [(lora.name, lora.weight) for lora in world.provider.calls[0].loras] == [
            ("detail", 0.5),
            ("watercolour", 1.0),
        ]


async def test_lora_autocomplete_offers_the_loras_that_fit_the_chosen_model(
    tmp_path: Path, redirect: None
):
    fake = {"loras": ["detail", "watercolour"], "model_loras": {"fake-v2": ["watercolour"]}}
    async with open_world(tmp_path, fake=fake) as world:

        async def offered(model: str | None) -> list[str]:
            options = {"prompt": "x", "loras": ""} | ({"model": model} if model else {})
            choices = await world.fake.autocomplete(
                "imagine", options, focused="loras", user=ALICE, channel=GENERAL
            )
            return [choice["value"] for choice in choices]

        assert await offered("fake:fake-v2") == ["watercolour:1"]
        assert await offered("fake-v2") == ["watercolour:1"]
        assert await offered("fake:fake-v1") == ["detail:1", "watercolour:1"]
        assert await offered(None) == ["detail:1", "watercolour:1"]  # the default model


async def test_in_a_group_dm_the_result_comes_through_the_interaction_or_later_by_dm(
    world: World,
):
    world.fake.add_channel(777, kind="group", name="friends")
    first = await world.fake.invoke(
        "imagine", {"prompt": "x"}, user=ALICE, channel=777, installed_by_user=True
    )
    result = await result_of(world, first)
    assert result.channel_id == 777 and result.via == "followup"

    release = held(world)
    late = await world.fake.invoke(
        "imagine", {"prompt": "y"}, user=ALICE, channel=777, installed_by_user=True
    )
    await late.wait(lambda i: bool(i.original and i.original.components))
    await world.runtime.store.update_target(2, {"token_expires": time.time() - 1})
    release.set()
    dm = world.fake.dm_channel_of(ALICE)
    await world.fake.wait_for(lambda: any(m.channel_id == dm for m in world.fake.messages))
    assert not world.fake.violations


async def test_a_status_message_dismissed_before_the_result_does_not_stop_delivery(world: World):
    release = held(world)
    interaction = await imagine(world)
    await interaction.wait(lambda i: bool(i.original and i.original.components))
    interaction.original.deleted = True  # type: ignore[union-attr]  # the member dismissed it
    release.set()
    result = await result_of(world, interaction)
    assert result.files


async def test_a_deleted_channel_gets_the_late_result_by_dm(world: World):
    release = held(world)
    interaction = await imagine(world)
    await interaction.wait(lambda i: bool(i.original and i.original.components))
    await world.runtime.store.update_target(1, {"token_expires": time.time() - 1})
    world.fake.delete_channel(GENERAL)
    release.set()
    dm = world.fake.dm_channel_of(ALICE)
    await world.fake.wait_for(lambda: any(m.channel_id == dm for m in world.fake.messages))
    posted = next(m for m in world.fake.messages if m.channel_id == dm)
    assert "gone" in result_mention(posted) and result_files(posted)


async def test_a_server_error_on_delivery_is_retried_and_posts_once(world: World):
    world.fake.fail_next("POST", r"/channels/\d+/messages$", status=500, code=0)
    result = await result_of(world, await imagine(world))
    assert result.files
    await asyncio.sleep(0.5)
    interaction_results = [
        m for m in world.fake._messages.values() if is_result(m) and not m.deleted
    ]
    assert len(interaction_results) == 1
    assert any(r.status == 500 for r in world.fake.requests)
    job = await world.runtime.store.get(1)
    assert job is not None and job.delivered


async def test_a_gateway_disconnect_while_a_job_runs_loses_nothing(tmp_path: Path, redirect: None):
    async with open_world(tmp_path, reconnect=True) as world:
        release = held(world)
        interaction = await imagine(world)
        await interaction.wait(lambda i: bool(i.original and i.original.components))
        await world.fake.disconnect()
        await asyncio.wait_for(world.fake.identified.wait(), 20)
        release.set()
        assert (await result_of(world, interaction)).files
        await asyncio.sleep(0.5)  # the new session's guilds arrive
        after = await imagine(world, "after the reconnect")
        assert (await result_of(world, after)).files
        assert not world.fake.violations


async def test_a_delivery_repeated_after_a_crash_posts_once(world: World):
    """A crash after the result was posted but before it was recorded: the restarted bot
    delivers again, and the job's nonce makes Discord return the first message."""
    first = await result_of(world, await imagine(world))
    async with world.runtime.db.transaction() as conn:
        await conn.execute("UPDATE jobs SET delivered = 0 WHERE job_id = 1")
        await conn.execute("DELETE FROM deliveries WHERE job_id = 1")
    await world.bot.close()
    async with world.restart() as (_, runtime):
        for _ in range(100):
            job = await runtime.store.get(1)
            if job is not None and job.delivered:
                break
            await asyncio.sleep(0.05)
        assert job is not None and job.delivered
    posted = [m for m in world.fake._messages.values() if result_job(m) == 1]
    assert posted == [first]
