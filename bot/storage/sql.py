"""What the modules need of a database, met by SQLite (``Database``) and PostgreSQL
(``PostgresDatabase``): the same SQL with ``?`` placeholders, rows by name or position."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable, Generator, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol, TypeAlias, TypeVar

T = TypeVar("T")

# A sqlite3.Row or an asyncpg.Record: both give a column by name (row["job_id"]) or position.
Row: TypeAlias = Any


class Statement(NamedTuple):
    sql: str
    params: Sequence[object] = ()


# A transaction written once for both databases: a generator that yields each statement and
# is sent back the statement's first row (None when there is none), then returns its result.
# SQLite runs it in one hand-off to its writer thread, PostgreSQL one statement at a time.
Steps: TypeAlias = Generator[Statement, Row | None, T]


@dataclass(frozen=True, slots=True)
class Dialect:
    """The few places the two databases differ. SQLite's write transactions hold the whole
    database, so row locks there are nothing."""

    name: str
    for_update: str  # appended to a SELECT whose rows the transaction goes on to change
    skip_locked: str  # the same, passing over rows another transaction holds


SQLITE = Dialect("sqlite", for_update="", skip_locked="")
POSTGRES = Dialect("postgres", for_update=" FOR UPDATE", skip_locked=" FOR UPDATE SKIP LOCKED")


class SqlCursor(Protocol):
    @property
    def rowcount(self) -> int: ...
    async def fetchone(self) -> Row | None: ...
    async def fetchall(self) -> Iterable[Row]: ...


class SqlResult(Awaitable[SqlCursor], AbstractAsyncContextManager[SqlCursor], Protocol):
    """``await conn.execute(...)`` runs a statement (``rowcount`` tells how many rows it
    changed); ``async with conn.execute(...) as cursor`` reads its rows."""


class SqlConnection(Protocol):
    """A connection inside a transaction."""

    def execute(self, sql: str, parameters: Iterable[Any] = ..., /) -> SqlResult: ...
    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]], /) -> object: ...


class SqlDatabase(Protocol):
    @property
    def dialect(self) -> Dialect: ...
    def transaction(self) -> AbstractAsyncContextManager[SqlConnection]: ...
    async def run(self, work: Callable[[Dialect], Steps[T]]) -> T: ...
    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None: ...
    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]: ...
    async def page(
        self, source: str, params: Sequence[Any], order: str, *, page: int, per_page: int
    ) -> Page: ...
    async def schema_version(self) -> int: ...
    async def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Page:
    rows: list[Row]
    page: int  # 0-based, clamped into range
    pages: int  # at least 1
    total: int


async def read_page(
    db: SqlDatabase, source: str, params: Sequence[Any], order: str, *, page: int, per_page: int
) -> Page:
    """One page of ``SELECT * FROM {source} ORDER BY {order}``; a page out of range shows
    the nearest. ``source`` is a table with its WHERE clause, never member input."""
    if per_page < 1:
        raise ValueError(f"per_page must be at least 1, not {per_page}")
    row = await db.fetchone(f"SELECT COUNT(*) FROM {source}", params)
    total = int(row[0]) if row else 0
    pages = max(1, math.ceil(total / per_page))
    page = min(max(page, 0), pages - 1)
    rows = await db.fetchall(
        f"SELECT * FROM {source} ORDER BY {order} LIMIT ? OFFSET ?",
        (*params, per_page, page * per_page),
    )
    return Page(rows, page, pages, total)
