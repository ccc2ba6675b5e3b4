"""The local engine's cost over the raw diffusers call: the same tiny model, prompt, seed,
size and steps, run alternately; medians. Both run on the engine's GPU thread: on a small CPU
two OpenMP pools in two threads (each spinning after its work) would slow each other and
measure thread placement, not the engine. Run: python bench/engine_overhead.py"""

from __future__ import annotations

import asyncio
import platform
import statistics
import time

import torch
from _tiny import tiny_provider

from engine import CancelToken, GenerationRequest

SIZE, STEPS, ROUNDS = 128, 20, 15


async def main() -> None:
    provider, _ = tiny_provider(SIZE, STEPS)
    await provider.start()
    pipe = provider.cache.get("tiny").text2img
    request = provider.prepare(GenerationRequest("a lighthouse at dusk", seed=1))

    def raw() -> None:
        pipe.scheduler = provider.cache.get("tiny").default_scheduler
        pipe(
            prompt=["a lighthouse at dusk"],
            negative_prompt=[""],
            generator=[torch.Generator("cpu").manual_seed(1)],
            num_inference_steps=STEPS,
            guidance_scale=request.guidance,
            width=SIZE,
            height=SIZE,
        )

    raw_times, engine_times = [], []
    for _ in range(3):
        await provider._call(raw)
    for _ in range(ROUNDS):
        started = time.perf_counter()
        await provider._call(raw)
        raw_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        await provider.generate(request, lambda _: None, CancelToken())
        engine_times.append(time.perf_counter() - started)
    await provider.close()
    raw_median, engine_median = statistics.median(raw_times), statistics.median(engine_times)
    print(f"# engine overhead, tiny SD 1.x, CPU, {SIZE}x{SIZE}, {STEPS} steps, {ROUNDS} rounds")
    print(f"# {platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| path | median s | ratio |")
    print("| --- | ---: | ---: |")
    print(f"| raw pipeline call | {raw_median:.4f} | 1.000 |")
    print(f"| engine generate() | {engine_median:.4f} | {engine_median / raw_median:.3f} |")


if __name__ == "__main__":
    asyncio.run(main())
