"""A job's status message: it counts steps as the member asked for them; its estimates count
down on the member's client."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

from bot.jobs import JobStatus, QueuePosition
from cogs import render
from engine import Progress
from tests.cogs.conftest import World, open_world
from tests.cogs.test_imagine import result_of
from tests.cogs.test_results import imagine

COUNTDOWN = re.compile(r"<t:(\d+):R>")


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
