"""What every part of the SQL job store shares: its database and clock, and row helpers."""

from __future__ import annotations

import time
from collections.abc import Collection, Sequence

from bot.storage import Row, SqlConnection, SqlDatabase
from bot.store.protocol import Clock


class StoreBase:
    """The database and clock the store's parts (lifecycle, delivery, queries) work on."""

    def __init__(self, db: SqlDatabase, clock: Clock = time.time) -> None:
        self._db = db
        self._clock = clock


def _marks(values: Collection[object]) -> str:
    return ", ".join("?" * len(values))


async def _maybe(conn: SqlConnection, sql: str, params: Sequence[object] = ()) -> Row | None:
    async with conn.execute(sql, params) as cursor:
        return await cursor.fetchone()


async def _one(conn: SqlConnection, sql: str, params: Sequence[object] = ()) -> Row:
    row = await _maybe(conn, sql, params)
    if row is None:
        raise LookupError(sql)
    return row
