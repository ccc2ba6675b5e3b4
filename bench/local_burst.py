"""A burst of compatible jobs through the whole bot (service, queue, worker, local engine,
PNG encoding, delivery) against the raw diffusers pipeline run back to back on the same jobs,
in images per second; and the longest event-loop stall while the bot works.

The tests' tiny SD 1.x model on CPU (random weights). The raw calls run on the engine's own
thread, as in engine_overhead.py, so both sides use the same OpenMP pool. A monitor task asks
to wake every 5 ms; a stall is how late it wakes. Discord's heartbeat (every ~41 s, with the
same slack) cannot be missed while the largest stall stays far below a second.

Run: python bench/local_burst.py [--jobs 8]
"""

from __future__ import annotations

import argparse
import asyncio
import platform
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

import torch
from _tiny import build_sd

from bot.jobs import Job, Requester, StoredImage
from bot.runtime import open_runtime
from bot.settings import LoadedSettings, Secrets, Settings
from engine import GenerationRequest, Progress
from engine.local import LocalProvider

SIZE, STEPS = 128, 10
TICK = 0.005


class Done:
    """A sink that notes when each job was delivered."""

    def __init__(self, expected: int) -> None:
        self.expected = expected
        self.delivered: list[float] = []
        self.all = asyncio.Event()

    async def progress(self, job: Job, progress: Progress) -> None:
        pass

    async def deliver(self, job: Job, images: Sequence[StoredImage]) -> str | None:
        self.delivered.append(time.perf_counter())
        if len(self.delivered) == self.expected:
            self.all.set()
        return None


async def watch_loop(stalls: list[float], stop: asyncio.Event) -> None:
    while not stop.is_set():
        started = time.perf_counter()
        await asyncio.sleep(TICK)
        stalls.append(time.perf_counter() - started - TICK)


def settings(folder: Path, model: Path, batch: int) -> Settings:
    spec = {"source": str(model), "width": SIZE, "height": SIZE, "steps": STEPS, "runtime": "torch"}
    return Settings.model_validate(
        {
            "storage": {"data_dir": str(folder / "data")},
            "queue": {"poll_seconds": 0.05, "max_queued_per_user": 100},
            "quota": {"daily_units": 100_000},
            "providers": {
                "local": {
                    "kind": "local",
                    "device": "cpu",
                    "models": {"tiny": spec},
                    "max_batch": batch,
                    "preview_every": 0,
                }
            },
        }
    )


async def main(jobs: int, batch: int) -> None:
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        build_sd(folder / "sd")
        loaded = LoadedSettings(settings(folder, folder / "sd", batch), Secrets(), None)
        async with open_runtime(loaded) as rt:
            provider = rt.providers.get("local").provider
            assert isinstance(provider, LocalProvider)
            requests = [
                GenerationRequest(f"a lighthouse, view {k}", seed=100 + k, guidance=7.0)
                for k in range(jobs)
            ]
            raw = await raw_seconds(provider, requests)

            sink = Done(jobs)
            worker = rt.worker(sink, origin="bench")
            stalls: list[float] = []
            stop = asyncio.Event()
            monitor = asyncio.create_task(watch_loop(stalls, stop))
            await worker.start()
            started = time.perf_counter()
            for k, request in enumerate(requests):
                await rt.service.submit(request, Requester(k), origin="bench")
            await asyncio.wait_for(sink.all.wait(), 3600)
            bot = time.perf_counter() - started
            stop.set()
            await monitor
            await worker.stop()

    print(f"# burst of {jobs} jobs, tiny SD 1.x, CPU, {SIZE}x{SIZE}, {STEPS} steps, "
          f"max_batch {batch}")  # fmt: skip
    print(f"# {platform.machine()}, torch {torch.__version__}, {torch.get_num_threads()} threads")
    print("| path | seconds | images/s | ratio |")
    print("| --- | ---: | ---: | ---: |")
    print(f"| raw pipeline, back to back | {raw:.2f} | {jobs / raw:.3f} | 1.000 |")
    print(f"| the bot, submit to delivered | {bot:.2f} | {jobs / bot:.3f} | {raw / bot:.3f} |")
    ordered = sorted(stalls)
    largest, p99 = ordered[-1] * 1000, ordered[int(len(ordered) * 0.99)] * 1000
    print(f"\nevent loop while the bot worked: {len(stalls)} wake-ups, largest stall "
          f"{largest:.1f} ms, p99 {p99:.1f} ms")  # fmt: skip


async def raw_seconds(provider: LocalProvider, requests: list[GenerationRequest]) -> float:
    """The same jobs through the raw pipeline, one call each, on the engine's thread."""
    model = provider.cache.get("tiny")
    pipe = model.text2img

    def run(request: GenerationRequest) -> None:
        pipe.scheduler = model.default_scheduler
        pipe(
            prompt=[request.prompt],
            negative_prompt=[""],
            generator=[torch.Generator("cpu").manual_seed(request.seed or 0)],
            num_inference_steps=STEPS,
            guidance_scale=7.0,
            width=SIZE,
            height=SIZE,
        )

    await provider._call(run, requests[0])  # warm
    started = time.perf_counter()
    for request in requests:
        await provider._call(run, request)
    return time.perf_counter() - started


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--batch", type=int, default=4)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.jobs, arguments.batch))
