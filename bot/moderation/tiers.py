"""Role tiers: a guild's quota limits for members with a role."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass

from bot.moderation.audit import record_in
from bot.moderation.common import CACHE_SECONDS
from bot.storage import SqlDatabase


@dataclass(frozen=True, slots=True)
class Tier:
    """A guild's quota tier for members with a role; None leaves the guild's own limit."""

    guild_id: int
    role_id: int
    name: str
    daily_units: int | None = None
    max_queued: int | None = None
    max_width: int | None = None
    max_height: int | None = None
    max_steps: int | None = None
    max_count: int | None = None
    cooldown_seconds: float | None = None
    priority: float = 1.0


class TierStore:
    """Tiers in the database."""

    def __init__(self, db: SqlDatabase, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        # Read on every request: kept a few seconds (another process's change shows within
        # CACHE_SECONDS), dropped at once when this process changes them.
        self._tiers: dict[int, tuple[float, list[Tier]]] = {}

    async def set_tier(self, tier: Tier, *, actor_id: int) -> None:
        """Create or replace the tier of ``tier.role_id`` in its guild."""
        _check_tier(tier)
        now = self._clock()
        values = asdict(tier)
        columns = ", ".join(values)
        updates = ", ".join(f"{name} = excluded.{name}" for name in [*values, "updated_at"])
        async with self._db.transaction() as conn:
            await conn.execute(
                f"INSERT INTO tiers ({columns}, updated_at) "
                f"VALUES ({', '.join('?' * len(values))}, ?) "
                f"ON CONFLICT (guild_id, role_id) DO UPDATE SET {updates}",
                (*values.values(), now),
            )
            await record_in(
                conn,
                now,
                guild_id=tier.guild_id,
                actor_id=actor_id,
                action="tier.set",
                target_id=tier.role_id,
                details={k: v for k, v in values.items() if k not in ("guild_id", "role_id")},
            )
        self._tiers.pop(tier.guild_id, None)

    async def remove_tier(self, guild_id: int, role_id: int, *, actor_id: int) -> bool:
        now = self._clock()
        async with self._db.transaction() as conn:
            removed = await conn.execute(
                "DELETE FROM tiers WHERE guild_id = ? AND role_id = ?", (guild_id, role_id)
            )
            if not removed.rowcount:
                return False
            await record_in(
                conn,
                now,
                guild_id=guild_id,
                actor_id=actor_id,
                action="tier.remove",
                target_id=role_id,
            )
        self._tiers.pop(guild_id, None)
        return True

    async def tiers(self, guild_id: int) -> list[Tier]:
        cached = self._tiers.get(guild_id)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        tiers = await self._read_tiers(guild_id)
        self._tiers[guild_id] = (time.monotonic(), tiers)
        return tiers

    async def _read_tiers(self, guild_id: int) -> list[Tier]:
        rows = await self._db.fetchall(
            "SELECT * FROM tiers WHERE guild_id = ? ORDER BY priority DESC, name, role_id",
            (guild_id,),
        )
        fields = Tier.__dataclass_fields__
        return [Tier(**{key: row[key] for key in fields}) for row in rows]


def _check_tier(tier: Tier) -> None:
    if not tier.name.strip():
        raise ValueError("a tier needs a name")
    minimums = {
        "daily_units": 0,
        "max_queued": 1,
        "max_width": 1,
        "max_height": 1,
        "max_steps": 1,
        "max_count": 1,
        "cooldown_seconds": 0,
    }
    for name, least in minimums.items():
        value = getattr(tier, name)
        if value is not None and value < least:
            raise ValueError(f"a tier's {name} must be at least {least}, not {value}")
    if not 0 < tier.priority <= 100:
        raise ValueError(f"a tier's priority must be above 0 and at most 100, not {tier.priority}")
