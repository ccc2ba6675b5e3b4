"""SQLite storage: the connection pair, numbered migrations, transactions."""

from bot.storage.database import Database, latest_version, migrations

__all__ = ["Database", "latest_version", "migrations"]
