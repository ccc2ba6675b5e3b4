"""Interaction tokens in the scaled mode: migrate-to-postgres leaves behind the ones that expired
or were used (a job the bot still owes keeps its live one), and none travels to Redis."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import asyncpg
import pytest

from bot.cli import main
from bot.jobs import Requester
from bot.runtime import open_runtime
from bot.scale.transport import Task
from bot.settings import LoadedSettings, Secrets
from engine import GenerationRequest
from tests.conftest import make_settings

pytestmark = pytest.mark.scale


async def sqlite_with_tokens(tmp_path: Path) -> Path:
    settings = make_settings(tmp_path)
    now = time.time()
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as rt:
        for user, (token, expires) in enumerate(
            [("expired-secret", now - 1), ("live-secret", now + 600), ("used-secret", now + 600)],
            start=1,
        ):
            target = {"token": token, "token_expires": expires, "channel_id": 5}
            request = GenerationRequest("a lighthouse", width=64, height=64)
            await rt.service.submit(request, Requester(user, None, 5), target=target)
        async with rt.db.transaction() as conn:  # delivered before delivery dropped tokens
            await conn.execute("UPDATE jobs SET delivered = 1 WHERE job_id = 3")
    return settings.storage.database_path


async def postgres_targets(dsn: str) -> dict[int, dict[str, object]]:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch("SELECT job_id, target FROM jobs")
        return {row["job_id"]: json.loads(row["target"]) for row in rows}
    finally:
        await conn.close()


def test_the_copy_leaves_expired_and_used_tokens_behind(
    tmp_path: Path, postgres_dsn: str, monkeypatch: pytest.MonkeyPatch
):
    path = asyncio.run(sqlite_with_tokens(tmp_path))
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("IMAGEBOT_CONFIG", raising=False)
    monkeypatch.setenv("IMAGEBOT_POSTGRES_DSN", postgres_dsn)

    assert main(["migrate-to-postgres", "--sqlite", str(path)]) == 0

    targets = asyncio.run(postgres_targets(postgres_dsn))
    assert "token" not in targets[1] and "token" not in targets[3]
    assert targets[2]["token"] == "live-secret"
    assert all(
        target["channel_id"] == 5 and "token_expires" in target for target in targets.values()
    )


async def test_a_task_for_the_gpu_workers_carries_no_token(tmp_path: Path):
    """What goes to Redis is what a worker needs to generate: never where results go."""
    async with open_runtime(LoadedSettings(make_settings(tmp_path), Secrets(), None)) as rt:
        target = {"token": "live-secret", "token_expires": time.time() + 600, "channel_id": 5}
        request = GenerationRequest("a lighthouse", width=64, height=64)
        job = await rt.service.submit(request, Requester(1, None, 5), target=target)
    payload = json.dumps(Task("fake", (job,), 60.0).payload())
    assert "live-secret" not in payload and "token" not in payload
