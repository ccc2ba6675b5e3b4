"""Quotas: who gets how much (policy), what a request costs, and the append-only ledger."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from bot.jobs import Requester
from bot.settings import QueueSettings, QuotaOverride, QuotaSettings
from bot.storage import Dialect, SqlConnection, SqlDatabase, Statement, Steps
from engine import GenerationRequest, Mode

GLOBAL_SCOPE = 0
INPAINT_FLOOR = 0.5  # an inpaint costs at least this share of the whole image's price


@dataclass(frozen=True, slots=True)
class QuotaLimits:
    """The rules for one requester in one place. ``scope`` is the guild, or 0 for DMs."""

    scope: int
    tier: str
    allowance: int
    cooldown: float
    max_queued: int
    priority: float = 1.0
    daily_cap: int | None = None  # the member's total across every scope, per day
    max_width: int | None = None  # a tier's own bounds, on top of the bot's limits
    max_height: int | None = None
    max_steps: int | None = None
    max_count: int | None = None


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    used: int
    allowance: int
    resets_at: float

    @property
    def remaining(self) -> int:
        return max(0, self.allowance - self.used)


def period_of(timestamp: float) -> str:
    """Quotas reset at midnight UTC; a period is that day."""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")


def resets_at(timestamp: float) -> float:
    day = datetime.fromtimestamp(timestamp, UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    return (day + timedelta(days=1)).timestamp()


class QuotaPolicy:
    """Global default, then the guild's override, then the best of the member's role tiers."""

    def __init__(self, quota: QuotaSettings, queue: QueueSettings) -> None:
        self._quota = quota
        self._queue = queue

    @property
    def daily_cap(self) -> int:
        """What a member may spend in a day across all servers and DMs: the owner's setting,
        else the most one server could give them (so more servers never mean more images)."""
        quota = self._quota
        if quota.global_daily_units is not None:
            return quota.global_daily_units
        allowances = [o.daily_units for o in (*quota.guilds.values(), *quota.tiers)]
        return max([quota.daily_units, *(units for units in allowances if units is not None)])

    def limits_for(self, requester: Requester) -> QuotaLimits:
        """What the owner's configuration allows; server-level settings can only lower it
        (``bounded``)."""
        limits = QuotaLimits(
            scope=GLOBAL_SCOPE,
            tier="default",
            allowance=self._quota.daily_units,
            cooldown=self._quota.cooldown_seconds,
            max_queued=self._queue.max_queued_per_user,
            daily_cap=self.daily_cap,
        )
        if requester.guild_id is None:
            return limits
        guild = self._quota.guilds.get(requester.guild_id)
        limits = replace(_override(limits, guild, "guild"), scope=requester.guild_id)
        tiers = [tier for tier in self._quota.tiers if tier.role_id in requester.role_ids]
        if not tiers:
            return limits
        best = max(tiers, key=lambda tier: (tier.daily_units or 0, tier.priority))
        return replace(_override(limits, best, best.name), priority=best.priority)

    def cost(
        self, request: GenerationRequest, multiplier: float = 1.0, *, painted: float = 1.0
    ) -> int:
        """Units for the work asked: at least one per image, more for bigger or longer work.
        Every mode is priced alike, except that an inpaint of a small region costs less: its
        cost scales with the share of the image its mask repaints (``painted``), never below
        half."""
        width, height = request.size
        pixels = width * height / (self._quota.base_width * self._quota.base_height)
        steps = (request.steps or self._quota.base_steps) / self._quota.base_steps
        region = max(INPAINT_FLOOR, min(1.0, painted)) if request.mode is Mode.INPAINT else 1.0
        units = request.count * pixels * steps * multiplier * region
        return max(request.count, math.ceil(units - 1e-9))


def bounded(limits: QuotaLimits, owner: QuotaLimits) -> QuotaLimits:
    """``limits`` as a server set them, never more generous than ``owner``'s."""
    return replace(
        limits,
        allowance=min(limits.allowance, owner.allowance),
        cooldown=max(limits.cooldown, owner.cooldown),
        max_queued=min(limits.max_queued, owner.max_queued),
        priority=min(limits.priority, owner.priority),
        daily_cap=owner.daily_cap,
    )


def _override(limits: QuotaLimits, override: QuotaOverride | None, name: str) -> QuotaLimits:
    if override is None:
        return limits
    return replace(
        limits,
        tier=name,
        allowance=limits.allowance if override.daily_units is None else override.daily_units,
        cooldown=limits.cooldown
        if override.cooldown_seconds is None
        else override.cooldown_seconds,
        max_queued=limits.max_queued if override.max_queued is None else override.max_queued,
    )


USAGE_SQL = (
    "SELECT COALESCE(SUM(units), 0) FROM quota_ledger "
    "WHERE user_id = ? AND scope = ? AND period = ?"
)


def lock_user(dialect: Dialect, user_id: int, now: float) -> Steps[None]:
    """Make sure the user has a row and hold it to the end of the transaction: everything
    that reads a user's usage to decide on it takes this first, so on PostgreSQL two such
    transactions of one user run one after the other (SQLite runs every write so)."""
    yield Statement(
        "INSERT INTO users (user_id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        (user_id, now),
    )
    yield Statement(f"SELECT user_id FROM users WHERE user_id = ?{dialect.for_update}", (user_id,))


def used(user_id: int, scope: int, period: str) -> Steps[int]:
    row = yield Statement(USAGE_SQL, (user_id, scope, period))
    return int(row[0]) if row else 0


# Against the cap across servers: jobs' charges everywhere, and the owner's own grants and
# resets (in DMs); a server's grants give back units in that server only.
EVERYWHERE_SQL = (
    "SELECT COALESCE(SUM(units), 0) FROM quota_ledger WHERE user_id = ? AND period = ? "
    f"AND (job_id IS NOT NULL OR scope = {GLOBAL_SCOPE})"
)


def used_everywhere(user_id: int, period: str) -> Steps[int]:
    row = yield Statement(EVERYWHERE_SQL, (user_id, period))
    return int(row[0]) if row else 0


def reserve(
    *, user_id: int, scope: int, period: str, units: int, job_id: int, now: float
) -> Statement:
    return Statement(
        "INSERT INTO quota_ledger (user_id, scope, period, kind, units, job_id, created_at) "
        "VALUES (?, ?, ?, 'reserve', ?, ?, ?)",
        (user_id, scope, period, units, job_id, now),
    )


async def settle_in(conn: SqlConnection, job_id: int, *, refund: bool, now: float) -> None:
    """Commit or refund a job's reservation, in the period it was made; at most once (the
    ledger's unique (job_id, kind) index and the NOT EXISTS make a repeat do nothing)."""
    kind = "refund" if refund else "commit"
    await conn.execute(
        "INSERT INTO quota_ledger "
        "(user_id, scope, period, kind, units, job_id, created_at) "
        "SELECT user_id, scope, period, ?, CASE WHEN ? THEN -units ELSE 0 END, job_id, ? "
        "FROM quota_ledger WHERE job_id = ? AND kind = 'reserve' "
        "AND NOT EXISTS (SELECT 1 FROM quota_ledger WHERE job_id = ? "
        "AND kind IN ('commit', 'refund')) "
        "ON CONFLICT DO NOTHING",
        (kind, refund, now, job_id, job_id),
    )


class QuotaLedger:
    """Reads and moderator adjustments of the ledger; reservations live with the job store."""

    def __init__(self, db: SqlDatabase) -> None:
        self._db = db

    async def usage(
        self, user_id: int, limits: QuotaLimits, now: float | None = None
    ) -> QuotaUsage:
        now = time.time() if now is None else now
        row = await self._db.fetchone(USAGE_SQL, (user_id, limits.scope, period_of(now)))
        used = int(row[0]) if row else 0
        return QuotaUsage(used=used, allowance=limits.allowance, resets_at=resets_at(now))

    async def usage_everywhere(
        self, user_id: int, limits: QuotaLimits, now: float | None = None
    ) -> QuotaUsage | None:
        """Today's use against the cap across all servers; None without a cap."""
        if limits.daily_cap is None:
            return None
        now = time.time() if now is None else now
        row = await self._db.fetchone(EVERYWHERE_SQL, (user_id, period_of(now)))
        used = int(row[0]) if row else 0
        return QuotaUsage(used=used, allowance=limits.daily_cap, resets_at=resets_at(now))

    async def grant(
        self,
        user_id: int,
        scope: int,
        units: int,
        *,
        actor_id: int,
        note: str = "",
        now: float | None = None,
    ) -> None:
        """Give ``units`` back for today (or take them, when negative)."""
        now = time.time() if now is None else now

        def work(dialect: Dialect) -> Steps[None]:
            yield _adjust("grant", user_id, scope, -units, actor_id, note, now)

        await self._db.run(work)

    async def reset(
        self, user_id: int, scope: int, *, actor_id: int, note: str = "", now: float | None = None
    ) -> None:
        """Bring today's usage back to zero."""
        now = time.time() if now is None else now

        def work(dialect: Dialect) -> Steps[None]:
            yield from lock_user(dialect, user_id, now)
            spent = yield from used(user_id, scope, period_of(now))
            yield _adjust("reset", user_id, scope, -spent, actor_id, note, now)

        await self._db.run(work)


def _adjust(
    kind: str, user_id: int, scope: int, units: int, actor_id: int, note: str, now: float
) -> Statement:
    return Statement(
        "INSERT INTO quota_ledger (user_id, scope, period, kind, units, actor_id, note, created_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (user_id, scope, period_of(now), kind, units, actor_id, note, now),
    )
