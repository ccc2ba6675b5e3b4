"""The leader's watchdog on real servers: a job still running past its timeout plus the grace
runs again, whatever Redis says about its task."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from saq.job import Status

from bot.jobs import JobStatus
from bot.scale.transport import TaskStatus
from tests.scale.harness import Deploy, until
from tests.scale.test_dispatch import finished, quota_drift

pytestmark = pytest.mark.scale


async def test_a_task_stuck_at_active_is_run_again(deploy: Deploy) -> None:
    async with deploy(
        queue={"job_timeout_seconds": 3},
        scale={"watchdog_grace_seconds": 1},
        providers={"fake": {"steps": 3, "step_seconds": 0.3}},
    ) as deployed:
        cluster = await deployed.start_cluster()
        transport = cluster.runtime.transport
        assert transport is not None
        worker = deployed.start_worker()
        await deployed.wait_workers(1)
        job = await deployed.submit(cluster, user_id=5)

        async def active() -> bool:
            state = (await transport.states([job.job_id]))[job.job_id]
            return state.status is TaskStatus.ACTIVE

        await until(active, 30, "the task to start")
        deployed.kill_worker(worker)
        # What the black-box run found: the task's record reads "active", saq's active list
        # no longer holds it (so no sweep touches it), and its heartbeat stays fresh.
        state = (await transport.states([job.job_id]))[job.job_id]
        queue = transport.queue("fake")
        record = await queue.job(state.key)
        assert record is not None
        await queue.redis.lrem(queue.namespace("active"), 0, record.id)
        await queue.redis.zrem(queue.namespace("incomplete"), record.id)

        async def beat_forever() -> None:
            while True:
                await queue.update(record, status=Status.ACTIVE)
                await asyncio.sleep(0.2)

        beating = asyncio.create_task(beat_forever())
        try:
            deployed.start_worker()
            await until(lambda: finished(deployed, [job.job_id]), 60, "the stuck job to finish")
        finally:
            beating.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beating
        done = await cluster.runtime.store.get(job.job_id)
        assert done is not None and done.status is JobStatus.SUCCEEDED, done
        assert done.attempt == 2
        assert cluster.sink.delivered[job.job_id] == 1
        assert await quota_drift(deployed, [job.job_id]) == {5: 0}
