"""Four compatible jobs as one batched pipeline call against one after another, through the
local engine on the tiny model; images per second. Run: python bench/batching.py"""

from __future__ import annotations

import asyncio
import platform
import statistics
import time

import torch
from _tiny import tiny_provider

from engine import CancelToken, GenerationRequest

SIZE, STEPS, JOBS, ROUNDS = 128, 20, 4, 5


async def main() -> None:
    provider, _ = tiny_provider(SIZE, STEPS, max_batch=JOBS)
    await provider.start()
    requests = [
        provider.prepare(GenerationRequest(f"a lighthouse, view {k}", seed=100 + k))
        for k in range(JOBS)
    ]
    ignore = [lambda _: None] * JOBS

    async def one_by_one() -> None:
        for request in requests:
            await provider.generate(request, ignore[0], CancelToken())

    async def batched() -> None:
        await provider.generate_batch(requests, ignore, [CancelToken() for _ in requests])

    await batched()
    sequential_times, batched_times = [], []
    for _ in range(ROUNDS):
        for runner, times in ((one_by_one, sequential_times), (batched, batched_times)):
            started = time.perf_counter()
            await runner()
            times.append(time.perf_counter() - started)
    await provider.close()
    sequential = JOBS / statistics.median(sequential_times)
    together = JOBS / statistics.median(batched_times)
    print(f"# batching, tiny SD 1.x, CPU, {JOBS} jobs of {SIZE}x{SIZE}, {STEPS} steps")
    print(f"# {platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| mode | images/s | ratio |")
    print("| --- | ---: | ---: |")
    print(f"| one by one | {sequential:.2f} | 1.00 |")
    print(f"| one batch | {together:.2f} | {together / sequential:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
