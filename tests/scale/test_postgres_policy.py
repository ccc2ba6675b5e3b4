"""tests/bot/test_policy.py again, on PostgreSQL."""

from collections.abc import AsyncIterator

import pytest

from bot.policy import Policies
from bot.storage.postgres import PostgresDatabase
from tests.bot.test_policy import *  # noqa: F403 (the same tests, collected again here)

pytestmark = pytest.mark.scale


@pytest.fixture
async def policies(postgres_dsn: str) -> AsyncIterator[Policies]:
    db = await PostgresDatabase.open(postgres_dsn)
    try:
        yield Policies(db)
    finally:
        await db.close()
