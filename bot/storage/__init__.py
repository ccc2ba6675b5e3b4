"""Storage: SQLite embedded (the default) or PostgreSQL (the scaled mode) behind one interface,
numbered migrations, transactions."""

from __future__ import annotations

from typing import TYPE_CHECKING

from bot.errors import SettingsError
from bot.settings import POSTGRES_ENV, Secrets, Settings
from bot.storage.database import Database, latest_version, migrations
from bot.storage.sql import (
    POSTGRES,
    SQLITE,
    Dialect,
    Page,
    Row,
    SqlConnection,
    SqlCursor,
    SqlDatabase,
    Statement,
    Steps,
)

if TYPE_CHECKING:
    from bot.storage.postgres import PostgresDatabase

__all__ = [
    "POSTGRES",
    "SQLITE",
    "Database",
    "Dialect",
    "Page",
    "Row",
    "SqlConnection",
    "SqlCursor",
    "SqlDatabase",
    "Statement",
    "Steps",
    "latest_version",
    "migrations",
    "open_database",
    "open_postgres",
]


async def open_database(settings: Settings, secrets: Secrets) -> SqlDatabase:
    """PostgreSQL in the scaled mode (``scale.enabled``), else the embedded SQLite file."""
    if settings.scale.enabled:
        return await open_postgres(secrets)
    return await Database.open(settings.storage.database_path)


async def open_postgres(secrets: Secrets) -> PostgresDatabase:
    if secrets.postgres_dsn is None:
        raise SettingsError(
            f"The scaled mode keeps its data in PostgreSQL: set {POSTGRES_ENV} to its DSN "
            "(postgresql://user:password@host:5432/database), or postgres_dsn in the secrets file."
        )
    try:
        # asyncpg comes with the scale extra only; the embedded mode never needs it.
        from bot.storage.postgres import PostgresDatabase  # noqa: PLC0415
    except ImportError as err:
        raise SettingsError(
            f"The scaled mode needs asyncpg ({err}): pip install 'imagebot[scale]'."
        ) from err
    return await PostgresDatabase.open(secrets.postgres_dsn.get_secret_value())
