"""SQLite: one writer connection behind a lock, one reader, WAL mode, migrations applied at
open."""

from __future__ import annotations

import asyncio
import logging
import re
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar, cast

import aiosqlite

from bot.errors import StorageError, StorageUnavailable
from bot.storage.sql import SQLITE, Dialect, Page, Row, Steps, read_page

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 5000
T = TypeVar("T")
GROUP_COMMIT = 256  # writes at most in one shared transaction
OLDEST_SQLITE = (3, 39)  # RETURNING, IS NOT DISTINCT FROM


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str


def migrations(folder: str = "migrations") -> list[Migration]:
    """The numbered migrations in ``folder``: SQLite's, or PostgreSQL's in pg_migrations."""
    found = []
    for entry in resources.files("bot.storage").joinpath(folder).iterdir():
        match = re.fullmatch(r"(\d{4})_(\w+)\.sql", entry.name)
        if match:
            found.append(Migration(int(match[1]), match[2], entry.read_text(encoding="utf-8")))
    found.sort(key=lambda migration: migration.version)
    if [m.version for m in found] != list(range(1, len(found) + 1)):
        raise StorageError("migrations must be numbered 0001, 0002, ... without gaps")
    return found


def latest_version() -> int:
    return len(migrations())


class Database:
    """Writes go through ``transaction()`` one at a time; reads use a second connection, so
    under WAL they never wait for a writer and never see a transaction in progress."""

    dialect: Dialect = SQLITE

    def __init__(self, path: Path, writer: aiosqlite.Connection, reader: aiosqlite.Connection):
        self.path = path
        self._writer = writer
        self._reader = reader
        self._lock = asyncio.Lock()
        self._pending: list[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]]] = []
        self._flusher: asyncio.Task[None] | None = None

    @classmethod
    async def open(cls, path: Path, *, target_version: int | None = None) -> Database:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as err:
            raise StorageError(f"Cannot create the folder for the database {path}: {err}") from err
        if sqlite3.sqlite_version_info < OLDEST_SQLITE:
            raise StorageError(
                f"SQLite {sqlite3.sqlite_version} is too old: the bot needs "
                f"{'.'.join(map(str, OLDEST_SQLITE))} or newer (a newer Python build has it)."
            )
        writer = await _connect(path)
        try:
            await _migrate(writer, path, target_version)
            reader = await _connect(path)
        except BaseException:
            await writer.close()
            raise
        return cls(path, writer, reader)

    async def close(self) -> None:
        async with self._lock:
            await self._reader.close()
            await self._writer.close()

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """BEGIN IMMEDIATE ... COMMIT, rolled back on any error, cancellation included."""
        async with self._lock:
            with _storage_errors():
                await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
            except BaseException:
                await asyncio.shield(self._writer.rollback())
                with _storage_errors():
                    raise
            else:
                with _storage_errors():
                    try:
                        await asyncio.shield(self._writer.commit())
                    except sqlite3.OperationalError:
                        await asyncio.shield(self._writer.rollback())
                        raise

    async def write(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``work`` on the writer's own thread, all or nothing: one hand-off for the whole
        transaction instead of one per statement. Writes that arrive together share one
        transaction (a group commit), each inside its own savepoint, so one that raises is
        rolled back alone and the others still commit. ``work`` must be quick and must not
        touch the event loop."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._pending.append((work, future))
        if self._flusher is None or self._flusher.done():
            self._flusher = asyncio.create_task(self._flush())
        return await future

    async def run(self, work: Callable[[Dialect], Steps[T]]) -> T:
        """A transaction written as steps, run through ``write``: one hand-off for it all."""
        return await self.write(lambda conn: _drive(conn, work(self.dialect)))

    async def _flush(self) -> None:
        # aiosqlite runs each call on the connection's thread in order; _execute is how it
        # does so for its own methods, and _conn is the sqlite3 connection it owns.
        run = cast(Callable[..., Awaitable[list[tuple[bool, Any]]]], self._writer._execute)
        while self._pending:
            batch, self._pending = self._pending[:GROUP_COMMIT], self._pending[GROUP_COMMIT:]
            async with self._lock:
                try:
                    outcomes = await run(_in_group, self._writer._conn, [w for w, _ in batch])
                except Exception as err:  # the commit itself failed: so did every write
                    outcomes = [(False, translated(err))] * len(batch)
            for (_, future), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():  # its caller was cancelled; the write stands
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    async def fetchone(self, sql: str, params: Iterable[Any] = ()) -> Row | None:
        rows = await self.fetchall(sql, params)
        return rows[0] if rows else None

    async def fetchall(self, sql: str, params: Iterable[Any] = ()) -> list[Row]:
        """One hand-off to the reader's thread (a cursor would take three)."""
        return list(await self._reader.execute_fetchall(sql, tuple(params)))

    async def page(
        self, source: str, params: Sequence[Any], order: str, *, page: int, per_page: int
    ) -> Page:
        return await read_page(self, source, params, order, page=page, per_page=per_page)

    async def schema_version(self) -> int:
        row = await self.fetchone("PRAGMA user_version")
        return int(row[0]) if row else 0


@contextmanager
def _storage_errors() -> Iterator[None]:
    try:
        yield
    except sqlite3.OperationalError as err:
        converted = translated(err)
        if converted is err:
            raise
        raise converted from err


def translated(err: BaseException) -> BaseException:
    """SQLite's 'database is locked' and 'database or disk is full' as StorageUnavailable, in
    a member's words (the cause is logged for the owner); anything else unchanged."""
    text = str(err)
    if not isinstance(err, sqlite3.OperationalError) or not any(
        word in text for word in ("locked", "busy", "full")
    ):
        return err
    log.error("The database refused a write: %s", text)
    return StorageUnavailable("full" in text)


def _drive(conn: sqlite3.Connection, steps: Steps[T]) -> T:
    try:
        statement = next(steps)
        while True:
            statement = steps.send(conn.execute(*statement).fetchone())
    except StopIteration as done:
        result: T = done.value
        return result


def _in_group(
    conn: sqlite3.Connection, works: list[Callable[[sqlite3.Connection], Any]]
) -> list[tuple[bool, Any]]:
    outcomes: list[tuple[bool, Any]] = []
    conn.execute("BEGIN IMMEDIATE")
    try:
        for work in works:
            conn.execute("SAVEPOINT one")
            try:
                outcomes.append((True, work(conn)))
            except Exception as err:
                if not conn.in_transaction:  # SQLite rolled it all back (a full disk does)
                    raise
                conn.execute("ROLLBACK TO one")
                outcomes.append((False, translated(err)))
            conn.execute("RELEASE one")
    except BaseException:
        if conn.in_transaction:
            conn.rollback()
        raise
    conn.commit()
    return outcomes


async def _connect(path: Path) -> aiosqlite.Connection:
    try:
        conn = await aiosqlite.connect(path, isolation_level=None)
    except sqlite3.Error as err:
        raise StorageError(f"Cannot open the database {path}: {err}") from err
    conn.row_factory = sqlite3.Row
    await conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    await conn.execute("PRAGMA journal_mode = WAL")
    # FULL: a commit is on disk when it returns (NORMAL may lose the last ones to a power cut,
    # and with them charges and deliveries already acted on).
    await conn.execute("PRAGMA synchronous = FULL")
    await conn.execute("PRAGMA foreign_keys = ON")
    return conn


async def _migrate(conn: aiosqlite.Connection, path: Path, target: int | None) -> None:
    steps = migrations()
    target = len(steps) if target is None else target
    async with conn.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    current = int(row[0]) if row else 0
    if current > len(steps):
        raise StorageError(
            f"The database {path} has schema version {current}, newer than this version of the "
            f"bot knows ({len(steps)}). Upgrade the bot; the database was left as it is."
        )
    pending = [m for m in steps if current < m.version <= target]
    if not pending:
        return
    if current > 0:
        backup = path.with_name(f"{path.name}.v{current}.bak")
        backup.unlink(missing_ok=True)
        await conn.execute("VACUUM INTO ?", (str(backup),))
        log.info("Backed up schema version %d to %s before migrating", current, backup)
    for migration in pending:
        log.info("Applying migration %04d_%s", migration.version, migration.name)
        try:
            await conn.executescript(
                f"BEGIN IMMEDIATE;\n{migration.sql}\n"
                f"PRAGMA user_version = {migration.version};\nCOMMIT;"
            )
        except sqlite3.Error as err:
            if conn.in_transaction:
                await conn.rollback()
            raise StorageError(
                f"Migration {migration.version:04d}_{migration.name} failed on {path}: {err}. "
                "The database is unchanged from the previous version."
            ) from err
