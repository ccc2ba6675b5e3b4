"""Saved styles in the database (SQLite or PostgreSQL): a member's own and their server's, the
caps on each, and which style a name means where a member asks."""

from __future__ import annotations

import time
from collections.abc import Callable

from bot.storage import Row, SqlConnection, SqlDatabase
from bot.styles import (
    InvalidStyleName,
    Scope,
    Style,
    StyleLimitReached,
    UnknownStyle,
    close_names,
    normalise_name,
)

COLUMNS = "scope, name, prompt, negative, params"
# Each owner's row, made where missing and locked while its styles are counted.
PARENTS = {
    Scope.MEMBER: (
        "INSERT INTO users (user_id, created_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        "SELECT 1 FROM users WHERE user_id = ?",
    ),
    Scope.GUILD: (
        "INSERT INTO guild_settings (guild_id, updated_at) VALUES (?, ?) ON CONFLICT DO NOTHING",
        "SELECT 1 FROM guild_settings WHERE guild_id = ?",
    ),
}


class StyleStore:
    """``per_member`` and ``per_guild``: how many styles a member, and a server, may keep
    (0: none, saving is off)."""

    def __init__(
        self,
        db: SqlDatabase,
        *,
        per_member: int,
        per_guild: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._db = db
        self._limits = {Scope.MEMBER: per_member, Scope.GUILD: per_guild}
        self._clock = clock

    async def save(self, scope: Scope, owner_id: int, style: Style, *, actor_id: int) -> bool:
        """Keep ``style`` (its name normalised) for the member or the server; one of the same
        name is replaced and counts once. Returns whether one was replaced; raises
        StyleLimitReached when a new one would pass the cap."""
        name = normalise_name(style.name)
        limit = self._limits[scope]
        owner = "scope = ? AND owner_id = ?"
        now = self._clock()
        async with self._db.transaction() as conn:
            # Saves for one owner take turns on the owner's row (the member's, or the server's
            # settings, made here if need be), so the count below sees what an earlier one
            # added: PostgreSQL reads anew per statement; SQLite's writes take turns anyway.
            insert, lock = PARENTS[scope]
            await conn.execute(insert, (owner_id, now))
            await _rows(conn, lock + self._db.dialect.for_update, (owner_id,))
            names = {
                row[0]
                for row in await _rows(
                    conn, f"SELECT name FROM styles WHERE {owner}", (scope.value, owner_id)
                )
            }
            if name not in names and len(names) >= limit:
                raise StyleLimitReached(limit, server=scope is Scope.GUILD)
            await conn.execute(
                "INSERT INTO styles (scope, owner_id, name, prompt, negative, params, actor_id, "
                "created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT (scope, owner_id, name) DO UPDATE SET prompt = excluded.prompt, "
                "negative = excluded.negative, params = excluded.params, "
                "actor_id = excluded.actor_id",
                (
                    scope.value,
                    owner_id,
                    name,
                    style.prompt,
                    style.negative,
                    style.params,
                    actor_id,
                    now,
                ),
            )
        return name in names

    async def delete(self, scope: Scope, owner_id: int, name: str) -> bool:
        """Whether there was such a style to delete."""
        try:
            name = normalise_name(name)
        except InvalidStyleName:
            return False
        async with (
            self._db.transaction() as conn,
            conn.execute(
                "DELETE FROM styles WHERE scope = ? AND owner_id = ? AND name = ? RETURNING name",
                (scope.value, owner_id, name),
            ) as cursor,
        ):
            return await cursor.fetchone() is not None

    async def styles(self, scope: Scope, owner_id: int) -> list[Style]:
        """One member's, or one server's, styles by name."""
        rows = await self._db.fetchall(
            f"SELECT {COLUMNS} FROM styles WHERE scope = ? AND owner_id = ? ORDER BY name",
            (scope.value, owner_id),
        )
        return [_style(row) for row in rows]

    async def usable(self, guild_id: int | None, user_id: int) -> list[Style]:
        """The styles a member can use here by name: their own, then the server's that none of
        theirs shadows (a member's style hides a server style of the same name, for them)."""
        own = await self.styles(Scope.MEMBER, user_id)
        server = await self.styles(Scope.GUILD, guild_id) if guild_id is not None else []
        taken = {style.name for style in own}
        return [*own, *(style for style in server if style.name not in taken)]

    async def find(self, guild_id: int | None, user_id: int, name: str) -> Style | None:
        """The style ``name`` means for this member here: their own first, else the server's
        (none in DMs); None when there is neither or the name is not a style name."""
        try:
            name = normalise_name(name)
        except InvalidStyleName:
            return None
        rows = await self._db.fetchall(
            f"SELECT {COLUMNS} FROM styles WHERE name = ? AND ((scope = 'member' AND owner_id = ?)"
            " OR (scope = 'guild' AND owner_id = ?))",
            (name, user_id, guild_id),
        )
        found = sorted((_style(row) for row in rows), key=lambda s: s.scope is not Scope.MEMBER)
        return found[0] if found else None

    async def resolve(self, guild_id: int | None, user_id: int, name: str) -> Style:
        """As ``find``, raising UnknownStyle (with the close names the member can use) or
        InvalidStyleName instead of returning None."""
        normalise_name(name)
        style = await self.find(guild_id, user_id, name)
        if style is None:
            names = [s.name for s in await self.usable(guild_id, user_id)]
            raise UnknownStyle(name, close_names(name.strip().lower(), names))
        return style

    async def chosen(
        self, guild_id: int | None, user_id: int, name: str | None, default: str | None
    ) -> Style | None:
        """The style a request uses: the one named (which must exist), else the member's
        default where it exists here (a server style of another server does not), else none."""
        if name:
            return await self.resolve(guild_id, user_id, name)
        if default:
            return await self.find(guild_id, user_id, default)
        return None


async def forget_member_styles(conn: SqlConnection, user_id: int) -> int:
    """For /forget-me, in the caller's transaction: the member's own styles (a server's stay,
    though the member saved them as a moderator). Returns how many went."""
    async with conn.execute(
        "DELETE FROM styles WHERE scope = 'member' AND owner_id = ? RETURNING name", (user_id,)
    ) as cursor:
        return len(list(await cursor.fetchall()))


async def _rows(conn: SqlConnection, sql: str, params: tuple[object, ...]) -> list[Row]:
    async with conn.execute(sql, params) as cursor:
        return list(await cursor.fetchall())


def _style(row: Row) -> Style:
    return Style(
        name=row["name"],
        prompt=row["prompt"],
        negative=row["negative"],
        params=row["params"],
        scope=Scope(row["scope"]),
    )
