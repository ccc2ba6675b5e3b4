"""What members meet when results have expired or the disk is nearly full."""

from __future__ import annotations

from pathlib import Path

from bot.freespace import NOTICE
from tests.cogs.conftest import ALICE, open_world
from tests.cogs.test_admin import OWNER, run
from tests.cogs.test_results import imagine


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
