"""Fixtures for the remote adapters' tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.fakes.http_api import FakeApi


@pytest.fixture
async def api() -> AsyncIterator[FakeApi]:
    fake = FakeApi()
    await fake.start()
    yield fake
    await fake.stop()
