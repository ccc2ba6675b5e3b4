"""Acknowledgement latency and per-job overhead, end to end through Discord's protocol.

The bot runs as it does in production (``python -m bot``, its own process) against the fake
Discord from the test suite, which runs here with the load generator, so the bot competes for
nothing but the machine. The provider answers at once, so what is measured is the bot.

1. Paced: MEMBERS members each run /imagine once, spread over PACED_SECONDS; then a burst of
   MEMBERS at the same instant. Acknowledgement = from the INTERACTION_CREATE being sent to
   the bot's first callback arriving (the defer), p50/p95/p99/max.
2. Overhead: SEQUENTIAL jobs one after another; from the interaction to the result posted,
   with a provider whose own time is under a millisecond.

Run: python bench/discord_latency.py [--members 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import re
import statistics
import tempfile
import time
from pathlib import Path

from _discord import CHANNEL, config, connected, launch, server, stop

from tests.fakes.discord import FakeDiscord, FakeInteraction

FIRST_USER = 10_000
JOB = re.compile(r"Job #(\d+)")
PACED_SECONDS = 10.0
SEQUENTIAL = 200


SECTIONS = """
[queue]
max_queued_per_user = 100
poll_seconds = 0.5
[quota]
daily_units = 100000
[providers.fake]
kind = "tests.fakes.providers:fake_provider"
steps = 0
concurrency = 4
"""


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)

    def at(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    return (
        f"{statistics.median(ordered) * 1000:.1f} | {at(0.95):.1f} | {at(0.99):.1f} | "
        f"{ordered[-1] * 1000:.1f}"
    )


def acks(interactions: list[FakeInteraction]) -> list[float]:
    missing = [i for i in interactions if i.responded_at is None]
    if missing:
        raise SystemExit(f"{len(missing)} interactions were never acknowledged")
    return [i.responded_at - i.dispatched_at for i in interactions]  # type: ignore[operator]


POSTED: dict[int, float] = {}  # job id -> when its result was posted
SCANNED = [0]  # how many of the fake's channel posts have been looked at


def results(fake: FakeDiscord) -> dict[int, float]:
    """When each job's result was posted, by job id (its embed's author is "Job #N"); only
    new posts are read, so waiting does not slow the fake down as posts pile up."""
    for message in fake.messages[SCANNED[0] :]:
        for embed in message.embeds:
            name = embed.get("author", {}).get("name", "")
            if name.startswith("Job #"):
                POSTED[int(name[5:])] = message.created_at
    SCANNED[0] = len(fake.messages)
    return POSTED


def job_of(interaction: FakeInteraction) -> int | None:
    found = JOB.search(interaction.original.content) if interaction.original else None
    return int(found[1]) if found else None


def all_posted(fake: FakeDiscord, interactions: list[FakeInteraction]) -> bool:
    posted = results(fake)
    return all(job_of(i) in posted for i in interactions)


async def imagine(fake: FakeDiscord, user: int, n: int) -> FakeInteraction:
    return await fake.invoke(
        "imagine",
        {"prompt": f"bench {n}", "width": 64, "height": 64},
        user=user,
        channel=CHANNEL,
    )


async def main(members: int) -> None:
    fake = server(range(FIRST_USER, FIRST_USER + members))
    await fake.start()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        process = await launch(folder, config(fake, folder / "data", SECTIONS))
        try:
            await connected(fake)
            await run(fake, members)
        finally:
            await stop(process)
            await fake.stop()


async def run(fake: FakeDiscord, members: int) -> None:
    users = range(FIRST_USER, FIRST_USER + members)
    print(f"# Discord latency, {platform.machine()}, {os.cpu_count()} CPUs, bot in its own process")
    print("| scenario | count | p50 ms | p95 ms | p99 ms | max ms |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")

    paced: list[FakeInteraction] = []
    gap = PACED_SECONDS / members
    started = time.monotonic()
    for n, user in enumerate(users):
        await asyncio.sleep(max(0.0, started + n * gap - time.monotonic()))
        paced.append(await imagine(fake, user, n))
    await fake.wait_for(lambda: all(i.responded_at for i in paced), 30)
    print(f"| ack, {members} over {PACED_SECONDS:g} s | {members} | {percentiles(acks(paced))} |")
    await fake.wait_for(lambda: all_posted(fake, paced), 300)

    burst = await asyncio.gather(*(imagine(fake, user, n) for n, user in enumerate(users)))
    await fake.wait_for(lambda: all(i.responded_at for i in burst), 30)
    late = sum(1 for value in acks(burst) if value > 3.0)
    print(f"| ack, burst of {members} | {members} | {percentiles(acks(burst))} |")
    await fake.wait_for(lambda: all_posted(fake, burst), 600)

    overhead = []
    for n in range(SEQUENTIAL):
        interaction = await imagine(fake, FIRST_USER + n % members, n)
        await fake.wait_for(lambda i=interaction: all_posted(fake, [i]), 30)  # type: ignore[misc]
        job = job_of(interaction)
        assert job is not None
        overhead.append(results(fake)[job] - interaction.dispatched_at)
    print(
        f"| interaction → result posted, one at a time | {SEQUENTIAL} | {percentiles(overhead)} |"
    )
    print(f"\nburst: {late} of {members} acknowledged after 3 s; rule violations: "
          f"{len(fake.violations)}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=500)
    asyncio.run(main(parser.parse_args().members))
