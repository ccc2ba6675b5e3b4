"""The whole scaled deployment against the fake Discord: two bot clusters over four shards on
one PostgreSQL and one Redis, and a GPU worker process. A member's /imagine is accepted by the
cluster that owns the guild's shard, released by whichever cluster leads, run by the worker
and posted once, by the cluster that owns the shard."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import pytest

from bot.app import ImageBot, point_at
from bot.jobs import JobStatus
from bot.runtime import Runtime, open_runtime
from bot.scale.gateway import open_bot
from bot.settings import LoadedSettings, Settings
from tests.fakes.discord import FakeDiscord, connected
from tests.scale.harness import Deploy, Deployment, until
from tests.scale.servers import RedisServer
from tests.scale.test_gateway import ALICE, GUILDS, cluster, sharded_discord

pytestmark = [pytest.mark.scale, pytest.mark.usefixtures("redirect")]


@asynccontextmanager
async def scaled_bot(
    deployed: Deployment, fake: FakeDiscord, redis: RedisServer, shard_ids: tuple[int, ...]
) -> AsyncIterator[tuple[ImageBot, Runtime]]:
    raw: dict[str, Any] = {**deployed.raw, "scale": {**deployed.raw["scale"]}}
    raw["scale"].update(shard_count=4, shard_ids=list(shard_ids), identify_lock_seconds=1.0)
    loaded = LoadedSettings(Settings.model_validate(raw), deployed.secrets(), None)
    point_at(fake.api_base, fake.gateway_url)
    async with (
        open_runtime(loaded) as runtime,
        open_bot(runtime, cluster(redis, shard_ids)) as bot,
        connected(bot, fake, sync=False, ready_timeout=30),
    ):
        yield bot, runtime


async def test_two_clusters_and_a_gpu_worker_serve_imagine_once(
    deploy: Deploy, redis_server: RedisServer
) -> None:
    async with sharded_discord(max_concurrency=1) as fake:
        discord_settings = {
            "api_base": fake.api_base,
            "gateway_url": fake.gateway_url,
            "attachment_origins": [f"{fake.base}/attachments/"],
        }
        async with (
            deploy(discord=discord_settings) as deployed,
            AsyncExitStack() as stack,
        ):
            deployed.start_worker()
            first, first_runtime = await stack.enter_async_context(
                scaled_bot(deployed, fake, redis_server, (0, 1))
            )
            second, _ = await stack.enter_async_context(
                scaled_bot(deployed, fake, redis_server, (2, 3))
            )
            assert fake.shards.refused == []
            channel = GUILDS[3] + 1
            await fake.invoke("imagine", {"prompt": "a lighthouse"}, user=ALICE, channel=channel)
            dm = fake.dm_channel_of(ALICE)
            await fake.invoke("imagine", {"prompt": "a harbour"}, user=ALICE, channel=dm)

            def posted(where: int) -> list[Any]:
                return [m for m in fake.channel_messages(where) if m.attachments]

            await fake.wait_for(lambda: bool(posted(channel)) and bool(posted(dm)), 60)
            store = first_runtime.store

            async def delivered() -> bool:
                jobs = [await store.get(job_id) for job_id in (1, 2)]
                return all(job is not None and job.delivered for job in jobs)

            await until(delivered, 30, "both deliveries to be recorded")
            for job_id in (1, 2):
                job = await store.get(job_id)
                assert job is not None and job.status is JobStatus.SUCCEEDED
            assert len(posted(channel)) == 1 and len(posted(dm)) == 1
            leaders = [bot.worker for bot in (first, second)]
            assert sum(bool(getattr(r, "_dispatcher").led.is_set()) for r in leaders) == 1  # noqa: B009
            assert not fake.violations
