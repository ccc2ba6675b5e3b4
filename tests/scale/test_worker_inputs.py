"""A GPU worker gets a task's input images (the init image, the mask, an edit's further
images, reference and control images) exactly as stored, in this process on a real Redis."""

from __future__ import annotations

import asyncio
import io
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from redis.asyncio import Redis
from saq.job import Status

from bot.control_maps import MAP_SIDE, map_path
from bot.jobs import Job, JobStatus, NewJob
from bot.providers import Providers
from bot.scale import gpu
from bot.scale.results import ResultReader
from bot.scale.transport import TASK_FUNCTION, Task
from bot.settings import Secrets, Settings
from engine import GenerationRequest
from engine.types import RunId
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
    [request], _ = await run_on_worker(tmp_path, redis, running())
    assert request.init_image == INIT and request.mask_image == MASK
    assert request.extra_images == EXTRAS


async def test_the_worker_gets_the_reference_and_control_images(
    tmp_path: Path, redis: Redis
) -> None:
    [request], _ = await run_on_worker(tmp_path, redis, running(new=guided_job()))
    assert request == guided_job().request
    assert request.reference_images == REFERENCES and request.control_image == CONTROL


async def test_the_control_map_comes_back_and_is_kept_beside_the_images(
    tmp_path: Path, redis: Redis
) -> None:
    drawn = Image.new("RGB", (640, 320), "white")
    buffer = io.BytesIO()
    drawn.save(buffer, "PNG")
    job = running(new=guided_job())
    _, result = await run_on_worker(tmp_path, redis, job, control_map=buffer.getvalue())
    [entry] = result["jobs"]
    assert len(entry["control_map"]) < len(buffer.getvalue())  # sent as the small preview
    reader = ResultReader(tmp_path / "results", None, 64 * 64)
    [image] = reader.store(job, f"{job.job_id}.{job.attempt}", entry)
    with Image.open(map_path(Path(image.path).parent, job.job_id)) as preview:
        assert preview.size == (MAP_SIDE, MAP_SIDE // 2)


async def run_on_worker(
    tmp_path: Path, redis: Redis, job: Job, **fake: Any
) -> tuple[list[GenerationRequest], dict[str, Any]]:
    """The requests the fake provider got from a real worker running ``job``'s task, and the
    task's result."""
    options = {"steps": 1, "inpaint": ["fake-v1"], **fake}
    raw = scaled_raw(tmp_path, providers={"fake": options})
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
        provider = providers.get("fake").provider
        assert isinstance(provider, FakeProvider) and isinstance(done.result, dict)
        return list(provider.calls), done.result
    finally:
        await worker.stop()
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await providers.close()


async def test_the_worker_tells_the_provider_which_job_and_attempt_it_runs(
    tmp_path: Path, redis: Redis
) -> None:
    job = running(new_request_job_id=9)
    [request], _ = await run_on_worker(tmp_path, redis, job)
    assert request.run == RunId(9, job.attempt)
