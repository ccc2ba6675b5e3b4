"""Fairness and cancelling in the scaled mode: the scheduler keeps the embedded mode's policy
(round-robin across users, releases only into free worker slots), and a member's cancel works
while the job waits in Postgres and while a GPU worker runs it."""

from __future__ import annotations

import pytest

from bot.jobs import Job, JobStatus
from tests.scale.harness import Deploy, Deployment, until
from tests.scale.test_dispatch import finished, quota_drift

pytestmark = pytest.mark.scale


async def status_of(deployed: Deployment, job_id: int) -> JobStatus:
    job = await deployed.clusters[0].runtime.store.get(job_id)
    assert job is not None
    return job.status


async def test_light_users_start_at_the_next_free_slot(deploy: Deploy) -> None:
    async with deploy(
        queue={"max_running_per_user": 1},
        providers={"fake": {"steps": 3, "step_seconds": 0.15}},
    ) as deployed:
        cluster = await deployed.start_cluster()
        deployed.start_worker()
        await deployed.wait_workers(1)
        heavy = [await deployed.submit(cluster, user_id=1) for _ in range(30)]

        async def heavy_started() -> bool:
            return await status_of(deployed, heavy[0].job_id) is JobStatus.RUNNING

        await until(heavy_started, 30, "the heavy user's first job to start")
        light = [await deployed.submit(cluster, user_id=user) for user in range(2, 7)]
        ids = [job.job_id for job in heavy + light]
        await until(lambda: finished(deployed, ids), 120, "every job to finish")
        jobs = [await cluster.runtime.store.get(job_id) for job_id in ids]
        order = sorted((job for job in jobs if job is not None), key=_started)
        positions = [index for index, job in enumerate(order) if job.user_id != 1]
        heavy_before = sum(1 for job in order[: positions[0]] if job.user_id == 1)
        # Only jobs released before the light users asked may run first: one slot, so one.
        assert heavy_before <= 1, [job.user_id for job in order]
        assert positions == list(range(positions[0], positions[0] + 5)), positions
        assert set((await quota_drift(deployed, ids)).values()) == {0}


def _started(job: Job) -> float:
    assert job.started_at is not None
    return job.started_at


async def test_cancel_while_waiting_and_while_running(deploy: Deploy) -> None:
    async with deploy(
        providers={"fake": {"steps": 50, "step_seconds": 0.1}},
    ) as deployed:
        cluster = await deployed.start_cluster()
        service = cluster.runtime.service
        deployed.start_worker()
        await deployed.wait_workers(1)
        running = await deployed.submit(cluster, user_id=1)
        waiting = await deployed.submit(cluster, user_id=2)

        async def progressing() -> bool:
            return bool(cluster.sink.progress_seen.get(running.job_id))

        await until(progressing, 30, "the first job to report progress on the worker")
        assert await status_of(deployed, waiting.job_id) is JobStatus.QUEUED  # no free slot
        assert await service.cancel(waiting.job_id, user_id=2) is JobStatus.CANCELLED
        assert await service.cancel(running.job_id, user_id=1) is JobStatus.RUNNING
        ids = [running.job_id, waiting.job_id]
        await until(lambda: finished(deployed, ids), 30, "both jobs to end")
        for job_id in ids:
            assert await status_of(deployed, job_id) is JobStatus.CANCELLED
            assert cluster.sink.delivered[job_id] == 1
        never_ran = await cluster.runtime.store.get(waiting.job_id)
        assert never_ran is not None and never_ran.attempt == 0
        assert await quota_drift(deployed, ids) == {1: 0, 2: 0}
        # The worker stopped the cancelled job and is free for the next one.
        after = await deployed.submit(cluster, user_id=3)
        await until(lambda: finished(deployed, [after.job_id]), 30, "a job after the cancel")
        assert await status_of(deployed, after.job_id) is JobStatus.SUCCEEDED
