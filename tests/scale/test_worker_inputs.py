"""A GPU worker gets a task's input images (the init image, the mask, an edit's further
images, reference and control images) exactly as stored, in this process on a real Redis."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from redis.asyncio import Redis
from saq.job import Status

from bot.jobs import Job, JobStatus, NewJob
from bot.providers import Providers
from bot.scale import gpu
from bot.scale.transport import TASK_FUNCTION, Task
from bot.settings import Secrets, Settings
from engine import GenerationRequest
from tests.bot.test_input_storage import (
    CONTROL,
    EXTRAS,
    INIT,
    MASK,
    REFERENCES,
    edit_job,
    guided_job,
)
from tests.fakes.providers import FakeProvider
from tests.scale.harness import scaled_raw, until
from tests.scale.servers import RedisServer

pytestmark = pytest.mark.scale


@pytest.fixture
async def redis(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client: Redis = Redis.from_url(redis_server.url)
    try:
        yield client
    finally:
        await client.aclose()


def running(new_request_job_id: int = 5, new: NewJob | None = None) -> Job:
    new = new or edit_job()
    return Job(
        job_id=new_request_job_id,
        user_id=7,
        guild_id=None,
        channel_id=None,
        origin="discord",
        provider="fake",
        model="fake-v1",
        batch_key="",
        request=new.request,
        target={},
        status=JobStatus.RUNNING,
        attempt=1,
        max_attempts=3,
        timeout_seconds=60.0,
        cost=1,
        cancel_requested=False,
        error=None,
        created_at=0.0,
        started_at=0.0,
        finished_at=None,
        delivered=False,
    )


async def test_the_worker_gets_the_mask_and_extra_images(tmp_path: Path, redis: Redis) -> None:
    [request] = await run_on_worker(tmp_path, redis, running())
    assert request.init_image == INIT and request.mask_image == MASK
    assert request.extra_images == EXTRAS


async def test_the_worker_gets_the_reference_and_control_images(
    tmp_path: Path, redis: Redis
) -> None:
    [request] = await run_on_worker(tmp_path, redis, running(new=guided_job()))
    assert request == guided_job().request
    assert request.reference_images == REFERENCES and request.control_image == CONTROL


async def run_on_worker(tmp_path: Path, redis: Redis, job: Job) -> list[GenerationRequest]:
    """The requests the fake provider got from a real worker running ``job``'s task."""
    raw = scaled_raw(tmp_path, providers={"fake": {"steps": 1, "inpaint": ["fake-v1"]}})
    settings = Settings.model_validate(raw)
    providers = Providers.build(settings, Secrets())
    await providers.start()
    runner = gpu.TaskRunner(providers, settings.scale)
    worker = gpu._saq_worker(redis, settings.scale, "fake", runner)
    task = Task("fake", (job,), 30.0)
    serving = asyncio.create_task(worker.start())
    try:

        async def registered() -> bool:
            return bool((await worker.queue.info())["workers"])

        await until(registered, 30, "the worker to register")
        await worker.queue.enqueue(
            TASK_FUNCTION, key=task.key, timeout=60, heartbeat=15, **task.payload()
        )

        async def finished() -> bool:
            job = await worker.queue.job(task.key)
            return job is not None and job.status in (Status.COMPLETE, Status.FAILED)

        await until(finished, 60, "the task to finish")
        done = await worker.queue.job(task.key)
        assert done is not None and done.status is Status.COMPLETE, done and done.error
        fake = providers.get("fake").provider
        assert isinstance(fake, FakeProvider)
        return list(fake.calls)
    finally:
        await worker.stop()
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await providers.close()
