"""A GPU worker's progress reports against its tasks' ends, in this process on a real Redis: the
progress path must never put a finished task back to "active", and must end with its task."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis
from saq.job import Status

from bot.providers import Providers
from bot.scale import gpu
from bot.scale.transport import TASK_FUNCTION
from bot.settings import Secrets, Settings
from engine import GenerationRequest
from tests.scale.harness import scaled_raw, until
from tests.scale.servers import RedisServer

pytestmark = pytest.mark.scale

TASKS = 200


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


def _reporter_loops() -> list[asyncio.Task[Any]]:
    return [
        task
        for task in asyncio.all_tasks()
        if getattr(task.get_coro(), "__qualname__", "").startswith("_Reporter.")
    ]


async def test_progress_never_reopens_a_finished_task(tmp_path: Path, redis: Redis) -> None:
    # Progress from the provider's thread, the last step's report landing as the task ends;
    # the first step's lands while the progress loop waits for a change (after 0.25 s).
    raw = scaled_raw(
        tmp_path,
        scale={"worker_concurrency": 16, "sweep_seconds": 600},
        providers={"fake": {"steps": 2, "step_seconds": 0.15, "threaded": True}},
    )
    settings = Settings.model_validate(raw)
    providers = Providers.build(settings, Secrets())
    await providers.start()
    runner = gpu.TaskRunner(providers, settings.scale)
    worker = gpu._saq_worker(redis, settings.scale, "fake", runner)
    queue = worker.queue
    request = GenerationRequest(prompt="a cat", model="fake-v1", width=8, height=8, steps=2, seed=1)
    payload = {"request": request.to_dict(), "init_image": None}
    keys = [f"{index}.1" for index in range(TASKS)]
    serving = asyncio.create_task(worker.start())
    try:

        async def registered() -> bool:
            return bool((await queue.info())["workers"])

        await until(registered, 30, "the worker to register")  # after its first sweep
        for index, key in enumerate(keys):
            jobs = [{"job_id": index, "attempt": 1, **payload}]
            await queue.enqueue(
                TASK_FUNCTION,
                key=key,
                timeout=60,
                heartbeat=15,
                provider="fake",
                limit=30,
                jobs=jobs,
            )

        async def all_finished() -> bool:
            found = await queue.jobs(keys)
            return all(job is not None and job.status is Status.COMPLETE for job in found)

        await until(all_finished, 60, f"{TASKS} tasks to complete")
        assert not _reporter_loops(), "a progress loop outlived its task"
        touched = {job.key: job.touched for job in await queue.jobs(keys) if job is not None}
        await asyncio.sleep(2.5)  # longer than a progress loop's heartbeat period
        after = await queue.jobs(keys)
        reopened = [job.key for job in after if job is None or job.status is not Status.COMPLETE]
        assert not reopened, f"finished tasks went back to active: {reopened}"
        beaten = [job.key for job in after if job is not None and job.touched != touched[job.key]]
        assert not beaten, f"finished tasks kept their heartbeat: {beaten}"
    finally:
        await worker.stop()
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await providers.close()
