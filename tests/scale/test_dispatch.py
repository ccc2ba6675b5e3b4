"""The scaled mode's job path on real servers: Postgres holds the jobs, saq on Redis carries them
to GPU worker processes, the leader settles them, the clusters deliver them once."""

from __future__ import annotations

import asyncio

import pytest

from bot.jobs import JobStatus
from tests.scale.harness import Deploy, Deployment, is_png, until

pytestmark = pytest.mark.scale


async def finished(deployed: Deployment, job_ids: list[int]) -> bool:
    store = deployed.clusters[0].runtime.store
    for job_id in job_ids:
        job = await store.get(job_id)
        if job is None or not job.status.terminal or not job.delivered:
            return False
    return True


async def quota_drift(deployed: Deployment, job_ids: list[int]) -> dict[int, int]:
    """Per user, what the ledger charged minus what succeeded jobs cost (0: no drift)."""
    runtime = deployed.clusters[0].runtime
    expected: dict[int, int] = {}
    for job_id in job_ids:
        job = await runtime.store.get(job_id)
        assert job is not None
        expected.setdefault(job.user_id, 0)
        if job.status is JobStatus.SUCCEEDED:
            expected[job.user_id] += job.cost
    rows = await runtime.db.fetchall(
        "SELECT user_id, COALESCE(SUM(units), 0) AS units FROM quota_ledger GROUP BY user_id"
    )
    charged = {int(row["user_id"]): int(row["units"]) for row in rows}
    return {user: charged.get(user, 0) - cost for user, cost in expected.items()}


async def test_jobs_run_on_gpu_workers_and_are_delivered_once(deploy: Deploy) -> None:
    # Steps slow enough for the cluster to see progress between them.
    async with deploy(providers={"fake": {"steps": 3, "step_seconds": 0.3}}) as deployed:
        cluster = await deployed.start_cluster()
        deployed.start_worker()
        deployed.start_worker()
        await deployed.wait_workers(2)
        jobs = [await deployed.submit(cluster, user_id=user) for user in (1, 2, 3) for _ in "ab"]
        ids = [job.job_id for job in jobs]
        await until(lambda: finished(deployed, ids), 60, "every job to finish")
        for job_id in ids:
            job = await cluster.runtime.store.get(job_id)
            assert job is not None and job.status is JobStatus.SUCCEEDED, job
            assert cluster.sink.delivered[job_id] == 1
            images = cluster.sink.images[job_id]
            assert len(images) == 1 and is_png(images[0].path)
        assert any(cluster.sink.progress_seen.values()), "no progress reached the cluster"
        assert await quota_drift(deployed, ids) == {1: 0, 2: 0, 3: 0}


async def test_large_results_travel_through_the_blob_folder(deploy: Deploy) -> None:
    # No sweeps here: saq's sweeper can re-run a task caught between its dequeue and its
    # "active" mark, whose second result (and blob) the fence then drops.
    async with deploy(scale={"inline_result_bytes": 0, "sweep_seconds": 600}) as deployed:
        cluster = await deployed.start_cluster()
        deployed.start_worker()
        await deployed.wait_workers(1)
        job = await deployed.submit(cluster, user_id=7)
        await until(lambda: finished(deployed, [job.job_id]), 30, "the job to finish")
        stored = await cluster.runtime.store.images(job.job_id)
        assert is_png(stored[0].path)
        blobs = deployed.settings.scale.blob_dir
        assert blobs is not None and not list(blobs.iterdir()), "the blob was not cleaned up"


async def test_jobs_wait_in_postgres_while_no_worker_is_up(deploy: Deploy) -> None:
    async with deploy() as deployed:
        cluster = await deployed.start_cluster()
        job = await deployed.submit(cluster, user_id=3)
        await asyncio.sleep(1.0)
        stored = await cluster.runtime.store.get(job.job_id)
        assert stored is not None and stored.status is JobStatus.QUEUED  # no slot: not released
        deployed.start_worker()
        await until(lambda: finished(deployed, [job.job_id]), 30, "the job to finish")
