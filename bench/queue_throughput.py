"""Queue throughput: enqueue with quota reservation (one request at a time, and CONCURRENT at
once as members' commands arrive together), the scheduler's pick at growing queue lengths,
and the process's memory, on SQLite in WAL mode. Run: python bench/queue_throughput.py"""

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
CONCURRENT = 50


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


async def fill(rt, count: int, start: int, together: int = 1) -> float:
    """Enqueue ``count`` jobs round the users, ``together`` at a time; jobs per second."""

    async def submit(i: int) -> None:
        request = GenerationRequest(f"prompt {i}", width=512, height=512, steps=20)
        await rt.service.submit(request, Requester(i % USERS, 1, 1))

    began = time.perf_counter()
    for first in range(start, start + count, together):
        last = min(first + together, start + count)
        await asyncio.gather(*(submit(i) for i in range(first, last)))
    return count / (time.perf_counter() - began)


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


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
    print(
        "| queued jobs | enqueue jobs/s, one at a time | enqueue jobs/s, "
        f"{CONCURRENT} at once | pick p50 ms | pick p95 ms | RSS MiB |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as folder:
        loaded = LoadedSettings(settings(Path(folder)), Secrets(), None)
        async with open_runtime(loaded) as rt:
            queued = 0
            for size in SIZES:
                half = (size - queued) // 2
                one = await fill(rt, half, queued)
                many = await fill(rt, size - queued - half, queued + half, CONCURRENT)
                queued = size
                times = sorted(await pick_times(rt))
                p50 = statistics.median(times) * 1000
                p95 = times[int(len(times) * 0.95)] * 1000
                print(
                    f"| {size} | {one:.0f} | {many:.0f} | {p50:.2f} | {p95:.2f} | {rss_mb():.0f} |"
                )


if __name__ == "__main__":
    asyncio.run(main())
