"""The local engine's cost over the raw diffusers call, for every model family: the family's
tiny pipeline, the same prompt, seed, size, steps and the arguments the engine passes (the
family profile's ``guidance_arguments`` and ``arguments``), run alternately; medians of the wall
clock and of the CPU time of the engine's GPU thread (which a busy shared machine inflates far
less than the wall clock). Both run on the engine's GPU thread: on a small CPU two OpenMP
pools in two threads (each spinning after its work) would slow each other and measure thread
placement, not the engine.

Run: python bench/engine_overhead.py [--families sd flux1 ...] [--size 128] [--steps 20]
[--rounds 15] [--threads 1]"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import tempfile
import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from pathlib import Path

import torch
from _tiny import BUILDERS, family_provider

from engine import CancelToken, GenerationRequest
from engine.local import LocalProvider

PROMPT = "a lighthouse at dusk"


@dataclass
class Times:
    """Seconds of each run: wall clock, and CPU time of the engine's GPU thread."""

    wall: list[float] = field(default_factory=list)
    cpu: list[float] = field(default_factory=list)


async def timed(provider: LocalProvider, run: Awaitable[object], times: Times) -> None:
    """Times ``run``. The GPU thread's CPU time is read on that thread just before and just
    after: with one torch thread every operator runs there, so it counts the work done, and
    not the waits for a core that a shared machine adds to the wall clock."""
    cpu = await provider._call(time.thread_time)
    started = time.perf_counter()
    await run
    times.wall.append(time.perf_counter() - started)
    times.cpu.append(await provider._call(time.thread_time) - cpu)


async def measure(provider: LocalProvider, name: str, rounds: int) -> tuple[Times, Times]:
    """The raw pipeline call and ``generate()``, alternated after two warm-ups of each."""
    await provider.start()
    model = provider.cache.get(name)
    request = provider.prepare(GenerationRequest(PROMPT, seed=1))
    width, height = request.size
    assert request.steps is not None

    def raw() -> None:
        pipe = model.text2img
        pipe.scheduler = model.default_scheduler
        pipe(
            prompt=[PROMPT],
            generator=[torch.Generator("cpu").manual_seed(1)],
            num_inference_steps=request.steps,
            width=width,
            height=height,
            **model.family.guidance_arguments(request.guidance or 0.0, [""]),
            **model.family.arguments(request.steps),
        )

    raw_times, engine_times, warm_up = Times(), Times(), Times()
    for index in range(2 + rounds):
        first = index < 2
        await timed(provider, provider._call(raw), warm_up if first else raw_times)
        engine = provider.generate(request, lambda _: None, CancelToken())
        await timed(provider, engine, warm_up if first else engine_times)
    await provider.close()
    return raw_times, engine_times


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--families", nargs="+", default=list(BUILDERS), choices=list(BUILDERS))
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    print(
        f"# engine overhead, tiny pipelines, CPU, {args.size}x{args.size}, {args.steps} steps, "
        f"{args.rounds} rounds, medians"
    )
    print(f"# {platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(
        "| family | guidance | steps | raw call s | engine generate() s | engine/raw "
        "| raw CPU s | engine CPU s | engine/raw CPU |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory(prefix="bench-families-") as root:
        for key in args.families:
            provider = family_provider(key, Path(root), args.size, args.steps)
            family = provider.family(key)
            raw, engine = await measure(provider, key, args.rounds)
            wall = statistics.median(raw.wall), statistics.median(engine.wall)
            cpu = statistics.median(raw.cpu), statistics.median(engine.cpu)
            print(
                f"| {family.label} | {family.guidance_kind} | {args.steps} | {wall[0]:.4f} "
                f"| {wall[1]:.4f} | {wall[1] / wall[0]:.3f} | {cpu[0]:.4f} | {cpu[1]:.4f} "
                f"| {cpu[1] / cpu[0]:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main())
