"""/describe as a job: admitted, limited and charged like one, run in its fair turn, and its
caption delivered privately (or, after the token, where results go), refunded on failure."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import time
from pathlib import Path

from bot.jobs import JobStatus
from cogs import render
from tests.cogs.conftest import ALICE, BOB, GENERAL, GUILD, MOD, World, open_world
from tests.cogs.test_imagine import png
from tests.cogs.test_results import held, imagine
from tests.fakes.discord import FakeInteraction

CAPTION = "fake caption"


async def describe(world: World, user: int = ALICE, size: tuple[int, int] = (80, 48)):
    attachment = world.fake.add_attachment(png(*size), "photo.png")
    return await world.fake.invoke("describe", {"image": attachment}, user=user, channel=GENERAL)


async def answered(interaction: FakeInteraction, words: str) -> str:
    await interaction.wait(lambda i: bool(i.original and words in i.original.content), 15)
    assert interaction.original is not None
    return interaction.original.content


async def delivered(world: World, job_id: int) -> bool:
    for _ in range(200):
        job = await world.runtime.store.get(job_id)
        if job is not None and job.delivered:
            return True
        await asyncio.sleep(0.05)
    return False


async def ledger(world: World, job_id: int) -> list[tuple[str, int]]:
    rows = await world.runtime.db.fetchall(
        "SELECT kind, units FROM quota_ledger WHERE job_id = ? ORDER BY entry_id", (job_id,)
    )
    return [(row["kind"], row["units"]) for row in rows]


async def test_a_description_is_a_job_whose_caption_replaces_the_status(world: World):
    interaction = await describe(world)
    text = await answered(interaction, CAPTION)
    assert "80x48" in text and "job #1" in text and interaction.ephemeral
    assert interaction.original is not None and interaction.original.components == []
    [row] = await world.jobs()
    assert json.loads(row["request"])["mode"] == "describe"
    assert row["status"] == "succeeded" and row["cost"] == 0 and row["user_id"] == ALICE
    assert CAPTION in row["result_text"]
    assert await delivered(world, 1)
    assert await ledger(world, 1) == [("reserve", 0), ("commit", 0)]
    assert world.fake.messages == [] and not world.fake.violations


async def test_a_banned_member_cannot_describe(world: World):
    await world.runtime.moderation.ban(
        ALICE, guild_id=GUILD, actor_id=MOD, reason="spam", expires_at=None
    )
    text = await answered(await describe(world), "can't use the image bot here")
    assert "spam" in text
    assert await world.jobs() == [] and world.provider.described == []


async def test_the_cooldown_refuses_a_burst_of_descriptions(tmp_path: Path, redirect: None):
    async with open_world(tmp_path, quota={"cooldown_seconds": 600}) as world:
        await answered(await describe(world), CAPTION)
        await answered(await describe(world), "Please wait")
        await answered(await imagine(world), "Please wait")  # one cooldown for every job
        assert len(await world.jobs()) == 1 and len(world.provider.described) == 1


async def test_a_waiting_description_counts_against_the_queue_limit(tmp_path: Path, redirect: None):
    async with open_world(tmp_path, queue={"max_queued_per_user": 1}) as world:
        release = held(world)
        await imagine(world, "first")
        await asyncio.wait_for(world.provider.started.wait(), 10)
        waiting = await describe(world)
        await answered(waiting, "queued")
        await answered(await describe(world), "already have 1 job waiting")
        await answered(await imagine(world, "second"), "already have 1 job waiting")
        release.set()
        await answered(waiting, CAPTION)
        assert len(await world.jobs()) == 2


async def test_descriptions_wait_their_fair_turn_behind_other_members_generations(world: World):
    release = held(world)
    await imagine(world, "first")
    await asyncio.wait_for(world.provider.started.wait(), 10)
    await imagine(world, "second")
    await imagine(world, "third")
    bob = await describe(world, user=BOB)
    text = await answered(bob, "queued")
    assert "description" in text and "1 ahead of it" in text  # before Alice's third job
    await asyncio.sleep(0.3)
    assert world.provider.described == [] and CAPTION not in bob.original.content  # type: ignore[union-attr]
    release.set()
    await answered(bob, CAPTION)
    await world.fake.wait_for(lambda: len(world.provider.calls) == 3, 15)
    rows = await world.runtime.db.fetchall(
        "SELECT job_id FROM jobs WHERE started_at IS NOT NULL ORDER BY started_at"
    )
    assert [row["job_id"] for row in rows] == [1, 2, 4, 3]


async def test_a_failed_description_is_refunded(tmp_path: Path, redirect: None):
    sections = {"quota": {"describe_cost": 2}, "fake": {"fail_describe": "broken"}}
    async with open_world(tmp_path, **sections) as world:
        text = await answered(await describe(world), "failed")
        assert "rejected" in text and "refunded" in text
        assert await ledger(world, 1) == [("reserve", 2), ("refund", -2)]
        assert await world.used(ALICE) == 0


async def test_a_description_costs_describe_cost_and_the_quota_can_refuse_it(
    tmp_path: Path, redirect: None
):
    async with open_world(tmp_path, quota={"daily_units": 3, "describe_cost": 2}) as world:
        await answered(await describe(world), CAPTION)
        assert await world.used(ALICE) == 2
        text = await answered(await describe(world), "quota")
        assert "needs 2 quota units but you have 1" in text
        assert len(await world.jobs()) == 1


async def test_a_description_that_outlives_its_token_is_posted_with_a_mention(world: World):
    release = held(world)
    await imagine(world, "first")
    await asyncio.wait_for(world.provider.started.wait(), 10)
    interaction = await describe(world)
    await answered(interaction, "queued")
    for job_id in (1, 2):
        await world.runtime.store.update_target(job_id, {"token_expires": time.time() - 1})
    world.fake.advance(16 * 60)
    release.set()
    await world.fake.wait_for(lambda: any(CAPTION in m.content for m in world.fake.messages), 15)
    posted = next(m for m in world.fake.messages if CAPTION in m.content)
    assert posted.channel_id == GENERAL and f"<@{ALICE}>" in posted.content
    assert interaction.followups == [] and not world.fake.violations


async def test_a_queued_description_is_answered_after_a_restart(tmp_path: Path, redirect: None):
    async with open_world(tmp_path, queue={"shutdown_grace_seconds": 0.1}) as world:
        held(world)
        await imagine(world, "first")
        await asyncio.wait_for(world.provider.started.wait(), 10)
        interaction = await describe(world)
        await answered(interaction, "queued")
        await world.bot.close()  # the running job goes back to the queue; this one waits
        async with world.restart() as (_, runtime):
            await answered(interaction, CAPTION)
            job = await runtime.store.get(2)
            assert job is not None and job.status is JobStatus.SUCCEEDED and job.delivered
        assert not world.fake.violations


async def test_show_repeats_a_description_privately(world: World):
    await answered(await describe(world), CAPTION)
    shown = await world.fake.invoke("show", {"job": 1}, user=ALICE, channel=GENERAL)
    text = await answered(shown, CAPTION)
    assert "80x48" in text and shown.ephemeral and not world.fake.violations


async def test_a_channel_that_switched_the_provider_off_refuses_descriptions(world: World):
    await world.runtime.policies.set_content(
        GUILD, {"disabled_providers": ["fake"]}, channel_id=GENERAL
    )
    await answered(await describe(world), "switched on here")
    assert await world.jobs() == [] and world.provider.described == []


async def test_a_hostile_caption_stays_in_its_code_block_and_mentions_no_one(world: World):
    await answered(await describe(world), CAPTION)
    job = await world.runtime.store.get(1)
    assert job is not None
    text = render.caption(
        dataclasses.replace(job, result_text="a```\n@everyone <@123456789012345678> ```")
    )
    assert (
        text.count("```") == 2 and "@everyone" not in text and "<@123456789012345678>" not in text
    )
