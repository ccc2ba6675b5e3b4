"""PostgreSQL as the system of record: placeholders, migrations, unavailability, the job store
under real concurrency, and the copy from SQLite."""

from __future__ import annotations

import asyncio
import io
import re
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from PIL import Image
from pydantic import SecretStr

from bot.cli import main
from bot.errors import (
    QueueLimitReached,
    QuotaExceeded,
    SettingsError,
    StorageError,
    StorageUnavailable,
)
from bot.jobs import NewJob, Requester, StoredImage
from bot.members import MemberStore, Preferences
from bot.moderation import Moderation, Tier
from bot.policy import Policies
from bot.quota import QuotaLedger, QuotaLimits
from bot.runtime import open_runtime
from bot.scheduler import Capacity
from bot.settings import LoadedSettings, Secrets
from bot.storage import Database, migrations, open_database, postgres
from bot.storage.copy import TABLES, copy_database
from bot.storage.postgres import MIGRATIONS, PostgresDatabase, numbered
from bot.store import SqlJobStore
from bot.styles import Scope, Style
from engine import GenerationRequest, Mode
from tests.bot.helpers import submit
from tests.bot.test_input_storage import edit_job, guided_job
from tests.conftest import make_settings
from tests.scale.servers import PostgresServer, running_postgres

pytestmark = pytest.mark.scale


def new_job(user: int, *, batch_key: str = "") -> NewJob:
    request = GenerationRequest("a lighthouse", model="fake-v1", width=64, height=64, seed=1)
    return NewJob(Requester(user), "discord", "fake", "fake-v1", batch_key, request, 1, 3, 60.0)


def limits(*, allowance: int = 1000, max_queued: int = 1000) -> QuotaLimits:
    return QuotaLimits(0, "default", allowance, 0.0, max_queued)


@pytest.fixture
async def postgres_db(postgres_dsn: str) -> AsyncIterator[PostgresDatabase]:
    db = await PostgresDatabase.open(postgres_dsn)
    try:
        yield db
    finally:
        await db.close()


async def scalar(db: PostgresDatabase, sql: str, params: tuple[Any, ...] = ()) -> Any:
    row = await db.fetchone(sql, params)
    assert row is not None
    return row[0]


# Placeholders


@pytest.mark.parametrize(
    ("sql", "expected"),
    [
        ("SELECT 1", "SELECT 1"),
        ("UPDATE t SET a = ? WHERE b IN (?, ?)", "UPDATE t SET a = $1 WHERE b IN ($2, $3)"),
        ("SELECT '?', ? FROM t", "SELECT '?', $1 FROM t"),
        ("SELECT 'it''s ?' WHERE a = ?", "SELECT 'it''s ?' WHERE a = $1"),
        ('SELECT "odd?name" FROM t WHERE a = ?', 'SELECT "odd?name" FROM t WHERE a = $1'),
        ("SELECT ? -- why?\n, ?", "SELECT $1 -- why?\n, $2"),
        ("/* ? */ SELECT ?", "/* ? */ SELECT $1"),
    ],
)
def test_placeholders_are_numbered_outside_quotes_and_comments(sql: str, expected: str):
    assert numbered(sql) == expected


# Migrations


async def test_migrations_apply_once_and_give_the_sqlite_schema(postgres_dsn: str, tmp_path: Path):
    for _ in range(2):
        db = await PostgresDatabase.open(postgres_dsn)
        try:
            assert await db.schema_version() == len(migrations(MIGRATIONS))
            applied = await scalar(db, "SELECT COUNT(*) FROM schema_migrations")
            assert applied == len(migrations(MIGRATIONS))
            pg_columns = await db.fetchall(
                "SELECT table_name, column_name FROM information_schema.columns "
                "WHERE table_schema = 'public' AND table_name <> 'schema_migrations'"
            )
            pg_indexes = await db.fetchall(
                "SELECT indexname FROM pg_indexes WHERE schemaname = 'public' "
                "AND indexname NOT LIKE '%\\_pkey' AND indexname NOT LIKE '%\\_key'"
            )
        finally:
            await db.close()
    sqlite = await Database.open(tmp_path / "bot.sqlite3")
    try:
        sqlite_columns = await sqlite.fetchall(
            "SELECT m.name, c.name FROM sqlite_master m, pragma_table_info(m.name) c "
            "WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'"
        )
        sqlite_indexes = await sqlite.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'index' "
            "AND name NOT LIKE 'sqlite_autoindex%'"
        )
    finally:
        await sqlite.close()
    assert {tuple(r) for r in pg_columns} == {tuple(r) for r in sqlite_columns}
    assert {r[0] for r in pg_indexes} == {r[0] for r in sqlite_indexes}
    assert {r[0] for r in pg_columns} == set(TABLES)


async def test_processes_starting_together_migrate_once(postgres_dsn: str):
    dbs = await asyncio.gather(*(PostgresDatabase.open(postgres_dsn) for _ in range(6)))
    try:
        rows = await dbs[0].fetchall("SELECT version FROM schema_migrations ORDER BY version")
        assert [r[0] for r in rows] == list(range(1, len(migrations(MIGRATIONS)) + 1))
    finally:
        await asyncio.gather(*(db.close() for db in dbs))


async def test_a_database_newer_than_the_code_is_left_alone(postgres_dsn: str):
    db = await PostgresDatabase.open(postgres_dsn)
    async with db.transaction() as conn:
        await conn.execute(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, 'future', 0)"
        )
    await db.close()
    with pytest.raises(StorageError, match="newer than this version"):
        await PostgresDatabase.open(postgres_dsn)


# Choosing the backend


async def test_the_scaled_mode_opens_postgres_and_names_the_missing_dsn(
    tmp_path: Path, postgres_dsn: str
):
    scaled = make_settings(tmp_path, scale={"enabled": True})
    with pytest.raises(SettingsError, match="IMAGEBOT_POSTGRES_DSN"):
        await open_database(scaled, Secrets())
    db = await open_database(scaled, Secrets(postgres_dsn=SecretStr(postgres_dsn)))
    assert isinstance(db, PostgresDatabase)
    await db.close()
    embedded = await open_database(make_settings(tmp_path), Secrets())
    assert isinstance(embedded, Database)
    await embedded.close()


# Unavailability


@pytest.fixture
def own_server() -> Iterator[PostgresServer]:
    """A server of the test's own, to stop."""
    with running_postgres() as server:
        yield server


async def test_a_server_that_is_gone_refuses_clearly(own_server: PostgresServer):
    db = await PostgresDatabase.open(own_server.dsn())
    store = SqlJobStore(db)
    try:
        await asyncio.to_thread(own_server.stop)
        with pytest.raises(StorageUnavailable, match="busy"):
            await db.fetchone("SELECT 1")
        with pytest.raises(StorageUnavailable):
            async with db.transaction() as conn:
                await conn.execute("DELETE FROM users")
        with pytest.raises(StorageUnavailable):
            await store.submit(new_job(7), limits())
    finally:
        await db.close()


async def test_a_dropped_connection_refuses_clearly_and_recovers(
    postgres_db: PostgresDatabase, postgres_dsn: str
):
    admin = await asyncpg.connect(postgres_dsn)
    try:
        with pytest.raises(StorageUnavailable, match="busy"):
            async with postgres_db.transaction() as conn:
                async with conn.execute("SELECT pg_backend_pid()") as cursor:
                    row = await cursor.fetchone()
                await admin.execute("SELECT pg_terminate_backend($1)", row[0])
                await asyncio.sleep(0.2)  # the server has closed it
                await conn.execute("INSERT INTO users (user_id, created_at) VALUES (1, 0)")
    finally:
        await admin.close()
    await SqlJobStore(postgres_db).submit(new_job(7), limits())
    assert await scalar(postgres_db, "SELECT COUNT(*) FROM users") == 1  # only the submit's


async def test_too_many_connections_refuses_clearly(
    postgres_db: PostgresDatabase, postgres_dsn: str
):
    role = "limited_" + postgres_dsn.rsplit("/", 1)[1]
    async with postgres_db.transaction() as conn:
        await conn.execute(f"CREATE ROLE {role} LOGIN CONNECTION LIMIT 1")
        await conn.execute(f"GRANT ALL ON SCHEMA public TO {role}")
        await conn.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
    limited = await PostgresDatabase.open(postgres_dsn.replace("postgres@", f"{role}@"))
    try:
        async with limited.transaction() as conn:  # holds the role's one connection
            with pytest.raises(StorageUnavailable, match="busy"):
                await limited.fetchone("SELECT 1")
        assert await limited.fetchone("SELECT 1") is not None
    finally:
        await limited.close()


async def test_a_pool_with_every_connection_busy_refuses_clearly(
    postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(postgres, "POOL_SIZE", (1, 1))
    monkeypatch.setattr(postgres, "BUSY_TIMEOUT", 0.1)
    db = await PostgresDatabase.open(postgres_dsn)
    try:
        async with db.transaction():
            with pytest.raises(StorageUnavailable, match="busy"):
                await db.fetchone("SELECT 1")
        assert await db.fetchone("SELECT 1") is not None
    finally:
        await db.close()


# The job store under concurrency


async def test_concurrent_submits_of_one_user_never_overdraw(postgres_dsn: str):
    """Two processes (a pool each), 40 requests at once, room for 7."""
    dbs = [await PostgresDatabase.open(postgres_dsn) for _ in range(2)]
    stores = [SqlJobStore(db) for db in dbs]
    try:
        results = await asyncio.gather(
            *(stores[i % 2].submit(new_job(7), limits(allowance=7)) for i in range(40)),
            return_exceptions=True,
        )
        accepted = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, QuotaExceeded)]
        assert (len(accepted), len(refused)) == (7, 33)
        db = dbs[0]
        assert await scalar(db, "SELECT SUM(units) FROM quota_ledger WHERE user_id = 7") == 7
        reserved = await db.fetchall("SELECT job_id FROM quota_ledger ORDER BY job_id")
        assert [r[0] for r in reserved] == sorted(job.job_id for job in accepted)
        assert await scalar(db, "SELECT COUNT(*) FROM jobs") == 7
    finally:
        await asyncio.gather(*(db.close() for db in dbs))


async def test_concurrent_submits_in_three_servers_never_pass_the_cap_across_servers(
    postgres_dsn: str,
):
    """Two processes, 40 requests at once in three servers with room for 1000 each: the
    member's cap across servers (7) holds exactly, as the one-server allowance does."""
    dbs = [await PostgresDatabase.open(postgres_dsn) for _ in range(2)]
    stores = [SqlJobStore(db) for db in dbs]
    request = new_job(7).request
    try:
        results = await asyncio.gather(
            *(
                stores[i % 2].submit(
                    NewJob(
                        Requester(7, 10 + i % 3),
                        "discord",
                        "fake",
                        "fake-v1",
                        "",
                        request,
                        1,
                        3,
                        60.0,
                    ),
                    QuotaLimits(10 + i % 3, "default", 1000, 0.0, 1000, daily_cap=7),
                )
                for i in range(40)
            ),
            return_exceptions=True,
        )
        accepted = [r for r in results if not isinstance(r, BaseException)]
        refused = [r for r in results if isinstance(r, QuotaExceeded) and r.everywhere]
        assert (len(accepted), len(refused)) == (7, 33)
        assert await scalar(dbs[0], "SELECT SUM(units) FROM quota_ledger WHERE user_id = 7") == 7
    finally:
        await asyncio.gather(*(db.close() for db in dbs))


async def test_concurrent_submits_of_one_user_respect_the_queue_limit(
    postgres_db: PostgresDatabase,
):
    store = SqlJobStore(postgres_db)
    results = await asyncio.gather(
        *(store.submit(new_job(7), limits(max_queued=5)) for _ in range(30)),
        return_exceptions=True,
    )
    assert sum(not isinstance(r, BaseException) for r in results) == 5
    assert sum(isinstance(r, QueueLimitReached) for r in results) == 25


@pytest.mark.parametrize("batch", [1, 4])
async def test_two_claimers_never_take_the_same_job(postgres_dsn: str, batch: int):
    dbs = [await PostgresDatabase.open(postgres_dsn) for _ in range(2)]
    stores = [SqlJobStore(db) for db in dbs]
    try:
        submitted = [
            (await stores[0].submit(new_job(user, batch_key="same"), limits())).job_id
            for user in range(60)
        ]
        capacity = Capacity({"fake": 1000}, {}, 1000, {"fake": batch})

        async def claimer(store: SqlJobStore) -> list[int]:
            taken: list[int] = []
            while batch := await store.claim("discord", capacity):
                taken += [job.job_id for job in batch]
            return taken

        claimed = await asyncio.gather(*(claimer(stores[i % 2]) for i in range(8)))
        every = [job_id for taken in claimed for job_id in taken]
        assert sorted(every) == sorted(submitted)  # each job once, none twice
        assert sum(1 for taken in claimed if taken) > 1  # the claimers did run side by side
        rows = await dbs[0].fetchall("SELECT DISTINCT status, attempt FROM jobs")
        assert [tuple(r) for r in rows] == [("running", 1)]
    finally:
        await asyncio.gather(*(db.close() for db in dbs))


async def test_depth_active_and_target_merges(postgres_db: PostgresDatabase):
    store = SqlJobStore(postgres_db)
    first = await store.submit(new_job(1), limits())
    second = await store.submit(new_job(2), limits())
    capacity = Capacity({"fake": 1}, {}, 1, {})
    await store.claim("discord", capacity, [second.job_id])
    assert await store.depth() == {"fake": (1, 1)}
    assert [job.job_id for job in await store.active()] == [second.job_id, first.job_id]
    await store.update_target(first.job_id, {"message_id": 5, "nested": {"a": 1}})
    await store.update_target(first.job_id, {"channel_id": None, "nested": {"b": 2}})
    stored = await store.get(first.job_id)
    assert stored is not None and stored.target == {"message_id": 5, "nested": {"a": 1, "b": 2}}


# The copy from SQLite


async def populate(folder: Path) -> tuple[Path, int]:
    """A database that has seen some life: every table has rows, ids have gaps. Its path and
    the highest job id it gave out."""
    settings = make_settings(folder)
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as rt:
        image = io.BytesIO()
        Image.new("RGB", (64, 64), "teal").save(image, format="PNG")
        await submit(rt, 1, mode=Mode.IMG2IMG, init_image=image.getvalue(), strength=0.5)
        await rt.store.submit(edit_job(1), limits())  # a mask and an edit's further images
        await rt.store.submit(guided_job(1), limits())  # reference and control images
        jobs = [await submit(rt, user, f"prompt {user}", guild=10) for user in (1, 2, 3, 4)]
        capacity = Capacity({"fake": 9}, {}, 9, {})
        for queued in (jobs[0], jobs[3]):
            [job] = await rt.store.claim("discord", capacity, [queued.job_id])
            await rt.store.succeed(job, [StoredImage(0, 4_000_000_000, "x.png", 64, 64, True)])
            await rt.store.mark_delivered(job.job_id, f"message {job.job_id}")
        await rt.store.cancel(jobs[1].job_id)
        members = MemberStore(rt.db, rt.settings.storage.results_path)
        await members.save_preferences(
            1, Preferences(width=512, private_delivery=True, style="moody")
        )
        await members.file_report(jobs[0].job_id, reporter_id=9, guild_id=10, reason="why?")
        await members.forget(4)  # the job with the highest id: that id must not come back
        moderation = Moderation(rt.db)
        await moderation.ban(5, guild_id=None, actor_id=9, reason="spam", expires_at=None)
        await moderation.add_term(10, "cat", regex=False, actor_id=9)
        await moderation.set_tier(Tier(10, 77, "patron", daily_units=50), actor_id=9)
        policies = Policies(rt.db)
        await policies.set_content(10, {"img2img": False})
        await policies.set_content(10, {"width": 256}, channel_id=11)
        await policies.set_provider_state("fake", "paused", actor_id=9)
        await policies.set_member_units(10, 1, 3, actor_id=9)
        await QuotaLedger(rt.db).grant(1, 10, 2, actor_id=9)
        await rt.styles.save(Scope.MEMBER, 1, Style("moody", "dark, {prompt}"), actor_id=1)
        await rt.styles.save(
            Scope.GUILD, 10, Style("ink", "ink wash", params="--ar 3:2"), actor_id=9
        )
        return settings.storage.database_path, jobs[3].job_id


def sqlite_rows(path: Path, table: str, columns: list[str]) -> list[tuple[Any, ...]]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(f"SELECT {', '.join(columns)} FROM {table}").fetchall()
    return sorted(rows, key=repr)


async def postgres_tables(dsn: str) -> dict[str, tuple[list[str], list[tuple[Any, ...]]]]:
    conn = await asyncpg.connect(dsn)
    try:
        tables = {}
        for table in TABLES:
            columns = [
                r[0]
                for r in await conn.fetch(
                    "SELECT column_name FROM information_schema.columns WHERE table_name = $1 "
                    "ORDER BY ordinal_position",
                    table,
                )
            ]
            rows = [tuple(r) for r in await conn.fetch(f"SELECT {', '.join(columns)} FROM {table}")]
            tables[table] = (columns, sorted(rows, key=repr))
        return tables
    finally:
        await conn.close()


def test_the_copy_command_moves_every_row_and_ids_carry_on(
    tmp_path: Path,
    postgres_dsn: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    path, highest = asyncio.run(populate(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IMAGEBOT_CONFIG", raising=False)
    monkeypatch.setenv("IMAGEBOT_POSTGRES_DSN", postgres_dsn)

    assert main(["migrate-to-postgres", "--sqlite", str(path)]) == 0

    copied = asyncio.run(postgres_tables(postgres_dsn))
    for table, (columns, rows) in copied.items():
        assert rows == sqlite_rows(path, table, columns), table
        assert rows, f"{table} was not exercised"
    out = capsys.readouterr().out
    assert re.search(rf"^jobs +{len(copied['jobs'][1])}$", out, re.MULTILINE)
    assert "Copied" in out

    async def carry_on() -> int:
        db = await PostgresDatabase.open(postgres_dsn)
        try:
            job = await SqlJobStore(db).submit(new_job(1), limits())
            assert await SqlJobStore(db).get(1) is not None
            return job.job_id
        finally:
            await db.close()

    assert asyncio.run(carry_on()) == highest + 1


def test_the_copy_command_refuses_a_target_that_holds_data(
    tmp_path: Path,
    postgres_dsn: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
):
    path, _ = asyncio.run(populate(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("IMAGEBOT_POSTGRES_DSN", postgres_dsn)
    assert main(["migrate-to-postgres", "--sqlite", str(path)]) == 0
    before = asyncio.run(postgres_tables(postgres_dsn))
    capsys.readouterr()

    assert main(["migrate-to-postgres", "--sqlite", str(path)]) == 2

    assert "already holds data" in capsys.readouterr().err
    assert asyncio.run(postgres_tables(postgres_dsn)) == before
    assert main(["migrate-to-postgres", "--sqlite", str(tmp_path / "none.sqlite3")]) == 2
    assert "no SQLite database" in capsys.readouterr().err


async def test_two_copies_at_once_copy_once(tmp_path: Path, postgres_dsn: str):
    path, _ = await populate(tmp_path)
    source = await Database.open(path)
    targets = [await PostgresDatabase.open(postgres_dsn) for _ in range(2)]
    try:
        outcomes = await asyncio.gather(
            *(copy_database(source, target) for target in targets), return_exceptions=True
        )
        [counts] = [o for o in outcomes if isinstance(o, dict)]
        [refused] = [o for o in outcomes if isinstance(o, StorageError)]
        assert "already holds data" in str(refused)
        assert await scalar(targets[0], "SELECT COUNT(*) FROM jobs") == counts["jobs"]
    finally:
        await asyncio.gather(source.close(), *(target.close() for target in targets))
