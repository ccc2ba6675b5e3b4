"""The local engine's cost over the raw diffusers call, for every model family: the family's
tiny pipeline, the same prompt, seed, size, steps and guidance arguments (the family profile's
``guidance_arguments``, as the engine passes them), run alternately; medians. Both run on the
engine's GPU thread: on a small CPU two OpenMP pools in two threads (each spinning after its
work) would slow each other and measure thread placement, not the engine.

Run: python bench/engine_overhead.py [--families sd flux1 ...] [--size 128] [--steps 20]
[--rounds 15] [--threads 1]"""

from __future__ import annotations

import argparse
import asyncio
import platform
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _tiny import BUILDERS, family_provider

from engine import CancelToken, GenerationRequest
from engine.local import LocalProvider

PROMPT = "a lighthouse at dusk"
# Sana-Sprint's pipeline runs its two-step schedule only (other counts raise a ValueError).
FIXED_STEPS = {"sana-sprint": 2}


async def measure(provider: LocalProvider, name: str, rounds: int) -> tuple[float, float, float]:
    """Median seconds of the raw pipeline call and of ``generate()``, alternated, and the
    median of each round's ratio (which a machine slowing down for a while moves less)."""
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
        )

    raw_times, engine_times = [], []
    for _ in range(2):  # warm-up, both paths
        await provider._call(raw)
        await provider.generate(request, lambda _: None, CancelToken())
    for _ in range(rounds):
        started = time.perf_counter()
        await provider._call(raw)
        raw_times.append(time.perf_counter() - started)
        started = time.perf_counter()
        await provider.generate(request, lambda _: None, CancelToken())
        engine_times.append(time.perf_counter() - started)
    await provider.close()
    ratios = [e / r for e, r in zip(engine_times, raw_times, strict=True)]
    return statistics.median(raw_times), statistics.median(engine_times), statistics.median(ratios)


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
        "| per-round ratio |"
    )
    print("| --- | --- | ---: | ---: | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory(prefix="bench-families-") as root:
        for key in args.families:
            steps = FIXED_STEPS.get(key, args.steps)
            provider = family_provider(key, Path(root), args.size, steps)
            family = provider.family(key)
            raw, engine, paired = await measure(provider, key, args.rounds)
            print(
                f"| {family.label} | {family.guidance_kind} | {steps} | {raw:.4f} | {engine:.4f} "
                f"| {engine / raw:.3f} | {paired:.3f} |",
                flush=True,
            )


if __name__ == "__main__":
    asyncio.run(main())
