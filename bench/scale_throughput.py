"""The scaled mode's own cost: jobs through PostgreSQL, the leader, saq on Redis and GPU worker
processes with an instant provider, against the embedded worker on the same jobs.

Prints jobs/s for a burst, and the time from submit to delivered for a lone job (p50/p95),
for the embedded mode and for the scaled mode with 1 and 4 workers. Needs Debian's
redis-server and postgresql (as the scaled tests do); starts them in temporary folders.

    .venv/bin/python bench/scale_throughput.py [--jobs 400]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parents[1]))

from bot.jobs import Requester
from bot.runtime import open_runtime
from bot.service import JobService
from bot.settings import LoadedSettings, Secrets, Settings
from engine import GenerationRequest
from tests.scale.harness import RecordingSink, deployment, scaled_raw
from tests.scale.servers import RedisServer, running_postgres

INSTANT = {"fake": {"steps": 1, "step_seconds": 0.0}}
DISPATCH = {"dispatch_seconds": 0.5}  # the default: how often the leader and clusters poll
USERS = 20


async def drain(sink: RecordingSink, count: int) -> None:
    while len(sink.delivered) < count:
        sink.changed.clear()
        await sink.changed.wait()


async def embedded(folder: Path, jobs: int) -> tuple[float, list[float]]:
    raw = scaled_raw(folder, providers=INSTANT)
    raw["scale"] = {"enabled": False}
    raw["providers"]["fake"]["concurrency"] = 4
    settings = Settings.model_validate(raw)
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as runtime:
        sink = RecordingSink()
        worker = runtime.worker(sink, origin="discord", progress_interval=1)
        await worker.start()
        try:
            return await measure(runtime.service, sink, jobs)
        finally:
            await worker.stop()


async def scaled(
    folder: Path, redis: str, dsn: str, workers: int, jobs: int
) -> tuple[float, list[float]]:
    async with deployment(folder, redis, dsn, providers=INSTANT, scale=DISPATCH) as deployed:
        cluster = await deployed.start_cluster()
        for _ in range(workers):
            deployed.start_worker()
        await deployed.wait_workers(workers)
        return await measure(cluster.runtime.service, cluster.sink, jobs)


async def measure(service: JobService, sink: RecordingSink, jobs: int) -> tuple[float, list[float]]:
    request = GenerationRequest(prompt="a cat", model="fake-v1", width=64, height=64, steps=1)

    async def submit(user: int) -> int:
        job = await service.submit(
            request, Requester(user_id=user), provider="fake", origin="discord"
        )
        return int(job.job_id)

    latencies = []
    for n in range(20):  # lone jobs: submit to delivered
        start = time.perf_counter()
        await submit(1000 + n)
        await asyncio.wait_for(drain(sink, n + 1), 60)
        latencies.append(time.perf_counter() - start)
    start = time.perf_counter()
    for n in range(jobs):
        await submit(n % USERS)
    await asyncio.wait_for(drain(sink, 20 + jobs), 600)
    return jobs / (time.perf_counter() - start), latencies


def row(name: str, rate: float, latencies: list[float]) -> str:
    p = statistics.quantiles(latencies, n=20)
    return (
        f"| {name} | {rate:,.0f} | {statistics.median(latencies) * 1000:.0f} | {p[18] * 1000:.0f} |"
    )


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=400)
    args = parser.parse_args()
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print(f"{args.jobs} jobs from {USERS} members, instant provider\n")
    print("| mode | jobs/s (burst) | submit→delivered p50 ms | p95 ms |")
    print("| --- | --- | --- | --- |")
    with tempfile.TemporaryDirectory() as tmp, running_postgres() as postgres:
        folder = Path(tmp)
        rate, latencies = await embedded(folder / "embedded", args.jobs)
        print(row("embedded (SQLite, 4 slots)", rate, latencies), flush=True)
        for workers in (1, 4):
            redis = RedisServer(folder / f"redis{workers}")
            redis.start()
            try:
                rate, latencies = await scaled(
                    folder / f"scaled{workers}",
                    redis.url,
                    postgres.new_database(),
                    workers,
                    args.jobs,
                )
            finally:
                redis.stop()
            print(row(f"scaled, {workers} worker process(es)", rate, latencies), flush=True)


if __name__ == "__main__":
    asyncio.run(main())
