"""A job's status message: it always ends in a final state, even when the job outlives the
interaction token; it counts steps as the member asked for them; its estimates count down on
the member's client."""

from __future__ import annotations

import asyncio
import dataclasses
import re
import time
from pathlib import Path

from bot.jobs import JobStatus, QueuePosition
from bot.members import Preferences
from cogs import render
from engine import Progress
from tests.cogs.conftest import ALICE, GENERAL, World, open_world
from tests.cogs.test_imagine import result_mention, result_of
from tests.cogs.test_results import held, imagine

COUNTDOWN = re.compile(r"<t:(\d+):R>")


async def near_expiry(world: World, job_id: int) -> None:
    """The job's token has a few seconds left before the bot gives it up."""
    await world.runtime.store.update_target(job_id, {"token_expires": time.time() + 10})
    cog = world.bot.get_cog("Results")  # its loop runs this every progress interval
    assert cog is not None
    await cog._refresh()  # type: ignore[attr-defined]


async def test_a_job_that_outlives_its_token_leaves_a_status_saying_where_the_result_goes(
    world: World,
):
    release = held(world)
    interaction = await imagine(world)
    await asyncio.wait_for(world.provider.started.wait(), 10)
    await interaction.wait(lambda i: bool(i.original and i.original.components))
    await near_expiry(world, 1)
    await interaction.wait(lambda i: f"<#{GENERAL}>" in i.original.content)  # type: ignore[union-attr]
    world.fake.advance(16 * 60)
    await world.runtime.store.update_target(1, {"token_expires": time.time() - 1})
    release.set()
    await world.fake.wait_for(lambda: bool(world.fake.messages), timeout=15)
    [posted] = world.fake.messages
    assert posted.channel_id == GENERAL and f"<@{ALICE}>" in result_mention(posted)
    status = interaction.original
    assert status is not None
    assert "will arrive" in status.content and "running" in status.content
    assert "▱" not in status.content  # the last edit is the hand-over, not a frozen bar
    assert not world.fake.violations


async def test_a_private_job_that_outlives_its_token_says_the_result_comes_by_dm(world: World):
    await world.runtime.members.save_preferences(ALICE, Preferences(private_delivery=True))
    release = held(world)
    interaction = await imagine(world)
    await interaction.wait(lambda i: bool(i.original and i.original.components))
    await near_expiry(world, 1)
    await interaction.wait(lambda i: "in your DMs" in i.original.content)  # type: ignore[union-attr]
    await world.runtime.store.update_target(1, {"token_expires": time.time() - 1})
    release.set()
    await world.fake.wait_for(lambda: bool(world.fake.messages), timeout=15)
    [posted] = world.fake.messages
    assert posted.channel_id == world.fake.dm_channel_of(ALICE)
    assert "in your DMs" in interaction.original.content  # type: ignore[union-attr]
    assert not world.fake.violations


async def test_a_job_that_ends_after_the_hand_over_still_shows_how_it_ended(world: World):
    release = held(world)
    interaction = await imagine(world)
    await interaction.wait(lambda i: bool(i.original and i.original.components))
    await near_expiry(world, 1)
    await interaction.wait(lambda i: "will arrive" in i.original.content)  # type: ignore[union-attr]
    release.set()  # the token is still usable: the status message gets its final state
    await result_of(world, interaction)
    await interaction.wait(lambda i: "is done" in i.original.content)  # type: ignore[union-attr]
    assert interaction.original.components == []  # type: ignore[union-attr]


async def test_the_step_count_is_the_members_own(tmp_path: Path, redirect: None):
    """The provider calls back five times for a four-step job (as a scheduler with a warm-up
    step does): the member reads four steps, never "step 5/5"."""
    async with open_world(tmp_path, fake={"steps": 5, "step_seconds": 0.3}) as world:
        interaction = await imagine(world, steps=4)
        await result_of(world, interaction)
        status = interaction.original
        assert status is not None
        lines = [e["content"] for e in status.edits if "step " in e.get("content", "")]
        assert lines and all(re.search(r"step [0-4]/4\b", line) for line in lines)
        job = await world.runtime.store.get(1)
        assert job is not None
        assert "step 4/4" in render.progress_line(job, Progress(5, 5))
        assert "step 2/4" in render.progress_line(job, Progress(3, 5))


async def test_a_queued_estimate_counts_down_on_the_client(world: World):
    interaction = await imagine(world)
    await result_of(world, interaction)
    job = await world.runtime.store.get(1)
    assert job is not None
    queued = QueuePosition(1, JobStatus.QUEUED, position=2, eta=125.0)
    line = render.status_line(job, queued, now=1_000_000.0)
    [moment] = COUNTDOWN.findall(line)
    assert 1_000_125 <= int(moment) < 1_000_125 + render.ETA_GRID
    assert "about" not in line
    later = render.status_line(job, dataclasses.replace(queued, eta=120.0), now=1_000_004.0)
    assert later == line  # the same moment: no edit is needed while it counts down


async def test_a_running_estimate_counts_down_on_the_client(world: World):
    interaction = await imagine(world)
    await result_of(world, interaction)
    job = await world.runtime.store.get(1)
    assert job is not None and job.started_at is not None
    line = render.progress_line(job, Progress(1, 4), now=job.started_at + 10.0)
    [moment] = COUNTDOWN.findall(line)
    assert job.started_at + 40.0 <= int(moment) < job.started_at + 40.0 + render.ETA_GRID
