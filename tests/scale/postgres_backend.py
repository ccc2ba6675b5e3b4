"""The runtime's database on PostgreSQL, for tests written against SQLite: the modules in
tests/scale/test_postgres_*.py collect a tests/bot module again with these fixtures, so the
same assertions run on both backends."""

from __future__ import annotations

import pytest

from bot import runtime
from bot.settings import Secrets, Settings
from bot.storage import SqlDatabase
from bot.storage.postgres import PostgresDatabase


@pytest.fixture(autouse=True)
def runtime_on_postgres(postgres_dsn: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every runtime the test opens (the ``runtime`` fixture, or its own ``open_runtime``)
    keeps its data in the test's fresh PostgreSQL database. The scaled mode itself stays off:
    it would also start the Redis transport, which these tests do not need."""

    async def open_database(settings: Settings, secrets: Secrets) -> SqlDatabase:
        return await PostgresDatabase.open(postgres_dsn)

    monkeypatch.setattr(runtime, "open_database", open_database)
