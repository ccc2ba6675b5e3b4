"""Fixtures for the scaled mode: one PostgreSQL server per test session (a fresh database per
test) and a Redis server per test (tests restart and kill it). Every test module here sets
``pytestmark = pytest.mark.scale``: the default run leaves them out, ``.ci/run`` runs them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.scale.harness import Deploy, deployment
from tests.scale.servers import PostgresServer, RedisServer, missing_servers, running_postgres


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[PostgresServer]:
    reason = missing_servers()
    if reason:
        pytest.fail(f"The scaled tests need real servers: {reason}")
    with running_postgres() as server:
        yield server


@pytest.fixture
def postgres_dsn(postgres_server: PostgresServer) -> str:
    return postgres_server.new_database()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    reason = missing_servers()
    if reason:
        pytest.fail(f"The scaled tests need real servers: {reason}")
    server = RedisServer(tmp_path / "redis")
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def deploy(tmp_path: Path, redis_server: RedisServer, postgres_dsn: str) -> Deploy:
    """``deploy(**sections)``: a scaled deployment on this test's servers and folder, with
    ``sections`` over the harness's settings."""
    return lambda **sections: deployment(tmp_path, redis_server.url, postgres_dsn, **sections)
