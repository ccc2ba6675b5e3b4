"""The watchdog's decision in the store: which jobs are overdue, and settling them as failed
(the scaled mode's dispatcher calls the same). Collected again on PostgreSQL."""

from __future__ import annotations

from bot.jobs import Job, JobStatus
from bot.runtime import Runtime
from bot.scheduler import Capacity
from bot.store import SqlJobStore
from bot.watchdog import settle_overdue
from tests.bot.helpers import submit
from tests.bot.test_store import usage


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def started(rt: Runtime, store: SqlJobStore, user: int, origin: str = "discord") -> Job:
    await submit(rt, user, origin=origin)
    capacity = Capacity({"fake": 5}, {}, max_running_per_user=5, max_batch={})
    (job,) = await store.claim(origin, capacity)
    return job


async def test_a_job_is_overdue_only_past_its_limit_and_the_grace(runtime: Runtime):
    clock = Clock()
    store = SqlJobStore(runtime.db, clock)
    job = await started(runtime, store, 7)
    clock.now += job.timeout_seconds + 59
    assert await store.overdue(60) == []
    clock.now += 2
    assert [overdue.job_id for overdue in await store.overdue(60)] == [job.job_id]


async def test_overdue_jobs_of_any_origin_fail_once_with_a_refund(runtime: Runtime):
    clock = Clock()
    store = SqlJobStore(runtime.db, clock)
    ours = await started(runtime, store, 7)
    console = await started(runtime, store, 8, origin="console")
    clock.now += 30
    fresh = await started(runtime, store, 9)
    clock.now += ours.timeout_seconds - 29  # one second past the first two's limit
    settled = await settle_overdue(store, grace=0)
    assert [job.job_id for job in settled] == [ours.job_id, console.job_id]
    for job, user in ((ours, 7), (console, 8)):
        failed = await store.get(job.job_id)
        assert failed is not None and failed.status is JobStatus.FAILED
        assert f"{job.timeout_seconds:g}-second limit" in (failed.error or "")
        assert not failed.delivered  # its worker tells the member
        assert await usage(runtime, user) == 0
    still = await store.get(fresh.job_id)
    assert still is not None and still.status is JobStatus.RUNNING
    assert await settle_overdue(store, grace=0) == []


async def test_an_overdue_job_its_member_cancelled_ends_cancelled(runtime: Runtime):
    clock = Clock()
    store = SqlJobStore(runtime.db, clock)
    job = await started(runtime, store, 7)
    await store.cancel(job.job_id, 7)
    clock.now += job.timeout_seconds + 61
    assert len(await settle_overdue(store)) == 1
    cancelled = await store.get(job.job_id)
    assert cancelled is not None and cancelled.status is JobStatus.CANCELLED
    assert await usage(runtime, 7) == 0


async def test_a_job_that_ended_since_is_left_alone(runtime: Runtime):
    clock = Clock()
    store = SqlJobStore(runtime.db, clock)
    job = await started(runtime, store, 7)
    await store.fail(job, "too slow", retry_after=0)  # back in the queue for its next attempt
    clock.now += job.timeout_seconds + 61
    assert await settle_overdue(store) == []
    queued = await store.get(job.job_id)
    assert queued is not None and queued.status is JobStatus.QUEUED
