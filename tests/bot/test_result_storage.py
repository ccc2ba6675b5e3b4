"""Results that cannot be stored, jobs stuck past their limit, and a disk running out of room:
each job still ends once, refunded and told, and the queue keeps moving."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import shutil
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

from bot.freespace import MB
from bot.jobs import JobStatus
from bot.runtime import Runtime
from bot.settling import NOT_STORED
from bot.worker import Worker
from tests.bot.helpers import submit
from tests.bot.test_worker import RecordingSink, fake, open_with, used, working


@asynccontextmanager
async def watched(rt: Runtime, grace: float) -> AsyncIterator[RecordingSink]:
    """The runtime's worker with a short watchdog grace."""
    sink = RecordingSink()
    worker = Worker(
        rt.store,
        rt.providers,
        sink,
        rt.settings.queue,
        rt.settings.storage.results_path,
        origin="discord",
        overdue_grace=grace,
    )
    await worker.start()
    try:
        yield sink
    finally:
        await worker.stop(grace=1)


def disk_full(fd: int) -> None:
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


async def test_a_result_that_cannot_be_written_fails_that_job_alone(tmp_path: Path):
    async with await open_with(tmp_path, {"max_batch": 4}, queue={"max_running_per_user": 4}) as rt:
        jobs = [await submit(rt, user) for user in (1, 2, 3)]
        results = rt.settings.storage.results_path
        results.mkdir(parents=True)
        (results / str(jobs[1].job_id)).write_text("a file where the job's folder goes")
        async with working(rt) as sink:
            await sink.wait_for(3, seconds=5)
        assert fake(rt).batches == [3]
        delivered = {job.job_id: (job, images) for job, images in sink.delivered}
        broken, images = delivered[jobs[1].job_id]
        assert broken.status is JobStatus.FAILED and broken.error == NOT_STORED and images == []
        assert await used(rt, 2) == 0
        for user, job in ((1, jobs[0]), (3, jobs[2])):
            finished, images = delivered[job.job_id]
            assert finished.status is JobStatus.SUCCEEDED and len(images) == 1
            assert await asyncio.to_thread(Path(images[0].path).is_file)
            assert await used(rt, user) == 1


async def test_a_full_disk_fails_the_job_with_a_refund_and_the_next_job_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    async with await open_with(tmp_path) as rt, working(rt) as sink:
        monkeypatch.setattr(os, "fsync", disk_full)
        first = await submit(rt, 7, count=2)
        await sink.wait_for(1, seconds=5)
        monkeypatch.undo()
        second = await submit(rt, 7)
        await sink.wait_for(2, seconds=5)
        failed, images = sink.delivered[0]
        assert failed.job_id == first.job_id and failed.status is JobStatus.FAILED
        assert failed.error == NOT_STORED and images == []
        assert not (rt.settings.storage.results_path / str(first.job_id)).exists()
        done, images = sink.delivered[1]
        assert done.job_id == second.job_id and done.status is JobStatus.SUCCEEDED
        assert len(images) == 1
        assert await used(rt, 7) == 1


async def test_a_job_stuck_storing_its_result_is_failed_by_the_watchdog(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    stuck = threading.Event()
    release = threading.Event()
    fsync = os.fsync

    def hanging(fd: int) -> None:  # a write to a mount that stopped answering
        stuck.set()
        release.wait(30)
        fsync(fd)

    monkeypatch.setattr(os, "fsync", hanging)
    try:
        async with (
            await open_with(tmp_path, queue={"job_timeout_seconds": 0.2}) as rt,
            watched(rt, grace=0.2) as sink,
        ):
            job = await submit(rt, 7)
            await sink.wait_for(1, seconds=5)
            assert stuck.is_set()
            failed, images = sink.delivered[0]
            assert failed.job_id == job.job_id and failed.status is JobStatus.FAILED
            assert "0.2-second limit" in (failed.error or "") and images == []
            assert await used(rt, 7) == 0
            monkeypatch.undo()
            release.set()
            after = await submit(rt, 7)
            await sink.wait_for(2, seconds=5)
            assert sink.delivered[1][0].job_id == after.job_id
            assert sink.delivered[1][0].status is JobStatus.SUCCEEDED
    finally:
        release.set()


async def test_no_job_starts_while_space_is_short_and_work_resumes_by_itself(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
):
    free = {"bytes": 10 * MB}
    checks = threading.Semaphore(0)
    disk_usage = shutil.disk_usage

    def measured(path: Any) -> Any:
        checks.release()
        return disk_usage(path)._replace(free=free["bytes"])

    monkeypatch.setattr(shutil, "disk_usage", measured)
    caplog.set_level(logging.INFO, logger="bot.freespace")
    async with (
        await open_with(tmp_path, storage={"min_free_mb": 100}) as rt,
        working(rt) as sink,
    ):
        job = await submit(rt, 7)
        async with asyncio.timeout(5):
            for _ in range(10):  # ten claims refused for want of space
                while not checks.acquire(blocking=False):  # noqa: ASYNC110 (from a thread)
                    await asyncio.sleep(0.01)
        assert fake(rt).calls == []
        queued = await rt.store.get(job.job_id)
        assert queued is not None and queued.status is JobStatus.QUEUED
        free["bytes"] = 500 * MB
        await sink.wait_for(1, seconds=5)
    assert sink.delivered[0][0].status is JobStatus.SUCCEEDED
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "only 10 MB free" in warnings[0]
    assert "min_free_mb is 100" in warnings[0]
    assert any("starting jobs again" in r.getMessage() for r in caplog.records)
