"""tests/bot/test_moderation.py again, on PostgreSQL."""

from collections.abc import AsyncIterator

import pytest

from bot.storage.postgres import PostgresDatabase
from tests.bot.test_moderation import *  # noqa: F403 (the same tests, collected again here)

pytestmark = pytest.mark.scale


@pytest.fixture
async def db(postgres_dsn: str) -> AsyncIterator[PostgresDatabase]:
    database = await PostgresDatabase.open(postgres_dsn)
    yield database
    await database.close()
