"""Faults of the scaled mode on real servers: GPU workers killed mid-job, the scheduler leader
killed, Redis restarted or down. Nothing may be lost, posted twice, or charged wrongly."""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import pytest

from bot.jobs import JobStatus
from tests.scale.harness import Deploy, Deployment, until
from tests.scale.servers import RedisServer
from tests.scale.test_dispatch import finished, quota_drift

pytestmark = pytest.mark.scale


async def check_outcome(deployed: Deployment, ids: list[int]) -> int:
    """Every job succeeded and was delivered once, the ledger matches; returns how many jobs
    needed more than one attempt."""
    cluster = deployed.clusters[0]
    reruns = 0
    for job_id in ids:
        job = await cluster.runtime.store.get(job_id)
        assert job is not None and job.status is JobStatus.SUCCEEDED, job
        assert sum(c.sink.delivered[job_id] for c in deployed.clusters) == 1, job_id
        reruns += job.attempt > 1
    drift = await quota_drift(deployed, ids)
    assert set(drift.values()) == {0}, drift
    return reruns


@pytest.mark.parametrize("at_once", [1, 3])
async def test_workers_killed_20_times_during_200_jobs(deploy: Deploy, at_once: int) -> None:
    async with deploy(
        providers={"fake": {"steps": 3, "step_seconds": 0.05}},
    ) as deployed:
        cluster = await deployed.start_cluster()
        for _ in range(3):
            deployed.start_worker()
        await deployed.wait_workers(3)
        ids = [
            (await deployed.submit(cluster, user_id=user)).job_id
            for _ in range(20)
            for user in range(1, 11)
        ]
        chooser = random.Random(at_once)
        kills = 0
        while kills < 20:
            await deployed.wait_workers(3)  # the replacements are up and taking work
            await asyncio.sleep(0.5)
            for victim in chooser.sample(deployed.workers, min(at_once, 20 - kills)):
                deployed.kill_worker(victim)
                deployed.start_worker()
                kills += 1
        await until(lambda: finished(deployed, ids), 240, "all 200 jobs to finish")
        reruns = await check_outcome(deployed, ids)
        assert reruns >= 1, "no kill hit a running job"
        print(f"{kills} kills ({at_once} at once): {reruns} job(s) ran again; 0 lost")


async def test_a_killed_leader_is_replaced(deploy: Deploy) -> None:
    async with deploy() as deployed:
        leader = deployed.start_scheduler()
        try:
            assert leader.stdout is not None
            assert (await asyncio.to_thread(leader.stdout.readline)).strip() == b"leading"
            cluster = await deployed.start_cluster()  # a candidate; delivers everything
            deployed.start_worker()
            await deployed.wait_workers(1)
            ids = [(await deployed.submit(cluster, user_id=u)).job_id for u in range(1, 21)]
            await until(lambda: _any_finished(deployed, ids), 30, "the leader to run jobs")
            assert not cluster.leading
            leader.kill()  # SIGKILL: its connection drops, and its advisory lock with it
            leader.wait(10)
            await until(lambda: _leading(deployed), 15, "the candidate to take over")
            await until(lambda: finished(deployed, ids), 90, "every job to finish")
            await check_outcome(deployed, ids)
        finally:
            if leader.poll() is None:
                leader.kill()
                leader.wait(10)


async def _leading(deployed: Deployment) -> bool:
    return deployed.clusters[0].leading


async def _any_finished(deployed: Deployment, ids: list[int]) -> bool:
    store = deployed.clusters[0].runtime.store
    for job_id in ids:
        job = await store.get(job_id)
        if job is not None and job.status.terminal:
            return True
    return False


@pytest.mark.parametrize("persisted", [True, False], ids=["restarted", "restarted-empty"])
async def test_jobs_survive_redis_going_down(
    deploy: Deploy, redis_server: RedisServer, persisted: bool
) -> None:
    async with deploy(
        providers={"fake": {"steps": 4, "step_seconds": 0.1}},
    ) as deployed:
        cluster = await deployed.start_cluster()
        deployed.start_worker()
        deployed.start_worker()
        await deployed.wait_workers(2)
        ids = [(await deployed.submit(cluster, user_id=u)).job_id for u in range(1, 11)]
        await until(lambda: _any_finished(deployed, ids), 30, "jobs to start finishing")
        redis_server.stop(kill=True)
        if not persisted:
            for leftover in redis_server.folder.glob("appendonly*"):
                _remove(leftover)
        # Redis is down: members can still ask; their jobs wait in Postgres.
        ids += [(await deployed.submit(cluster, user_id=u)).job_id for u in range(11, 16)]
        await asyncio.sleep(2)
        waiting = [await cluster.runtime.store.get(job_id) for job_id in ids[-5:]]
        assert all(job is not None and job.status is JobStatus.QUEUED for job in waiting)
        redis_server.start()
        await until(lambda: finished(deployed, ids), 120, "every job to finish after Redis")
        await check_outcome(deployed, ids)


def _remove(path: Path) -> None:
    if path.is_dir():
        for child in path.iterdir():
            child.unlink()
        path.rmdir()
    else:
        path.unlink()
