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
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.discord import TOKEN, FakeDiscord, FakeInteraction  # noqa: E402

GUILD, CHANNEL = 100, 101
FIRST_USER = 10_000
PACED_SECONDS = 10.0
SEQUENTIAL = 200


def config(fake: FakeDiscord, data: Path) -> str:
    return f"""
log_level = "WARNING"
[discord]
api_base = "{fake.api_base}"
gateway_url = "{fake.gateway_url}"
[storage]
data_dir = "{data}"
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


async def imagine(fake: FakeDiscord, user: int, n: int) -> FakeInteraction:
    return await fake.invoke(
        "imagine",
        {"prompt": f"bench {n}", "width": 64, "height": 64},
        user=user,
        channel=CHANNEL,
    )


async def main(members: int) -> None:
    fake = FakeDiscord()
    fake.add_guild(GUILD)
    fake.add_channel(CHANNEL, guild_id=GUILD)
    for user in range(FIRST_USER, FIRST_USER + members):
        fake.add_user(user)
        fake.add_member(GUILD, user)
    await fake.start()
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "config.toml"
        path.write_text(config(fake, Path(folder) / "data"), encoding="utf-8")
        env = {**os.environ, "DISCORD_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", str(path), cwd=folder, env=env,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            await asyncio.wait_for(process.stdout.readline(), 60)  # the invite: synced
            await asyncio.wait_for(fake.identified.wait(), 30)
            await asyncio.sleep(3)  # the guilds arrive; discord.py is ready 2 s after
            await run(fake, members)
        finally:
            process.terminate()
            await process.wait()
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
    await fake.wait_for(lambda: all(i.followups for i in paced), 300)

    burst = await asyncio.gather(*(imagine(fake, user, n) for n, user in enumerate(users)))
    await fake.wait_for(lambda: all(i.responded_at for i in burst), 30)
    late = sum(1 for value in acks(burst) if value > 3.0)
    print(f"| ack, burst of {members} | {members} | {percentiles(acks(burst))} |")
    await fake.wait_for(lambda: all(i.followups for i in burst), 600)

    overhead = []
    for n in range(SEQUENTIAL):
        interaction = await imagine(fake, FIRST_USER + n % members, n)
        await fake.wait_for(lambda i=interaction: bool(i.followups), 30)  # type: ignore[misc]
        overhead.append(interaction.followups[0].created_at - interaction.dispatched_at)
    print(
        f"| interaction → result posted, one at a time | {SEQUENTIAL} | {percentiles(overhead)} |"
    )
    print(f"\nburst: {late} of {members} acknowledged after 3 s; rule violations: "
          f"{len(fake.violations)}")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--members", type=int, default=500)
    asyncio.run(main(parser.parse_args().members))
