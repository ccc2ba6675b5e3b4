"""Interaction tokens (15 minutes of webhook access to a member's conversation) are kept only
while they can be used: dropped at delivery, swept once expired; delivery still works."""

from __future__ import annotations

import asyncio
import time

from tests.cogs.conftest import ALICE, GENERAL, World
from tests.cogs.test_imagine import buttons, result_files, result_mention, result_of
from tests.cogs.test_results import held, imagine


async def stored_text(world: World) -> str:
    """Every job row as text: wherever a token hides in it, it shows."""
    rows = await world.runtime.db.fetchall("SELECT * FROM jobs ORDER BY job_id")
    return "\n".join(repr(tuple(row)) for row in rows)


async def delivered(world: World, job_id: int) -> None:
    for _ in range(200):
        job = await world.runtime.store.get(job_id)
        if job is not None and job.delivered:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} was not recorded as delivered")


async def test_a_delivered_job_keeps_no_interaction_token(world: World):
    interaction = await imagine(world)
    assert (await result_of(world, interaction)).files
    await delivered(world, 1)
    job = await world.runtime.store.get(1)
    assert job is not None and "token" not in job.target
    assert interaction.token not in await stored_text(world)


async def test_an_expired_token_is_swept_while_the_job_runs_and_the_result_still_arrives(
    world: World,
):
    release = held(world)
    interaction = await imagine(world)
    await asyncio.wait_for(world.provider.started.wait(), 10)
    await interaction.wait(lambda i: bool(i.original and i.original.components))
    assert interaction.token in await stored_text(world)  # alive: the status message uses it
    world.fake.advance(16 * 60)
    await world.runtime.store.update_target(1, {"token_expires": time.time() - 1})
    cog = world.bot.get_cog("Results")  # its loop runs this every minute
    assert cog is not None
    await cog.sweep_tokens()  # type: ignore[attr-defined]
    assert interaction.token not in await stored_text(world)
    release.set()
    await world.fake.wait_for(lambda: bool(world.fake.messages), timeout=15)
    [posted] = world.fake.messages
    assert f"<@{ALICE}>" in result_mention(posted) and posted.channel_id == GENERAL
    assert result_files(posted) == ["1-0.png"] and "img:u:1:0" in buttons(posted)
    assert interaction.followups == [] and not world.fake.violations
