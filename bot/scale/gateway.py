"""The gateway in the scaled mode: AutoShardedBot clusters, each running some shards of one
fixed shard count, whose IDENTIFYs share a Redis lock per identify bucket so that together
they keep Discord's limit (``max_concurrency`` IDENTIFYs per 5 seconds).

The clusters also share Discord's REST rate limits, which each process only sees its own
part of. A deployment points every cluster's ``discord.api_base`` at one rate-limit proxy
(nirn-proxy, for instance, serving ``http://proxy:8080/api/v10``) that keeps the buckets for
all of them."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord
from discord.ext import commands
from pydantic import SecretStr

from bot.app import EXTENSIONS, ImageBot
from bot.errors import SettingsError
from bot.runtime import Runtime
from bot.settings import REDIS_ENV, ScaleSettings

if TYPE_CHECKING:
    from redis.asyncio import Redis

log = logging.getLogger(__name__)

RETRY_SECONDS = 0.02


@dataclass(frozen=True)
class Cluster:
    """The shards this process runs, out of ``shard_count``, and where the lock lives."""

    shard_count: int
    shard_ids: tuple[int, ...]
    redis_url: SecretStr
    key_prefix: str
    identify_lock_seconds: float

    @classmethod
    def of(cls, scale: ScaleSettings, redis_url: SecretStr | None) -> Cluster | None:
        """This process's cluster; None for the one unsharded bot (the embedded mode, or the
        scaled mode without shard settings)."""
        if not scale.enabled or (scale.shard_count is None and scale.shard_ids is None):
            return None
        count = scale.shard_count
        if count is None:
            raise SettingsError(
                "scale.shard_ids needs scale.shard_count: every cluster runs the same shard "
                "count, and each names its own shard_ids."
            )
        ids = tuple(range(count)) if scale.shard_ids is None else scale.shard_ids
        if not ids or len(set(ids)) != len(ids):
            raise SettingsError(f"scale.shard_ids = {list(ids)}: name each shard once.")
        outside = [shard for shard in ids if shard >= count]
        if outside:
            raise SettingsError(
                f"scale.shard_ids {outside} are out of range: shard ids run from 0 to "
                f"scale.shard_count - 1 = {count - 1}."
            )
        if redis_url is None:
            raise SettingsError(
                f"scale.shard_count is set, so the clusters share an identify lock in Redis: "
                f"set {REDIS_ENV} (redis://user:password@host:6379/0)."
            )
        return cls(count, ids, redis_url, scale.queue_name, scale.identify_lock_seconds)


class IdentifyLock:
    """At most one IDENTIFY per bucket per ``hold_seconds`` across every process that shares
    the Redis server and ``prefix``. The key is never released: its expiry is the spacing.

    The key is taken before the IDENTIFY is sent, and the process may stall in between; so
    once Discord answers (READY), the hold starts again from then, which keeps the spacing
    as Discord measures it."""

    def __init__(self, redis: Redis, prefix: str, hold_seconds: float) -> None:
        self.redis = redis
        self.prefix = prefix
        self.hold_ms = max(1, round(hold_seconds * 1000))
        self.holder = f"{socket.gethostname()}:{os.getpid()}"

    def key(self, bucket: int) -> str:
        return f"{self.prefix}:identify:{bucket}"

    async def acquire(self, bucket: int) -> None:
        key = self.key(bucket)
        while not await self.redis.set(key, self.holder, nx=True, px=self.hold_ms):
            left_ms = await self.redis.pttl(key)  # -2 when it just expired
            await asyncio.sleep(max(RETRY_SECONDS, min(left_ms, self.hold_ms) / 1000))

    async def hold_from_now(self, bucket: int) -> None:
        """Restarts the hold (only ever later: the key was set before now)."""
        await self.redis.pexpire(self.key(bucket), self.hold_ms)


class ShardedImageBot(ImageBot, commands.AutoShardedBot):
    """The ImageBot as one cluster of a sharded bot. Only the cluster with shard 0 syncs the
    command tree; every IDENTIFY first takes its bucket's lock."""

    def __init__(
        self,
        runtime: Runtime,
        cluster: Cluster,
        lock: IdentifyLock,
        extensions: Sequence[str] = EXTENSIONS,
    ) -> None:
        super().__init__(
            runtime,
            extensions,
            shard_count=cluster.shard_count,
            shard_ids=list(cluster.shard_ids),
        )
        self.cluster = cluster
        self.identify_lock = lock
        self.max_concurrency = 1

    @property
    def syncs_commands(self) -> bool:
        return 0 in self.cluster.shard_ids

    async def setup_hook(self) -> None:
        self.max_concurrency = await self.read_max_concurrency()
        await super().setup_hook()

    async def read_max_concurrency(self) -> int:
        """Discord's IDENTIFYs per 5 s for this bot (GET /gateway/bot); 1 if it cannot say."""
        try:
            limits = await self.fetch_session_start_limits()
        except (discord.GatewayNotFound, KeyError, TypeError):
            log.warning("GET /gateway/bot gave no max_concurrency; assuming 1", exc_info=True)
            return 1
        log.info(
            "Shards %s of %d; max_concurrency %d, %d of %d session starts left",
            self.shard_ids,
            self.shard_count,
            limits.max_concurrency,
            limits.remaining,
            limits.total,
        )
        return max(1, limits.max_concurrency)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        bucket = (shard_id or 0) % self.max_concurrency
        await self.identify_lock.acquire(bucket)
        log.debug("Shard %s took identify bucket %d", shard_id, bucket)

    async def on_shard_connect(self, shard_id: int) -> None:
        await self.identify_lock.hold_from_now(shard_id % self.max_concurrency)


@asynccontextmanager
async def open_bot(runtime: Runtime, cluster: Cluster | None) -> AsyncIterator[ImageBot]:
    """The bot this process runs: the ImageBot, or for a cluster its sharded variant with a
    Redis connection for the identify lock, closed with it."""
    if cluster is None:
        async with ImageBot(runtime) as bot:
            yield bot
        return
    from redis.asyncio import Redis  # noqa: PLC0415 (scaled-mode packages)

    redis = Redis.from_url(cluster.redis_url.get_secret_value())
    try:
        lock = IdentifyLock(redis, cluster.key_prefix, cluster.identify_lock_seconds)
        async with ShardedImageBot(runtime, cluster, lock) as sharded:
            yield sharded
    finally:
        await redis.aclose()
