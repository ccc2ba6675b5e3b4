"""``python -m bot migrate-to-postgres``: copy the embedded SQLite database into an empty
PostgreSQL one for the scaled mode, ids and all, in one transaction. Stop the bot first: the
copy is of the file as it is while the command reads it. Interaction tokens that expired or
were used are left behind."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.credentials import TOKEN, spent
from bot.errors import StorageError
from bot.settings import LoadedSettings
from bot.storage import Database, open_postgres

if TYPE_CHECKING:
    from bot.storage.postgres import PgConnection, PostgresDatabase

# Parents before children, for the foreign keys.
TABLES = (
    "users",
    "user_preferences",
    "jobs",
    "job_inputs",
    "job_input_extras",
    "job_images",
    "deliveries",
    "quota_ledger",
    "scheduler_state",
    "guild_settings",
    "channel_settings",
    "bans",
    "blocked_terms",
    "reports",
    "audit_log",
    "tiers",
    "provider_states",
    "member_quotas",
    "styles",
)
SEEDED = "scheduler_state"  # the PostgreSQL migration seeds it; the copy replaces it
BATCH = 500  # rows read and written at a time: job inputs hold whole images


async def migrate_to_postgres(loaded: LoadedSettings, sqlite_path: Path | None) -> int:
    """The command: brings the SQLite file to the latest schema, copies it, prints counts."""
    path = sqlite_path or loaded.settings.storage.database_path
    if not path.is_file():
        raise StorageError(f"There is no SQLite database at {path} to copy.")
    source = await Database.open(path)
    try:
        target = await open_postgres(loaded.secrets)
        try:
            counts = await copy_database(source, target)
        finally:
            await target.close()
    finally:
        await source.close()
    width = max(map(len, counts))
    print(f"{'table':<{width}}  rows")
    for table, count in counts.items():
        print(f"{table:<{width}}  {count}")
    print(f"Copied {path} into PostgreSQL: {sum(counts.values())} rows in {len(counts)} tables.")
    return 0


async def copy_database(source: Database, target: PostgresDatabase) -> dict[str, int]:
    """Every table, ids preserved, then each identity column set past the highest id SQLite
    ever gave out. All or nothing; a target that holds data is refused untouched."""
    async with target.transaction() as conn:
        columns = await _matching_columns(source, conn)
        # Nothing else writes meanwhile: a second copy waits, then finds the data and refuses.
        await conn.execute(f"LOCK TABLE {', '.join(TABLES)} IN EXCLUSIVE MODE")
        await _refuse_data(conn)
        await conn.execute(f"DELETE FROM {SEEDED}")
        counts = {table: await _copy_table(source, conn, table, columns[table]) for table in TABLES}
        await _reset_identities(source, conn)
    return counts


async def _matching_columns(source: Database, conn: PgConnection) -> dict[str, list[str]]:
    """Each table's columns, which must be the same on both sides (the same schema)."""
    async with conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name <> 'schema_migrations' "
        "ORDER BY table_name, ordinal_position"
    ) as cursor:
        rows = await cursor.fetchall()
    target: dict[str, list[str]] = {}
    for row in rows:
        target.setdefault(row["table_name"], []).append(row["column_name"])
    tables = await source.fetchall(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    ours = {
        row["name"]: [c["name"] for c in await source.fetchall(f"PRAGMA table_info({row[0]})")]
        for row in tables
    }
    if set(ours) != set(TABLES) or set(target) != set(TABLES):
        raise StorageError(
            f"The tables differ, so nothing was copied: SQLite has {sorted(ours)}, PostgreSQL "
            f"{sorted(target)}, and this command copies {sorted(TABLES)}."
        )
    differences = [
        f"{table} has {sorted(ours[table])} in SQLite but {sorted(target[table])} in PostgreSQL"
        for table in TABLES
        if sorted(ours[table]) != sorted(target[table])
    ]
    if differences:
        raise StorageError(f"The columns differ, so nothing was copied: {'; '.join(differences)}.")
    return target


async def _refuse_data(conn: PgConnection) -> None:
    held = {}
    for table in TABLES:
        if table != SEEDED:
            async with conn.execute(f"SELECT COUNT(*) FROM {table}") as cursor:
                row = await cursor.fetchone()
            if row is not None and row[0]:
                held[table] = int(row[0])
    if held:
        found = ", ".join(f"{table} ({count} rows)" for table, count in held.items())
        raise StorageError(
            f"The PostgreSQL database already holds data: {found}. migrate-to-postgres copies "
            "only into an empty database; nothing was copied."
        )


async def _copy_table(source: Database, conn: PgConnection, table: str, columns: list[str]) -> int:
    """In batches by rowid, so a table of images never sits in memory whole."""
    copied, last = 0, None
    names = ", ".join(columns)
    now = time.time()
    while True:
        rows = await source.fetchall(
            f"SELECT rowid, {names} FROM {table} WHERE ? IS NULL OR rowid > ? "
            "ORDER BY rowid LIMIT ?",
            (last, last, BATCH),
        )
        if not rows:
            return copied
        values = [tuple(row)[1:] for row in rows]
        if table == "jobs":
            values = [_without_spent_token(row, columns, now) for row in values]
        await conn.copy_rows(table, columns, values)
        copied += len(rows)
        last = rows[-1][0]


def _without_spent_token(row: tuple[Any, ...], columns: list[str], now: float) -> tuple[Any, ...]:
    """A job's interaction token travels only while it can still be used (bot.credentials)."""
    at = columns.index("target")
    target = json.loads(row[at])
    if not spent(target, delivered=bool(row[columns.index("delivered")]), now=now):
        return row
    del target[TOKEN]
    return (*row[:at], json.dumps(target), *row[at + 1 :])


async def _reset_identities(source: Database, conn: PgConnection) -> None:
    """SQLite's AUTOINCREMENT never reuses an id, even of a deleted row; so the next id is
    past the highest it ever gave out (sqlite_sequence), not only past the rows there now."""
    issued: Mapping[str, int] = {
        row["name"]: int(row["seq"])
        for row in await source.fetchall("SELECT name, seq FROM sqlite_sequence")
    }
    async with conn.execute(
        "SELECT table_name, column_name FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND is_identity = 'YES'"
    ) as cursor:
        identities = await cursor.fetchall()
    for table, column in identities:
        await conn.execute(
            f"SELECT setval(pg_get_serial_sequence(?, ?), GREATEST(MAX({column}), ?, 0) + 1, "
            f"false) FROM {table}",
            (table, column, issued.get(table, 0)),
        )
