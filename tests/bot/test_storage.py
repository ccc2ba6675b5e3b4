from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.errors import StorageError, StorageUnavailable
from bot.storage import Database, database, latest_version, migrations
from bot.store import SqlJobStore
from tests.bot.test_input_storage import assert_guided, assert_inputs, edit_job, guided_job
from tests.bot.test_input_storage import limits as quota


async def test_a_new_database_is_at_the_latest_schema_in_wal_mode(tmp_path: Path):
    db = await Database.open(tmp_path / "bot.sqlite3")
    try:
        assert await db.schema_version() == latest_version() >= 2
        row = await db.fetchone("PRAGMA journal_mode")
        assert row is not None and row[0] == "wal"
        tables = {r[0] for r in await db.fetchall("SELECT name FROM sqlite_master")}
        for table in (
            "users",
            "user_preferences",
            "guild_settings",
            "channel_settings",
            "jobs",
            "job_images",
            "deliveries",
            "quota_ledger",
            "bans",
            "blocked_terms",
            "reports",
            "audit_log",
            "styles",
        ):
            assert table in tables
    finally:
        await db.close()


async def test_a_commit_is_on_disk_when_it_returns(tmp_path: Path):
    """synchronous = FULL on both connections: WAL with NORMAL can lose the last commits (the
    charges and deliveries already acted on) to a power cut."""
    full = 2
    db = await Database.open(tmp_path / "bot.sqlite3")
    try:
        assert await db.write(lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0]) == full
        row = await db.fetchone("PRAGMA synchronous")
        assert row is not None and row[0] == full
    finally:
        await db.close()


async def test_a_database_from_the_first_schema_is_migrated_with_its_data(tmp_path: Path):
    path = tmp_path / "bot.sqlite3"
    old = await Database.open(path, target_version=1)
    async with old.transaction() as conn:
        await conn.execute("INSERT INTO users (user_id, created_at) VALUES (42, 1.0)")
        await conn.execute(
            "INSERT INTO quota_ledger (user_id, scope, period, kind, units, created_at) "
            "VALUES (42, 0, '2026-01-01', 'grant', -5, 1.0)"
        )
    assert await old.schema_version() == 1
    await old.close()

    db = await Database.open(path)
    try:
        assert await db.schema_version() == latest_version()
        row = await db.fetchone("SELECT units FROM quota_ledger WHERE user_id = 42")
        assert row is not None and row[0] == -5
        assert await db.fetchone("SELECT 1 FROM users WHERE user_id = 42") is not None
    finally:
        await db.close()
    backup = path.with_name("bot.sqlite3.v1.bak")
    with sqlite3.connect(backup) as conn:
        assert conn.execute("PRAGMA user_version").fetchone()[0] == 1
        assert conn.execute("SELECT COUNT(*) FROM users").fetchone()[0] == 1


async def test_a_database_newer_than_the_code_is_left_alone(tmp_path: Path):
    path = tmp_path / "bot.sqlite3"
    with sqlite3.connect(path) as conn:
        conn.execute(f"PRAGMA user_version = {latest_version() + 1}")
    with pytest.raises(StorageError, match="newer than this version"):
        await Database.open(path)


async def test_a_failed_transaction_rolls_back(tmp_path: Path):
    db = await Database.open(tmp_path / "bot.sqlite3")
    try:
        with pytest.raises(RuntimeError):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO users (user_id, created_at) VALUES (1, 1.0)")
                raise RuntimeError
        assert await db.fetchone("SELECT 1 FROM users") is None
    finally:
        await db.close()


def test_migrations_are_numbered_without_gaps():
    assert [m.version for m in migrations()] == list(range(1, latest_version() + 1))


async def test_writes_that_arrive_together_commit_together_but_fail_alone(tmp_path: Path):
    db = await Database.open(tmp_path / "db.sqlite3")
    try:

        def insert(user: int) -> Callable[[sqlite3.Connection], int]:
            def work(conn: sqlite3.Connection) -> int:
                conn.execute("INSERT INTO users (user_id, created_at) VALUES (?, 0)", (user,))
                if user == 3:
                    raise ValueError("no user 3")
                return user

            return work

        outcomes = await asyncio.gather(
            *(db.write(insert(u)) for u in range(6)), return_exceptions=True
        )
        assert outcomes[:3] == [0, 1, 2] and isinstance(outcomes[3], ValueError)
        assert outcomes[4:] == [4, 5]
        rows = await db.fetchall("SELECT user_id FROM users ORDER BY user_id")
        assert [row[0] for row in rows] == [0, 1, 2, 4, 5]
    finally:
        await db.close()


async def test_a_busy_database_refuses_clearly_and_recovers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(database, "BUSY_TIMEOUT_MS", 50)
    db = await Database.open(tmp_path / "db.sqlite3")
    other = sqlite3.connect(tmp_path / "db.sqlite3", isolation_level=None)
    try:
        other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
        with pytest.raises(StorageUnavailable, match="busy"):
            await db.write(lambda conn: conn.execute("INSERT INTO users VALUES (1, 0, NULL, 0)"))
        with pytest.raises(StorageUnavailable, match="busy"):
            async with db.transaction() as conn:
                await conn.execute("INSERT INTO users VALUES (2, 0, NULL, 0)")
        other.execute("ROLLBACK")
        await db.write(lambda conn: conn.execute("INSERT INTO users VALUES (3, 0, NULL, 0)"))
        assert [row[0] for row in await db.fetchall("SELECT user_id FROM users")] == [3]
    finally:
        other.close()
        await db.close()


async def test_a_full_disk_refuses_clearly_keeps_the_database_whole_and_recovers(
    tmp_path: Path,
):
    db = await Database.open(tmp_path / "db.sqlite3")
    try:
        (pages,) = (await db.fetchone("PRAGMA page_count")) or (0,)
        await db.write(lambda conn: conn.execute(f"PRAGMA max_page_count = {pages}"))
        big = "x" * 100_000
        with pytest.raises(StorageUnavailable, match="full"):
            await db.write(
                lambda conn: conn.execute(
                    "INSERT INTO audit_log (actor_id, action, details, created_at) "
                    "VALUES (1, 'x', ?, 0)",
                    (big,),
                )
            )
        await db.write(lambda conn: conn.execute("PRAGMA max_page_count = 1073741823"))
        await db.write(lambda conn: conn.execute("INSERT INTO users VALUES (1, 0, NULL, 0)"))
        assert (await db.fetchone("PRAGMA integrity_check"))[0] == "ok"  # type: ignore[index]
    finally:
        await db.close()


async def test_other_database_errors_are_not_disguised(tmp_path: Path):
    db = await Database.open(tmp_path / "db.sqlite3")
    try:
        with pytest.raises(sqlite3.OperationalError, match="no such table"):
            await db.write(lambda conn: conn.execute("SELECT * FROM nowhere"))
    finally:
        await db.close()


async def test_input_images_stored_before_references_survive_their_migration(tmp_path: Path):
    """Migration 0009 rebuilds job_input_extras to take reference and control images: a
    mask and an edit's further images stored before it are kept, and other kinds stay out."""
    path = tmp_path / "bot.sqlite3"
    old = await Database.open(path, target_version=8)
    job = await SqlJobStore(old).submit(edit_job(), quota())
    await old.close()

    db = await Database.open(path)
    try:
        store = SqlJobStore(db)
        assert_inputs(await store.get(job.job_id))
        guided = await store.submit(guided_job(), quota())
        assert_guided(await store.get(guided.job_id))
        with pytest.raises(sqlite3.IntegrityError):
            async with db.transaction() as conn:
                await conn.execute(
                    "INSERT INTO job_input_extras (job_id, kind, idx, image) VALUES (?, ?, 0, ?)",
                    (job.job_id, "other", b"x"),
                )
    finally:
        await db.close()
