"""What members meet when results have expired or the disk is nearly full."""

from __future__ import annotations

import asyncio
from pathlib import Path

from bot.freespace import NOTICE
from bot.retention import Retention
from tests.cogs.conftest import ALICE, World, open_world
from tests.cogs.test_admin import OWNER, run
from tests.cogs.test_imagine import result_of
from tests.cogs.test_member import reply_of
from tests.cogs.test_results import imagine


async def expire_all(world: World) -> None:
    async with world.runtime.db.transaction() as conn:
        await conn.execute("UPDATE jobs SET finished_at = 0")
    storage = world.settings.storage
    await Retention(world.runtime.db, storage.results_path, storage.keep_results_days).prune()


async def test_show_and_buttons_of_an_expired_result_say_so(world: World):
    result = await result_of(world, await imagine(world, "a fox"))
    variation = await result_of(world, await world.fake.click(result.id, "img:v:1:0", user=ALICE))
    await expire_all(world)
    assert "Job #1 has expired: this bot keeps results for 30 days" in await reply_of(
        world, "show", {"job": 1}
    )
    for message, custom_id in (
        (result, "img:u:1:0"),
        (result, "img:v:1:0"),
        (variation, "img:r:2:0"),  # a variation's re-roll needs its input image
    ):
        clicked = await world.fake.click(message.id, custom_id, user=ALICE)
        await clicked.wait(lambda i: bool(i.original and i.original.content))
        assert "has expired" in clicked.original.content  # type: ignore[union-attr]
    again = await world.fake.click(result.id, "img:r:1:0", user=ALICE)  # needs no stored image
    await result_of(world, again)


async def test_a_running_bot_prunes_old_results_in_the_background(world: World):
    result = await result_of(world, await imagine(world, "a fox"))
    folder = world.settings.storage.results_path / "1"
    async with world.runtime.db.transaction() as conn:  # finished 31 days ago
        await conn.execute("UPDATE jobs SET finished_at = finished_at - 31 * 86400")
    await world.bot.close()
    async with world.restart() as (_, runtime), asyncio.timeout(10):
        while await runtime.store.images(1):  # noqa: ASYNC110 (the database, polled)
            await asyncio.sleep(0.02)
        assert not folder.exists()
        clicked = await world.fake.click(result.id, "img:u:1:0", user=ALICE)
        await clicked.wait(lambda i: bool(i.original and i.original.content))
        assert "Job #1 has expired" in clicked.original.content  # type: ignore[union-attr]


async def test_status_says_when_the_disk_is_too_full_to_start_jobs(tmp_path: Path, redirect: None):
    huge = 1 << 40  # MB: more than any disk has free
    async with open_world(
        tmp_path, discord={"owner_ids": [OWNER]}, storage={"min_free_mb": huge}
    ) as world:
        world.fake.add_user(OWNER, "owner")
        assert NOTICE in await run(world, "status", user=ALICE)
        owner = await run(world, "status", user=OWNER)
        assert NOTICE in owner and f"storage.min_free_mb is {huge}" in owner
        job = await imagine(world, "waits")
        await job.wait(lambda i: bool(i.original and "queued" in i.original.content))
        assert world.provider.calls == []
