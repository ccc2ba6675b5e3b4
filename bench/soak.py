"""Soak: many members, mixed commands and button clicks, for minutes, through the fake
Discord; the bot's asyncio tasks, memory and open files sampled as it goes (from the owner's
/status), and the queue's depth. A leak shows as growth that does not level off.

The bot runs as ``python -m bot`` with the fake provider (two steps of 50 ms, two at a time).

Run: python bench/soak.py [--minutes 10] [--rate 5]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import sqlite3
import tempfile
import time
from pathlib import Path

from _discord import CHANNEL, config, connected, launch, server, stop

from tests.fakes.discord import FakeDiscord, FakeMessage

OWNER, FIRST_USER, USERS = 5, 10_000, 100
VITALS = re.compile(r"(\d+) asyncio tasks, (\d+) MiB resident, (\d+) open files")


SECTIONS = """
[queue]
max_queued_per_user = 20
poll_seconds = 0.5
[quota]
daily_units = 1000000
[providers.fake]
kind = "tests.fakes.providers:fake_provider"
steps = 2
step_seconds = 0.05
concurrency = 2
upscale = true
"""


async def vitals(fake: FakeDiscord) -> tuple[int, int, int]:
    interaction = await fake.invoke("status", {}, user=OWNER, channel=CHANNEL)
    await interaction.wait(lambda i: bool(i.responses), 10)
    fields = interaction.responses[0]["data"]["embeds"][0]["fields"]
    match = VITALS.search(" ".join(field["value"] for field in fields))
    assert match is not None, fields
    return int(match[1]), int(match[2]), int(match[3])


def depth(database: Path) -> int:
    with sqlite3.connect(database) as conn:
        (n,) = conn.execute(
            "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running')"
        ).fetchone()
    return int(n)


async def act(fake: FakeDiscord, rng: random.Random, results: list[FakeMessage], n: int) -> None:
    user = FIRST_USER + rng.randrange(USERS)
    roll = rng.random()
    if roll < 0.55 or not results:
        await fake.invoke("imagine", {"prompt": f"soak {n}", "width": 64, "height": 64},
                          user=user, channel=CHANNEL)  # fmt: skip
    elif roll < 0.75:
        message = rng.choice(results[-50:])
        owner = (
            int(message.content.split("<@")[1].split(">")[0]) if "<@" in message.content else user
        )
        action = rng.choice(["u", "v", "r", "p"])
        job = int(message.embeds[0]["author"]["name"].split("#")[1])
        await fake.click(message.id, f"img:{action}:{job}:0", user=owner)
    else:
        command = rng.choice(["queue", "quota", "history", "models", "help"])
        await fake.invoke(command, {}, user=user, channel=CHANNEL)


async def main(minutes: float, rate: float, seed: int) -> None:
    rng = random.Random(seed)
    fake = server((OWNER, *range(FIRST_USER, FIRST_USER + USERS)))
    await fake.start()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        discord = f"owner_ids = [{OWNER}]\nprogress_seconds = 1.0"
        process = await launch(folder, config(fake, folder / "data", SECTIONS, discord))
        database = folder / "data" / "imagebot.sqlite3"
        samples: list[tuple[float, int, int, int, int, int]] = []
        try:
            await connected(fake)
            started = time.monotonic()
            next_sample, n = started, 0
            results: list[FakeMessage] = []
            while time.monotonic() - started < minutes * 60:
                if time.monotonic() >= next_sample:
                    tasks, rss, files = await vitals(fake)
                    commands = n
                    samples.append(
                        (time.monotonic() - started, commands, tasks, rss, files, depth(database))
                    )
                    next_sample += max(10.0, minutes * 6)
                if n % 20 == 0:
                    results = [
                        m
                        for m in fake._messages.values()
                        if m.embeds and m.embeds[0].get("author") and not m.deleted
                    ]
                await act(fake, rng, results, n)
                n += 1
                await asyncio.sleep(rng.expovariate(rate))
            await fake.wait_for(lambda: depth(database) == 0, 120)
            await asyncio.sleep(3)
            tasks, rss, files = await vitals(fake)
            samples.append((time.monotonic() - started, n, tasks, rss, files, depth(database)))
        finally:
            await stop(process)
            await fake.stop()
    print(f"# soak, {minutes:g} min, about {rate:g} commands/s from {USERS} members")
    print("| minute | commands | asyncio tasks | RSS MiB | open files | jobs waiting or running |")
    print("| ---: | ---: | ---: | ---: | ---: | ---: |")
    for at, commands, tasks, rss, files, waiting in samples:
        print(f"| {at / 60:.1f} | {commands} | {tasks} | {rss} | {files} | {waiting} |")
    print(f"\nrule violations: {len(fake.violations)}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=5.0)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.minutes, arguments.rate, arguments.seed))
