"""What servers and moderators decide, read on every request: content rules per server and
channel, providers paused or disabled at run time, and per-member allowances."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, cast

from bot.storage import SqlDatabase

T = TypeVar("T")

ALL = "*"  # a provider state for the whole queue
CACHE_SECONDS = 5.0  # another process's change shows within this; this process's at once

Flagged = Literal["spoiler", "hide"]
ProviderState = Literal["paused", "disabled"]


@dataclass(frozen=True, slots=True)
class ContentPolicy:
    """A server's rules, with a channel's overrides applied. NSFW is never allowed outside
    age-restricted server channels, whatever this says; ``nsfw`` can only take it away."""

    nsfw: bool = True
    flagged: Flagged = "spoiler"  # what age-restricted channels do with flagged results
    img2img: bool = True
    disabled_providers: tuple[str, ...] = ()
    disabled_models: tuple[str, ...] = ()
    model: str | None = None
    width: int | None = None
    height: int | None = None
    negative_prompt: str | None = None

    def with_changes(self, changes: Mapping[str, Any]) -> ContentPolicy:
        """Raises TypeError for a key that is not a policy field."""
        values: dict[str, Any] = {
            key: tuple(value) if isinstance(value, list) else value
            for key, value in changes.items()
        }
        return dataclasses.replace(self, **values)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


class Policies:
    """Content policy, provider states and member allowances, cached briefly in memory."""

    def __init__(self, db: SqlDatabase, clock: Callable[[], float] = time.time) -> None:
        self._db = db
        self._clock = clock
        self._cache: dict[tuple[str, object], tuple[float, Any]] = {}

    async def _cached(self, key: tuple[str, object], load: Callable[[], Any]) -> Any:
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < CACHE_SECONDS:
            return hit[1]
        value = await load()
        self._cache[key] = (now, value)
        return value

    def _forget(self) -> None:
        self._cache.clear()

    # Content policy

    async def content(self, guild_id: int | None, channel_id: int | None = None) -> ContentPolicy:
        """The server's policy with the channel's overrides; DMs get the defaults."""
        if guild_id is None:
            return ContentPolicy()

        async def load() -> ContentPolicy:
            policy = ContentPolicy().with_changes(await self._guild_changes(guild_id))
            if channel_id is not None:
                policy = policy.with_changes(await self._channel_changes(channel_id))
            return policy

        result: ContentPolicy = await self._cached(("content", (guild_id, channel_id)), load)
        return result

    async def guild_changes(self, guild_id: int) -> dict[str, Any]:
        return await self._guild_changes(guild_id)

    async def channel_changes(self, channel_id: int) -> dict[str, Any]:
        return await self._channel_changes(channel_id)

    async def _guild_changes(self, guild_id: int) -> dict[str, Any]:
        policy: dict[str, Any] = (await self._guild_settings(guild_id)).get("policy", {})
        return policy

    async def _guild_settings(self, guild_id: int) -> dict[str, Any]:
        row = await self._db.fetchone(
            "SELECT settings FROM guild_settings WHERE guild_id = ?", (guild_id,)
        )
        settings: dict[str, Any] = json.loads(row["settings"]) if row else {}
        return settings

    async def guild_setting(self, guild_id: int | None, key: str, default: T) -> T:
        """One of a server's settings (moderator role, report channel, ...); ``default``
        outside servers and when unset."""
        if guild_id is None:
            return default
        settings = await self._cached(("guild", guild_id), lambda: self._guild_settings(guild_id))
        return cast(T, settings.get(key, default))

    async def set_guild_setting(self, guild_id: int, key: str, value: object) -> None:
        """Set one of a server's settings; None removes it."""
        await self._edit_guild(guild_id, lambda settings: _merged(settings, {key: value}))

    async def _edit_guild(
        self, guild_id: int, edit: Callable[[dict[str, Any]], dict[str, Any]]
    ) -> None:
        await self._edit("guild_settings", {"guild_id": guild_id}, edit)

    async def _edit(
        self,
        table: str,
        keys: dict[str, int],
        edit: Callable[[dict[str, Any]], dict[str, Any]],
    ) -> None:
        """Read, change and write one row of settings in one transaction. The row is made
        first and held, so that two edits at once (on PostgreSQL) both land."""
        key, value = next(iter(keys.items()))
        now = self._clock()
        async with self._db.transaction() as conn:
            await conn.execute(
                f"INSERT INTO {table} ({', '.join(keys)}, updated_at) "
                f"VALUES ({', '.join('?' * len(keys))}, ?) ON CONFLICT DO NOTHING",
                (*keys.values(), now),
            )
            async with conn.execute(
                f"SELECT settings FROM {table} WHERE {key} = ?{self._db.dialect.for_update}",
                (value,),
            ) as cursor:
                row = await cursor.fetchone()
            assert row is not None  # made just before
            await conn.execute(
                f"UPDATE {table} SET settings = ?, updated_at = ? WHERE {key} = ?",
                (json.dumps(edit(json.loads(row[0]))), now, value),
            )
        self._forget()

    async def _channel_changes(self, channel_id: int) -> dict[str, Any]:
        row = await self._db.fetchone(
            "SELECT settings FROM channel_settings WHERE channel_id = ?", (channel_id,)
        )
        settings: dict[str, Any] = json.loads(row["settings"]) if row else {}
        return settings

    async def set_content(
        self, guild_id: int, changes: Mapping[str, Any], *, channel_id: int | None = None
    ) -> ContentPolicy:
        """Merge ``changes`` into the server's policy, or the channel's overrides; a value of
        None removes a channel override. Returns the policy that now applies there."""
        ContentPolicy().with_changes({k: v for k, v in changes.items() if v is not None})  # valid?
        if channel_id is None:
            await self._edit_guild(
                guild_id,
                lambda settings: {
                    **settings,
                    "policy": _merged(settings.get("policy", {}), changes),
                },
            )
        else:
            await self._edit(
                "channel_settings",
                {"channel_id": channel_id, "guild_id": guild_id},
                lambda settings: _merged(settings, changes),
            )
        return await self.content(guild_id, channel_id)

    # Provider states

    async def provider_states(self) -> dict[str, ProviderState]:
        async def load() -> dict[str, ProviderState]:
            rows = await self._db.fetchall("SELECT provider, state FROM provider_states")
            return {row["provider"]: row["state"] for row in rows}

        states: dict[str, ProviderState] = await self._cached(("states", None), load)
        return states

    async def set_provider_state(
        self, provider: str, state: ProviderState | None, *, actor_id: int, reason: str = ""
    ) -> None:
        """Pause (jobs wait), disable (requests refused) or, with None, resume ``provider``
        (``ALL`` for the whole queue)."""
        async with self._db.transaction() as conn:
            if state is None:
                await conn.execute("DELETE FROM provider_states WHERE provider = ?", (provider,))
            else:
                await conn.execute(
                    "INSERT INTO provider_states (provider, state, actor_id, reason, created_at) "
                    "VALUES (?, ?, ?, ?, ?) ON CONFLICT (provider) DO UPDATE SET "
                    "state = excluded.state, actor_id = excluded.actor_id, "
                    "reason = excluded.reason, created_at = excluded.created_at",
                    (provider, state, actor_id, reason, self._clock()),
                )
        self._forget()

    async def paused(self) -> frozenset[str]:
        """Providers whose jobs wait; ``ALL`` when the whole queue is drained."""
        return frozenset(name for name, state in (await self.provider_states()).items())

    # Allowances: a server's default (0: DMs and the console, set by the bot owner), a member's

    async def guild_units(self, guild_id: int | None) -> int | None:
        units = await self.guild_setting(guild_id or 0, "daily_units", -1)
        return None if units < 0 else int(units)

    async def set_guild_units(self, guild_id: int | None, units: int | None) -> None:
        await self.set_guild_setting(guild_id or 0, "daily_units", units)

    async def member_units(self, guild_id: int, user_id: int) -> int | None:
        async def load() -> int | None:
            row = await self._db.fetchone(
                "SELECT daily_units FROM member_quotas WHERE guild_id = ? AND user_id = ?",
                (guild_id, user_id),
            )
            return int(row[0]) if row else None

        units: int | None = await self._cached(("member", (guild_id, user_id)), load)
        return units

    async def set_member_units(
        self, guild_id: int, user_id: int, units: int | None, *, actor_id: int
    ) -> None:
        async with self._db.transaction() as conn:
            if units is None:
                await conn.execute(
                    "DELETE FROM member_quotas WHERE guild_id = ? AND user_id = ?",
                    (guild_id, user_id),
                )
            else:
                await conn.execute(
                    "INSERT INTO member_quotas (guild_id, user_id, daily_units, actor_id, "
                    "updated_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT (guild_id, user_id) DO "
                    "UPDATE SET daily_units = excluded.daily_units, actor_id = excluded.actor_id, "
                    "updated_at = excluded.updated_at",
                    (guild_id, user_id, units, actor_id, self._clock()),
                )
        self._forget()


def _merged(current: Mapping[str, Any], changes: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(current)
    for key, value in changes.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = list(value) if isinstance(value, tuple) else value
    return merged
