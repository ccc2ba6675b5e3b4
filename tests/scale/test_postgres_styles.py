"""tests/bot/test_style_store.py again, on PostgreSQL."""

import pytest

from tests.bot.test_style_store import *  # noqa: F403 (the same tests, collected again here)
from tests.scale.postgres_backend import runtime_on_postgres  # noqa: F401 (autouse)

pytestmark = pytest.mark.scale
