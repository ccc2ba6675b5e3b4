"""tests/bot/test_own_results.py and the service's checks of references and control
(tests/bot/test_guided_requests.py) again, on PostgreSQL."""

import pytest

from tests.bot.test_guided_requests import *  # noqa: F403 (the same tests, collected again here)
from tests.bot.test_own_results import *  # noqa: F403
from tests.scale.postgres_backend import runtime_on_postgres  # noqa: F401 (autouse)

pytestmark = pytest.mark.scale
