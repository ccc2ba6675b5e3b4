"""Several jobs of one command queued together: each within the queue limit and the quota,
the cooldown once, and all or none."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import CooldownActive, QueueLimitReached, QuotaExceeded
from bot.jobs import Job, Requester
from bot.runtime import Runtime, open_runtime
from bot.settings import LoadedSettings, Secrets
from bot.store import SqliteJobStore
from engine import GenerationRequest
from tests.conftest import make_settings

NOON = 1_780_000_000.0 - 1_780_000_000.0 % 86400 + 43200


async def submit_all(rt: Runtime, user: int, prompts: list[str]) -> list[Job]:
    batch = [
        (GenerationRequest(prompt, width=64, height=64), None, {"channel_id": 1000})
        for prompt in prompts
    ]
    return await rt.service.submit_all(batch, Requester(user, None, 1000))


async def queued(rt: Runtime) -> int:
    row = await rt.db.fetchone("SELECT COUNT(*) FROM jobs")
    assert row is not None
    return int(row[0])


async def spent(rt: Runtime, user: int) -> int:
    row = await rt.db.fetchone(
        "SELECT COALESCE(SUM(units), 0) FROM quota_ledger WHERE user_id = ?", (user,)
    )
    assert row is not None
    return int(row[0])


async def test_the_cooldown_applies_to_the_command_once(tmp_path: Path):
    settings = make_settings(tmp_path, quota={"cooldown_seconds": 30})
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as rt:
        clock = [NOON]
        rt.service.store = SqliteJobStore(rt.db, clock=lambda: clock[0])
        jobs = await submit_all(rt, 7, ["a red bird", "a blue bird", "a green bird"])
        assert [job.request.prompt for job in jobs] == ["a red bird", "a blue bird", "a green bird"]
        assert len({job.job_id for job in jobs}) == 3
        clock[0] += 10
        with pytest.raises(CooldownActive):
            await submit_all(rt, 7, ["again", "and again"])
        assert await queued(rt) == 3


async def test_past_the_queue_limit_none_is_queued(tmp_path: Path):
    settings = make_settings(tmp_path, queue={"max_queued_per_user": 3})
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as rt:
        await submit_all(rt, 7, ["one"])
        with pytest.raises(QueueLimitReached):
            await submit_all(rt, 7, ["two", "three", "four"])
        assert await queued(rt) == 1
        assert await spent(rt, 7) == (await rt.store.get(1)).cost  # type: ignore[union-attr]
        await submit_all(rt, 7, ["two", "three"])
        assert await queued(rt) == 3


async def test_past_the_quota_none_is_queued_or_charged(tmp_path: Path):
    settings = make_settings(tmp_path, quota={"daily_units": 2})
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as rt:
        with pytest.raises(QuotaExceeded):
            await submit_all(rt, 7, ["one", "two", "three"])
        assert await queued(rt) == 0 and await spent(rt, 7) == 0
        jobs = await submit_all(rt, 7, ["one", "two"])
        assert await spent(rt, 7) == sum(job.cost for job in jobs) == 2
