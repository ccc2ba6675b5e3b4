from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.jobs import Job, JobStatus, StoredImage
from bot.runtime import Runtime, open_runtime
from bot.settings import LoadedSettings, Secrets
from bot.settling import INTERNAL_ERROR
from bot.worker import Worker
from engine import Progress
from tests.bot.helpers import submit
from tests.conftest import FAKE_KIND, make_settings
from tests.fakes.providers import FakeProvider, colour_of


class RecordingSink:
    def __init__(self, fail_first: int = 0) -> None:
        self.delivered: list[tuple[Job, list[StoredImage]]] = []
        self.progress_reports: list[tuple[int, Progress]] = []
        self.fail_first = fail_first
        self.changed = asyncio.Event()

    async def progress(self, job: Job, progress: Progress) -> None:
        self.progress_reports.append((job.job_id, progress))

    async def deliver(self, job: Job, images: Sequence[StoredImage]) -> str | None:
        if self.fail_first:
            self.fail_first -= 1
            raise ConnectionError("Discord is down")
        self.delivered.append((job, list(images)))
        self.changed.set()
        return f"message-{job.job_id}"

    async def wait_for(self, count: int, seconds: float = 10) -> None:
        async with asyncio.timeout(seconds):
            while len(self.delivered) < count:
                self.changed.clear()
                await self.changed.wait()


async def open_with(tmp_path: Path, provider: dict[str, Any] | None = None, **sections: Any):
    providers = {"fake": {"kind": FAKE_KIND, **(provider or {})}}
    settings = make_settings(tmp_path, providers=providers, **sections)
    return open_runtime(LoadedSettings(settings, Secrets(), None))


def fake(rt: Runtime) -> FakeProvider:
    provider = rt.providers.get("fake").provider
    assert isinstance(provider, FakeProvider)
    return provider


@asynccontextmanager
async def working(
    rt: Runtime, sink: RecordingSink | None = None, **options: Any
) -> AsyncIterator[RecordingSink]:
    """A worker for the test's duration; stopped (with its default grace) on the way out."""
    sink = sink or RecordingSink()
    worker = rt.worker(sink, origin="discord", **options)
    await worker.start()
    try:
        yield sink
    finally:
        await worker.stop()


@pytest.fixture
async def running(runtime: Runtime) -> AsyncIterator[tuple[Runtime, Worker, RecordingSink]]:
    sink = RecordingSink()
    worker = runtime.worker(sink, origin="discord", progress_interval=0)
    await worker.start()
    yield runtime, worker, sink
    await worker.stop(grace=1)


async def used(rt: Runtime, user: int) -> int:
    row = await rt.db.fetchone(
        "SELECT COALESCE(SUM(units), 0) FROM quota_ledger WHERE user_id = ?", (user,)
    )
    assert row is not None
    return int(row[0])


async def test_a_job_runs_is_stored_and_delivered_once(running):
    rt, worker, sink = running
    job = await submit(rt, 7, count=2, seed=1234)
    await sink.wait_for(1)
    delivered, images = sink.delivered[0]
    assert delivered.job_id == job.job_id and delivered.status is JobStatus.SUCCEEDED
    assert [image.seed for image in images] == [1234, 1235]
    with Image.open(images[1].path) as png:
        assert png.getpixel((0, 0)) == colour_of(1235)
        assert "Seed: 1235" in png.info["parameters"]
        assert png.info["parameters"].startswith("a lighthouse at dusk")
    assert await used(rt, 7) == 2
    await worker.stop()
    stored = await rt.store.get(job.job_id)
    assert stored is not None and stored.delivered
    await asyncio.sleep(0.2)
    assert len(sink.delivered) == 1


async def test_progress_reaches_the_sink_throttled(tmp_path: Path):
    async with (
        await open_with(tmp_path, {"steps": 10, "step_seconds": 0.03}) as rt,
        working(rt, progress_interval=0.1) as sink,
    ):
        await submit(rt, 7)
        await sink.wait_for(1)
    steps = [progress.step for _, progress in sink.progress_reports]
    assert 2 <= len(steps) <= 5
    assert steps == sorted(steps) and all(p.total == 10 for _, p in sink.progress_reports)


async def test_the_same_seed_gives_the_same_image(running):
    rt, _, sink = running
    await submit(rt, 7, seed=99)
    await submit(rt, 8, seed=99)
    await sink.wait_for(2)
    pixels = []
    for _, images in sink.delivered:
        with Image.open(images[0].path) as png:
            pixels.append(png.tobytes())
    assert pixels[0] == pixels[1]


async def test_a_provider_error_fails_the_job_and_refunds(tmp_path: Path):
    async with await open_with(tmp_path, {"fail": "broken"}) as rt, working(rt) as sink:
        job = await submit(rt, 7)
        await sink.wait_for(1)
        done, _ = sink.delivered[0]
        assert done.status is JobStatus.FAILED
        assert done.error == "The fake provider rejected it."
        assert await used(rt, 7) == 0
        assert len(fake(rt).calls) == 1
        assert job.job_id == done.job_id


async def test_an_unexpected_error_reaches_the_member_as_a_plain_message(tmp_path: Path):
    async with await open_with(tmp_path, {"fail": "crash"}) as rt, working(rt) as sink:
        await submit(rt, 7)
        await sink.wait_for(1)
        assert sink.delivered[0][0].error == INTERNAL_ERROR
        assert "Traceback" not in INTERNAL_ERROR


async def test_a_transient_error_is_retried_then_succeeds(tmp_path: Path):
    async with (
        await open_with(tmp_path, {"fail": "ratelimited", "fail_times": 2}) as rt,
        working(rt) as sink,
    ):
        await submit(rt, 7)
        await sink.wait_for(1)
        done, images = sink.delivered[0]
        assert done.status is JobStatus.SUCCEEDED and done.attempt == 3
        assert len(images) == 1
        assert len(fake(rt).calls) == 3
        assert await used(rt, 7) == 1


async def test_a_transient_error_fails_once_attempts_are_spent(tmp_path: Path):
    async with await open_with(tmp_path, {"fail": "unavailable"}) as rt, working(rt) as sink:
        await submit(rt, 7)
        await sink.wait_for(1)
        assert sink.delivered[0][0].status is JobStatus.FAILED
        assert len(fake(rt).calls) == 3
        assert await used(rt, 7) == 0


async def test_a_job_past_its_timeout_fails_and_is_refunded(tmp_path: Path):
    async with await open_with(
        tmp_path, {"steps": 50, "step_seconds": 0.05}, queue={"job_timeout_seconds": 0.2}
    ) as rt:
        async with working(rt) as sink:
            await submit(rt, 7)
            await sink.wait_for(1)
        done, _ = sink.delivered[0]
        assert done.status is JobStatus.FAILED
        assert "0.2-second limit" in (done.error or "")
        assert await used(rt, 7) == 0


async def test_cancel_while_queued(tmp_path: Path):
    async with await open_with(tmp_path) as rt:
        sink = RecordingSink()
        job = await submit(rt, 7)
        assert await rt.service.cancel(job.job_id, 7) is JobStatus.CANCELLED
        worker = rt.worker(sink, origin="discord")
        await worker.start()
        await sink.wait_for(1)
        await worker.stop()
        assert sink.delivered[0][0].status is JobStatus.CANCELLED
        assert fake(rt).calls == []
        assert await used(rt, 7) == 0


async def test_cancel_while_running(running):
    rt, _, sink = running
    fake(rt).release = asyncio.Event()
    job = await submit(rt, 7)
    await asyncio.wait_for(fake(rt).started.wait(), 5)
    assert await rt.service.cancel(job.job_id, 7) is JobStatus.RUNNING
    fake(rt).release.set()
    await sink.wait_for(1)
    assert sink.delivered[0][0].status is JobStatus.CANCELLED
    assert await used(rt, 7) == 0


async def test_cancel_reaches_a_provider_that_does_not_listen(running, monkeypatch):
    rt, _, sink = running
    monkeypatch.setattr("bot.worker.CANCEL_GRACE", 0.05)
    fake(rt).release = asyncio.Event()  # never set: the provider hangs
    job = await submit(rt, 7)
    await asyncio.wait_for(fake(rt).started.wait(), 5)
    await rt.service.cancel(job.job_id, 7)
    await sink.wait_for(1)
    assert sink.delivered[0][0].status is JobStatus.CANCELLED


async def test_shutdown_waits_then_puts_running_jobs_back(tmp_path: Path):
    async with await open_with(tmp_path) as rt:
        sink = RecordingSink()
        worker = rt.worker(sink, origin="discord")
        await worker.start()
        fake(rt).release = asyncio.Event()
        job = await submit(rt, 7)
        await asyncio.wait_for(fake(rt).started.wait(), 5)
        await worker.stop(grace=0.1)
        stored = await rt.store.get(job.job_id)
        assert stored is not None and stored.status is JobStatus.QUEUED and stored.attempt == 0
        assert sink.delivered == []
        assert await used(rt, 7) == 1

        fake(rt).release.set()
        worker = rt.worker(sink, origin="discord")
        await worker.start()
        await sink.wait_for(1)
        await worker.stop()
        assert sink.delivered[0][0].status is JobStatus.SUCCEEDED


async def test_a_failed_delivery_is_tried_again(tmp_path: Path):
    async with await open_with(tmp_path) as rt, working(rt, RecordingSink(fail_first=1)) as sink:
        await submit(rt, 7)
        await sink.wait_for(1)
        assert len(sink.delivered) == 1


async def test_after_a_crash_running_jobs_run_again_and_are_delivered_once(tmp_path: Path):
    settings = make_settings(tmp_path)
    loaded = LoadedSettings(settings, Secrets(), None)
    async with open_runtime(loaded) as rt:
        first = await submit(rt, 7)
        second = await submit(rt, 8)
        per_provider, per_user = await rt.store.running_counts()
        claimed = await rt.store.claim("discord", rt.providers.capacity(per_provider, per_user, 1))
        assert [job.job_id for job in claimed] == [first.job_id]
        # The process dies here: the job is left running, nothing is finished or delivered.

    async with open_runtime(loaded) as rt:
        async with working(rt) as sink:
            await sink.wait_for(2)
        assert sorted(job.job_id for job, _ in sink.delivered) == [first.job_id, second.job_id]
        assert all(job.status is JobStatus.SUCCEEDED for job, _ in sink.delivered)
        by_id = {job.job_id: job for job, _ in sink.delivered}
        assert by_id[first.job_id].attempt == 2
        assert await used(rt, 7) == 1 and await used(rt, 8) == 1

    async with open_runtime(loaded) as rt:  # a further restart delivers nothing again
        async with working(rt) as sink:
            await asyncio.sleep(0.2)
        assert sink.delivered == []


async def test_a_result_stored_but_not_delivered_is_delivered_after_restart(tmp_path: Path):
    loaded = LoadedSettings(make_settings(tmp_path), Secrets(), None)
    async with open_runtime(loaded) as rt:
        sink = RecordingSink(fail_first=10**6)  # the process dies before any delivery lands
        worker = rt.worker(sink, origin="discord")
        await worker.start()
        job = await submit(rt, 7)
        for _ in range(100):
            stored = await rt.store.get(job.job_id)
            if stored is not None and stored.status is JobStatus.SUCCEEDED:
                break
            await asyncio.sleep(0.02)
        await worker.stop()
    async with open_runtime(loaded) as rt:
        async with working(rt) as sink:
            await sink.wait_for(1)
        assert sink.delivered[0][0].job_id == job.job_id
        assert len(sink.delivered[0][1]) == 1


async def test_compatible_jobs_run_as_one_batch(tmp_path: Path):
    async with await open_with(tmp_path, {"max_batch": 4}, queue={"max_running_per_user": 4}) as rt:
        for user in range(4):
            await submit(rt, user)
        async with working(rt) as sink:
            await sink.wait_for(4)
        assert fake(rt).batches == [4]


async def test_a_cancel_flagged_in_the_store_reaches_the_running_job(running):
    rt, worker, sink = running
    fake(rt).release = asyncio.Event()
    job = await submit(rt, 7)
    await asyncio.wait_for(fake(rt).started.wait(), 5)
    await rt.store.cancel(job.job_id, 7)  # as another process would: no in-process event
    async with asyncio.timeout(5):
        while not worker._tokens[job.job_id].cancelled:  # noqa: ASYNC110 (a thread-safe flag)
            await asyncio.sleep(0.01)
    fake(rt).release.set()
    await sink.wait_for(1)
    assert sink.delivered[0][0].status is JobStatus.CANCELLED
