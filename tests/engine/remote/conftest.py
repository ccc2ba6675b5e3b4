"""Fixtures for the remote adapters' tests."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from engine.remote import http
from tests.engine.remote.fake_horde import STORAGE, FakeHorde
from tests.fakes.http_api import FakeApi


@pytest.fixture
async def api() -> AsyncIterator[FakeApi]:
    fake = FakeApi()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def waits(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[float]]:
    """The HTTP policy's waits between attempts, recorded instead of slept."""
    recorded: list[float] = []

    async def record(seconds: float) -> None:
        recorded.append(seconds)

    monkeypatch.setattr(http, "_sleep", record)
    yield recorded


@pytest.fixture
async def storage() -> AsyncIterator[FakeApi]:
    """The fake AI Horde's R2 storage: another loopback address than the API's."""
    fake = FakeApi(STORAGE)
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
def horde(api: FakeApi, storage: FakeApi) -> FakeHorde:
    return FakeHorde(api, storage)
