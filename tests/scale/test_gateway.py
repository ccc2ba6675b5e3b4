"""The gateway as shard clusters: real ImageBots (AutoShardedBot) against the sharded fake
Discord, identifying through the identify lock on a real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path

import discord
import pytest
from pydantic import SecretStr
from redis.asyncio import Redis

from bot.app import ImageBot, point_at
from bot.errors import SettingsError
from bot.runtime import Runtime, open_runtime
from bot.scale.gateway import Cluster, IdentifyLock, ShardedImageBot, open_bot
from bot.settings import LoadedSettings, ScaleSettings, Secrets
from tests.conftest import make_settings
from tests.fakes.discord import TOKEN, FakeDiscord, connected
from tests.scale.servers import RedisServer

pytestmark = [pytest.mark.scale, pytest.mark.usefixtures("redirect")]

SHARDS = 4
WINDOW = 1.0  # the fake's identify window; Discord's is 5 s
LOCK_SECONDS = WINDOW
GUILDS = {shard: (40 + shard) << 22 for shard in range(SHARDS)}  # (id >> 22) % 4 == shard
ALICE = 201


@asynccontextmanager
async def sharded_discord(max_concurrency: int) -> AsyncIterator[FakeDiscord]:
    fake = FakeDiscord(shard_count=SHARDS, max_concurrency=max_concurrency, identify_window=WINDOW)
    for guild in GUILDS.values():
        fake.add_guild(guild)
        fake.add_channel(guild + 1, guild_id=guild)
        fake.add_member(guild, ALICE)
    async with fake:
        yield fake


def cluster(redis: RedisServer, shard_ids: Sequence[int] | None) -> Cluster:
    scale = ScaleSettings(
        enabled=True,
        shard_count=SHARDS,
        shard_ids=None if shard_ids is None else tuple(shard_ids),
        identify_lock_seconds=LOCK_SECONDS,
    )
    found = Cluster.of(scale, SecretStr(redis.url))
    assert found is not None
    return found


@asynccontextmanager
async def cluster_bot(
    fake: FakeDiscord, folder: Path, shards: Cluster
) -> AsyncIterator[tuple[ShardedImageBot, Runtime]]:
    """One cluster with its own runtime (SQLite: the gateway is what is under test here)."""
    settings = make_settings(
        folder,
        discord={
            "api_base": fake.api_base,
            "gateway_url": fake.gateway_url,
            "attachment_origins": [f"{fake.base}/attachments/"],
        },
    )
    point_at(settings.discord.api_base, settings.discord.gateway_url)
    async with (
        open_runtime(LoadedSettings(settings, Secrets(), None)) as runtime,
        open_bot(runtime, shards) as bot,
    ):
        assert isinstance(bot, ShardedImageBot)
        async with connected(bot, fake, sync=False, ready_timeout=30):
            yield bot, runtime


@asynccontextmanager
async def started_together(
    fake: FakeDiscord, tmp_path: Path, clusters: Sequence[Cluster]
) -> AsyncIterator[list[tuple[ShardedImageBot, Runtime]]]:
    async with AsyncExitStack() as stack:
        async with asyncio.TaskGroup() as group:
            entered = [
                group.create_task(
                    stack.enter_async_context(cluster_bot(fake, tmp_path / f"c{n}", shards))
                )
                for n, shards in enumerate(clusters)
            ]
        yield [task.result() for task in entered]


def listen(bot: ImageBot) -> list[int]:
    """The ids of the interactions ``bot`` receives."""
    seen: list[int] = []

    async def on_interaction(interaction: discord.Interaction[ImageBot]) -> None:
        seen.append(interaction.id)

    bot.add_listener(on_interaction)
    return seen


def assert_spaced(fake: FakeDiscord, window: float) -> None:
    """Each bucket's IDENTIFYs are at least ``window`` apart, as the fake received them."""
    buckets: dict[int, list[float]] = {}
    for identify in fake.shards.identifies:
        buckets.setdefault(identify.bucket, []).append(identify.at)
    for times in buckets.values():
        gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
        assert all(gap >= window for gap in gaps), gaps


async def test_two_clusters_share_the_shards_and_keep_the_identify_rate(
    tmp_path: Path, redis_server: RedisServer
):
    async with (
        sharded_discord(max_concurrency=1) as fake,
        started_together(
            fake, tmp_path, [cluster(redis_server, (0, 1)), cluster(redis_server, (2, 3))]
        ) as [(first, first_runtime), (second, second_runtime)],
    ):
        assert fake.shards.refused == []
        assert sorted(i.shard_id for i in fake.shards.identifies) == [0, 1, 2, 3]
        assert_spaced(fake, WINDOW)
        assert first.max_concurrency == second.max_concurrency == 1
        assert {guild.id for guild in first.guilds} == {GUILDS[0], GUILDS[1]}
        assert {guild.id for guild in second.guilds} == {GUILDS[2], GUILDS[3]}
        assert (first.syncs_commands, second.syncs_commands) == (True, False)
        assert fake.syncs == 1

        seen_by_first, seen_by_second = listen(first), listen(second)
        dm = await fake.invoke("help", user=ALICE, channel=fake.dm_channel_of(ALICE))
        assert (await dm.response())["type"] == 4
        channel = GUILDS[3] + 1
        in_guild = await fake.invoke(
            "imagine", {"prompt": "a lighthouse"}, user=ALICE, channel=channel
        )
        await fake.wait_for(lambda: any(m.attachments for m in fake.channel_messages(channel)), 15)
        assert (seen_by_first, seen_by_second) == ([dm.id], [in_guild.id])
        assert await second_runtime.store.get(1) is not None
        assert await first_runtime.store.get(1) is None
        assert not fake.violations


async def test_clusters_racing_without_the_lock_are_refused_by_the_fake():
    """Two clusters with discord.py's own hook (which spaces only its own shards): their
    first shards identify together in bucket 0, and the fake answers INVALID_SESSION."""
    async with sharded_discord(max_concurrency=1) as fake:
        point_at(fake.api_base, fake.gateway_url)
        clients = [
            discord.AutoShardedClient(
                intents=discord.Intents.none(), shard_count=SHARDS, shard_ids=ids
            )
            for ids in ([0, 1], [2, 3])
        ]
        connections = []
        for client in clients:
            await client.login(TOKEN)
        for client in clients:
            connections.append(asyncio.create_task(client.connect(reconnect=True)))
        try:
            await fake.wait_for(lambda: bool(fake.shards.refused), 10)
        finally:
            for client in clients:
                await client.close()
            # Still launching their second shards, which discord.py's hook delays by 5 s.
            for connection in connections:
                connection.cancel()
            await asyncio.gather(*connections, return_exceptions=True)
        assert "bucket 0 identified" in fake.shards.refused[0]


async def test_the_bot_reads_max_concurrency_and_identifies_buckets_side_by_side(
    tmp_path: Path, redis_server: RedisServer
):
    async with (
        sharded_discord(max_concurrency=2) as fake,
        cluster_bot(fake, tmp_path, cluster(redis_server, None)) as (bot, _),
    ):
        assert bot.max_concurrency == 2
        assert bot.shard_ids == [0, 1, 2, 3]
        assert fake.shards.refused == []
        assert [(i.shard_id, i.bucket) for i in fake.shards.identifies][:2] == [(0, 0), (1, 1)]
        assert_spaced(fake, WINDOW)
        started = [i.at for i in fake.shards.identifies]
        assert started[1] - started[0] < WINDOW / 2  # different buckets do not wait


async def test_without_max_concurrency_from_discord_the_bot_identifies_one_at_a_time(
    tmp_path: Path, redis_server: RedisServer
):
    async with sharded_discord(max_concurrency=2) as fake:
        fake.fail_next("GET", r"^/gateway/bot$", status=404)
        async with cluster_bot(fake, tmp_path, cluster(redis_server, (0, 1))) as (bot, _):
            assert bot.max_concurrency == 1
            first, second = fake.shards.identifies
            assert second.at - first.at >= LOCK_SECONDS - 0.05
            assert fake.shards.refused == []


async def test_one_bucket_s_acquirers_are_spaced_by_the_hold_and_others_do_not_wait(
    redis_server: RedisServer,
):
    hold = 0.4
    redis = Redis.from_url(redis_server.url)
    try:
        first, second = (IdentifyLock(redis, "test", hold) for _ in range(2))
        start = time.monotonic()
        await first.acquire(0)
        assert 0 < await redis.pttl("test:identify:0") <= hold * 1000
        await second.acquire(0)
        # A lower bound, which load only lengthens: the spacing is the behaviour. The second
        # waited out the first's hold (which Redis counts in whole milliseconds).
        assert time.monotonic() - start >= hold - 0.002

        # Bucket 1 waits for nobody, even while bucket 0 is held longer than any test runs.
        held, waiting, other = (IdentifyLock(redis, "long", 600) for _ in range(3))
        await held.acquire(0)
        blocked = asyncio.create_task(waiting.acquire(0))
        await asyncio.wait_for(other.acquire(1), 60)  # a guard against a hang, not a measure
        assert not blocked.done()
        blocked.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await blocked

        await redis.pexpire("long:identify:0", 1000)  # most of the hold has gone
        await held.hold_from_now(0)  # READY came: the hold counts from now
        assert await redis.pttl("long:identify:0") > 1000
        await redis.delete("long:identify:0", "long:identify:1")
    finally:
        await redis.aclose()


@pytest.mark.parametrize(
    ("scale", "message"),
    [
        ({"shard_ids": (0, 1)}, "scale.shard_ids needs scale.shard_count"),
        ({"shard_count": 2, "shard_ids": (1, 2)}, r"scale.shard_ids \[2\] are out of range"),
        ({"shard_count": 2, "shard_ids": (1, 1)}, "name each shard once"),
        ({"shard_count": 2, "shard_ids": ()}, "name each shard once"),
    ],
)
def test_inconsistent_shard_settings_stop_start_up(scale: dict[str, object], message: str):
    with pytest.raises(SettingsError, match=message):
        Cluster.of(ScaleSettings(enabled=True, **scale), SecretStr("redis://x"))  # type: ignore[arg-type]


def test_shards_need_redis_and_the_scaled_mode():
    shards = ScaleSettings(enabled=True, shard_count=2)
    with pytest.raises(SettingsError, match="IMAGEBOT_REDIS_URL"):
        Cluster.of(shards, None)
    assert Cluster.of(ScaleSettings(enabled=False, shard_count=2), None) is None
    assert Cluster.of(ScaleSettings(enabled=True), None) is None
    assert Cluster.of(shards, SecretStr("redis://x")) == Cluster(
        2, (0, 1), SecretStr("redis://x"), "imagebot", 5.0
    )
