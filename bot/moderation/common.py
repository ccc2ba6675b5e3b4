"""What the moderation stores share: how long reads are kept, rows as records, inserted ids."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any, TypeVar

from bot.storage import Row, SqlConnection

CACHE_SECONDS = 5.0
R = TypeVar("R")


async def insert(conn: SqlConnection, sql: str, params: Sequence[object]) -> int:
    """The id an INSERT ... RETURNING gave its row."""
    async with conn.execute(sql, params) as cursor:
        row = await cursor.fetchone()
    assert row is not None
    return int(row[0])


def from_row(cls: type[R], row: Row, **values: Any) -> R:
    """A record from a row whose columns share the record's field names; ``values`` for
    the fields stored differently."""
    names = [field.name for field in dataclasses.fields(cls)]  # type: ignore[arg-type]
    return cls(**{name: values[name] if name in values else row[name] for name in names})
