"""Queue throughput: enqueue with quota reservation, and the scheduler's pick at growing queue
lengths, on SQLite in WAL mode. Run: python bench/queue_throughput.py"""

from __future__ import annotations

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
from bot.settings import LoadedSettings, Secrets, Settings
from engine import GenerationRequest

USERS = 1000
SIZES = (100, 1000, 10_000)
PICKS = 200


def settings(folder: Path) -> Settings:
    return Settings.model_validate(
        {
            "storage": {"data_dir": str(folder)},
            "queue": {"max_queued_per_user": 100},
            "quota": {"daily_units": 10_000},
            "providers": {
                "fake": {"kind": "tests.fakes.providers:fake_provider", "concurrency": 10**6}
            },
        }
    )


async def fill(rt, count: int, start: int) -> float:
    """Enqueue ``count`` jobs round the users; returns jobs per second."""
    began = time.perf_counter()
    for i in range(start, start + count):
        request = GenerationRequest(f"prompt {i}", width=512, height=512, steps=20)
        await rt.service.submit(request, Requester(i % USERS, 1, 1))
    return count / (time.perf_counter() - began)


async def pick_times(rt) -> list[float]:
    times = []
    for _ in range(PICKS):
        began = time.perf_counter()
        per_provider, per_user = await rt.store.running_counts()
        capacity = rt.providers.capacity(per_provider, per_user, 10**6)
        batch = await rt.store.claim("discord", capacity)
        times.append(time.perf_counter() - began)
        for job in batch:
            await rt.store.requeue(job)
    return times


async def main() -> None:
    print(f"# queue benchmark, {platform.machine()}, Python {platform.python_version()}")
    print("| queued jobs | enqueue+reserve jobs/s | pick p50 ms | pick p95 ms |")
    print("| ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as folder:
        loaded = LoadedSettings(settings(Path(folder)), Secrets(), None)
        async with open_runtime(loaded) as rt:
            queued = 0
            for size in SIZES:
                rate = await fill(rt, size - queued, queued)
                queued = size
                times = sorted(await pick_times(rt))
                p50 = statistics.median(times) * 1000
                p95 = times[int(len(times) * 0.95)] * 1000
                print(f"| {size} | {rate:.0f} | {p50:.2f} | {p95:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
