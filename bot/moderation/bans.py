"""Bans, in one guild or everywhere, with their expiry."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from bot.errors import Banned
from bot.moderation.audit import record_in
from bot.moderation.common import CACHE_SECONDS, from_row, insert
from bot.storage import Row, SqlDatabase

log = logging.getLogger(__name__)

ACTIVE_BAN = "lifted_at IS NULL AND (expires_at IS NULL OR expires_at > ?)"
LIFT_BANS = (
    "UPDATE bans SET lifted_at = ? WHERE user_id = ? AND guild_id IS NOT DISTINCT FROM ? "
    f"AND {ACTIVE_BAN}"
)


@dataclass(frozen=True, slots=True)
class Ban:
    ban_id: int
    user_id: int
    guild_id: int | None
    reason: str
    actor_id: int
    created_at: float
    expires_at: float | None

    @property
    def is_global(self) -> bool:
        return self.guild_id is None


class BanStore:
    """Bans in the database."""

    def __init__(self, db: SqlDatabase, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        # Read on every request: kept a few seconds (another process's change shows within
        # CACHE_SECONDS), dropped at once when this process changes them.
        self._bans: dict[int | None, tuple[float, dict[int, list[Ban]]]] = {}

    async def ban(
        self,
        user_id: int,
        *,
        guild_id: int | None,
        actor_id: int,
        reason: str,
        expires_at: float | None,
    ) -> int:
        """Ban in one guild, or everywhere when ``guild_id`` is None; replaces an active ban."""
        now = self._clock()
        if expires_at is not None and expires_at <= now:
            raise ValueError(f"a ban must end in the future, not at {expires_at}")
        reason = reason.strip()
        async with self._db.transaction() as conn:
            lifted = await conn.execute(LIFT_BANS, (now, user_id, guild_id, now))
            ban_id = await insert(
                conn,
                "INSERT INTO bans (user_id, guild_id, reason, actor_id, created_at, expires_at) "
                "VALUES (?, ?, ?, ?, ?, ?) RETURNING ban_id",
                (user_id, guild_id, reason, actor_id, now, expires_at),
            )
            await record_in(
                conn,
                now,
                guild_id=guild_id,
                actor_id=actor_id,
                action="ban",
                target_id=user_id,
                reason=reason,
                details={"ban_id": ban_id, "expires_at": expires_at, "replaced": lifted.rowcount},
            )
        self._bans.clear()
        log.info("Member %d banned in %s by %d", user_id, guild_id or "every guild", actor_id)
        return ban_id

    async def unban(self, user_id: int, *, guild_id: int | None, actor_id: int) -> bool:
        now = self._clock()
        async with self._db.transaction() as conn:
            lifted = await conn.execute(LIFT_BANS, (now, user_id, guild_id, now))
            if not lifted.rowcount:
                return False
            await record_in(
                conn, now, guild_id=guild_id, actor_id=actor_id, action="unban", target_id=user_id
            )
        self._bans.clear()
        return True

    async def active_ban(self, user_id: int, guild_id: int | None) -> Ban | None:
        """The ban that keeps the member out here, the longest first: a global ban applies
        everywhere, DMs included; a guild ban only in its guild."""
        now = self._clock()
        found = [
            ban
            for scope in {guild_id, None}
            for ban in (await self._active_bans(scope)).get(user_id, [])
            if ban.expires_at is None or ban.expires_at > now
        ]
        if not found:
            return None
        return max(found, key=lambda b: (b.expires_at is None, b.expires_at or 0.0, b.ban_id))

    async def _active_bans(self, guild_id: int | None) -> dict[int, list[Ban]]:
        cached = self._bans.get(guild_id)
        if cached is not None and time.monotonic() - cached[0] < CACHE_SECONDS:
            return cached[1]
        by_user: dict[int, list[Ban]] = {}
        for ban in await self.bans(guild_id):
            by_user.setdefault(ban.user_id, []).append(ban)
        self._bans[guild_id] = (time.monotonic(), by_user)
        return by_user

    async def ensure_not_banned(self, user_id: int, guild_id: int | None) -> None:
        ban = await self.active_ban(user_id, guild_id)
        if ban is not None:
            raise Banned(reason=ban.reason, expires_at=ban.expires_at)

    async def bans(self, guild_id: int | None) -> list[Ban]:
        """Active bans of one guild, or the global ones when ``guild_id`` is None."""
        rows = await self._db.fetchall(
            f"SELECT * FROM bans WHERE guild_id IS NOT DISTINCT FROM ? AND {ACTIVE_BAN} "
            "ORDER BY ban_id DESC",
            (guild_id, self._clock()),
        )
        return [_ban(row) for row in rows]


def _ban(row: Row) -> Ban:
    return from_row(Ban, row)
