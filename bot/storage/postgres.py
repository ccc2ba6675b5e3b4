"""PostgreSQL, the system of record in the scaled mode: the same API as the SQLite ``Database``
over an asyncpg pool, so the modules run the same SQL on either."""

from __future__ import annotations

import asyncio
import functools
import logging
import re
import time
from collections.abc import AsyncIterator, Callable, Generator, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager, suppress
from typing import TYPE_CHECKING, Any, TypeAlias, TypeVar

import asyncpg

from bot.errors import StorageError, StorageUnavailable
from bot.storage.database import migrations
from bot.storage.sql import POSTGRES, Dialect, Page, Row, Steps, read_page

log = logging.getLogger(__name__)

T = TypeVar("T")
MIGRATIONS = "pg_migrations"
MIGRATION_LOCK = 0x696D616765626F74  # "imagebot": every process that starts migrates in turn
CLOSE_SECONDS = 10.0
POOL_SIZE = (1, 10)  # connections kept open, most open at once
BUSY_TIMEOUT = 5.0  # seconds to wait for a free connection, as SQLite waits for its lock

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

Raw: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"

# Errors that say the server cannot serve now, rather than that the SQL is wrong: the
# connection broke or was refused (08, OSError), too many connections or a full disk (53),
# the server shutting down or starting (57), a deadlock or serialization failure (40).
UNAVAILABLE: tuple[type[BaseException], ...] = (
    asyncpg.PostgresConnectionError,
    asyncpg.InsufficientResourcesError,
    asyncpg.OperatorInterventionError,
    asyncpg.TransactionRollbackError,
    OSError,
    TimeoutError,
)
MAYBE_UNAVAILABLE: tuple[type[BaseException], ...] = (*UNAVAILABLE, asyncpg.InterfaceError)
# Opening also fails on a wrong DSN, password or database name.
CANNOT_CONNECT: tuple[type[BaseException], ...] = (*UNAVAILABLE, asyncpg.PostgresError)

_PLACEHOLDER = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"|--[^\n]*|/\*.*?\*/|(\?)", re.DOTALL)


@functools.lru_cache(maxsize=1024)
def numbered(sql: str) -> str:
    """SQLite's ``?`` placeholders as PostgreSQL's ``$1, $2, ...``; a ``?`` inside a quoted
    literal, a quoted name or a comment is left as it is."""
    count = 0

    def number(match: re.Match[str]) -> str:
        nonlocal count
        if match[1] is None:
            return match[0]
        count += 1
        return f"${count}"

    return _PLACEHOLDER.sub(number, sql)


class PostgresDatabase:
    """Transactions and reads on a pool of connections. PostgreSQL runs transactions side by
    side, so a transaction that reads rows to change them locks them (``dialect.for_update``),
    where SQLite's one writer makes that needless."""

    dialect: Dialect = POSTGRES

    def __init__(self, pool: asyncpg.Pool[asyncpg.Record]) -> None:
        self._pool = pool

    @classmethod
    async def open(cls, dsn: str) -> PostgresDatabase:
        try:
            pool = await asyncpg.create_pool(dsn, min_size=POOL_SIZE[0], max_size=POOL_SIZE[1])
        except CANNOT_CONNECT as err:
            raise StorageError(
                f"Cannot connect to PostgreSQL (IMAGEBOT_POSTGRES_DSN): {err}"
            ) from err
        try:
            await _migrate(pool)
        except BaseException:
            await pool.close()
            raise
        return cls(pool)

    async def close(self) -> None:
        """Close gracefully, but not forever: a connection still held by a task that was
        cancelled mid-query is terminated after ``CLOSE_SECONDS``."""
        try:
            await asyncio.wait_for(self._pool.close(), CLOSE_SECONDS)
        except TimeoutError:
            log.warning("Connections were still busy at shutdown; terminating them")
            self._pool.terminate()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[PgConnection]:
        """BEGIN ... COMMIT on a connection of its own, rolled back on any error."""
        with _storage_errors():
            raw = await self._pool.acquire(timeout=BUSY_TIMEOUT)
        try:
            transaction = raw.transaction()
            with _storage_errors(raw):
                await transaction.start()
            try:
                yield PgConnection(raw)
            except BaseException:
                # A lost connection has nothing to roll back; one that fails to roll back,
                # the pool resets or drops. Either way the error that got here is the one.
                if not _lost(raw):
                    with suppress(*MAYBE_UNAVAILABLE):
                        await asyncio.shield(transaction.rollback())
                raise
            with _storage_errors(raw):
                await asyncio.shield(transaction.commit())
        finally:
            await self._pool.release(raw)

    async def run(self, work: Callable[[Dialect], Steps[T]]) -> T:
        """A transaction written as steps (see ``Steps``), one statement at a time."""
        async with self.transaction() as conn:
            steps = work(self.dialect)
            try:
                statement = next(steps)
                while True:
                    async with conn.execute(*statement) as cursor:
                        row = await cursor.fetchone()
                    statement = steps.send(row)
            except StopIteration as done:
                result: T = done.value
                return result

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        with _storage_errors():
            async with self._pool.acquire(timeout=BUSY_TIMEOUT) as raw:
                return await raw.fetch(numbered(sql), *params)

    async def page(
        self, source: str, params: Sequence[Any], order: str, *, page: int, per_page: int
    ) -> Page:
        return await read_page(self, source, params, order, page=page, per_page=per_page)

    async def schema_version(self) -> int:
        row = await self.fetchone("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        return int(row[0]) if row else 0


class PgConnection:
    """A connection inside a transaction, shaped like aiosqlite's."""

    def __init__(self, raw: Raw) -> None:
        self._raw = raw

    def execute(self, sql: str, parameters: Iterable[Any] = (), /) -> PgResult:
        return PgResult(self._raw, numbered(sql), tuple(parameters))

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]], /) -> None:
        with _storage_errors(self._raw):
            await self._raw.executemany(numbered(sql), [tuple(p) for p in parameters])

    async def copy_rows(
        self, table: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]
    ) -> None:
        """COPY rows in, the quick way to load a table (``bot.storage.copy``)."""
        with _storage_errors(self._raw):
            await self._raw.copy_records_to_table(table, records=rows, columns=columns)


class PgResult:
    """Awaited, it runs the statement for the count of rows it changed; in ``async with``, it
    fetches the rows the statement returns."""

    def __init__(self, raw: Raw, sql: str, params: tuple[Any, ...]) -> None:
        self._raw = raw
        self._sql = sql
        self._params = params

    def __await__(self) -> Generator[Any, None, PgCursor]:
        return self._run().__await__()

    async def _run(self) -> PgCursor:
        with _storage_errors(self._raw):
            status = await self._raw.execute(self._sql, *self._params)
        count = status.rpartition(" ")[2]
        return PgCursor(None, int(count) if count.isdigit() else -1)

    async def __aenter__(self) -> PgCursor:
        with _storage_errors(self._raw):
            rows = await self._raw.fetch(self._sql, *self._params)
        return PgCursor(rows, len(rows))

    async def __aexit__(self, *exc: object) -> None:
        return None


class PgCursor:
    def __init__(self, rows: list[asyncpg.Record] | None, rowcount: int) -> None:
        self._rows = rows
        self._rowcount = rowcount

    @property
    def rowcount(self) -> int:
        return self._rowcount

    async def fetchone(self) -> Row | None:
        rows = self._read()
        return rows[0] if rows else None

    async def fetchall(self) -> list[Row]:
        return list(self._read())

    def _read(self) -> list[asyncpg.Record]:
        if self._rows is None:
            raise RuntimeError(
                "This statement was run for its row count; read rows with "
                "`async with conn.execute(...) as cursor`."
            )
        return self._rows


@contextmanager
def _storage_errors(raw: Raw | None = None) -> Iterator[None]:
    """Unavailability as StorageUnavailable, in a member's words (the cause is logged for the
    owner); anything else unchanged. asyncpg's InterfaceError counts only when ``raw`` has
    closed under it: otherwise it means the connection was misused."""
    try:
        yield
    except MAYBE_UNAVAILABLE as err:
        if isinstance(err, asyncpg.InterfaceError) and (raw is None or not _lost(raw)):
            raise
        log.error("PostgreSQL is unavailable: %s: %s", type(err).__name__, err)
        raise StorageUnavailable(isinstance(err, asyncpg.DiskFullError)) from err


def _lost(raw: Raw) -> bool:
    """Whether the connection closed under the transaction: the pool then detaches it from
    ``raw``, which from then on refuses every call."""
    try:
        return raw.is_closed()
    except asyncpg.InterfaceError:
        return True


async def _migrate(pool: asyncpg.Pool[asyncpg.Record]) -> None:
    """Apply what is pending in one transaction, under a lock that makes a second process
    starting at the same moment wait and then find nothing left to do."""
    steps = migrations(MIGRATIONS)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, "
            "name TEXT NOT NULL, applied_at DOUBLE PRECISION NOT NULL)"
        )
        current = int(
            await conn.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations")
        )
        if current > len(steps):
            raise StorageError(
                f"The PostgreSQL database has schema version {current}, newer than this version "
                f"of the bot knows ({len(steps)}). Upgrade the bot; the database was left as it is."
            )
        for migration in steps[current:]:
            log.info("Applying PostgreSQL migration %04d_%s", migration.version, migration.name)
            try:
                await conn.execute(migration.sql)
            except asyncpg.PostgresError as err:
                raise StorageError(
                    f"PostgreSQL migration {migration.version:04d}_{migration.name} failed: {err}. "
                    "The database is unchanged."
                ) from err
            await conn.execute(
                "INSERT INTO schema_migrations (version, name, applied_at) VALUES ($1, $2, $3)",
                migration.version,
                migration.name,
                time.time(),
            )
