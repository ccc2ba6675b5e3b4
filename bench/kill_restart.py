"""Crash safety: SIGKILL the bot at random moments while members keep asking, restart it,
again and again; then check, from the database and from what Discord received, that every job
ended exactly once, every quota unit was spent on a delivered result or refunded, and no result
was posted twice.

The bot runs as ``python -m bot`` against the fake Discord from the test suite (kept running
across the restarts, as Discord is) with the fake provider (a few steps of 0.1 s each).

Run: python bench/kill_restart.py [--jobs 200] [--kills 20]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import signal
import sqlite3
import tempfile
import time
from collections import Counter
from pathlib import Path

from _discord import CHANNEL, config, connected, launch, server, stop

from tests.fakes.discord import FakeDiscord

FIRST_USER, USERS = 10_000, 40


SECTIONS = """
[queue]
max_queued_per_user = 50
poll_seconds = 0.2
max_attempts = 6
retry_backoff_seconds = 0.2
shutdown_grace_seconds = 1.0
[quota]
daily_units = 100000
[providers.fake]
kind = "tests.fakes.providers:fake_provider"
steps = 4
step_seconds = 0.1
concurrency = 2
"""


class Bot:
    def __init__(self, folder: Path, fake: FakeDiscord) -> None:
        self.text = config(fake, folder / "data", SECTIONS, "progress_seconds = 1.0")
        self.folder = folder
        self.fake = fake
        self.process: asyncio.subprocess.Process | None = None

    async def start(self) -> None:
        self.fake.identified.clear()
        self.process = await launch(self.folder, self.text)
        await connected(self.fake)

    async def kill(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        await self.process.wait()

    async def stop(self) -> None:
        if self.process is not None:
            await stop(self.process)


def snapshot(database: Path) -> Counter[str]:
    """What the jobs were doing when the bot died."""
    with sqlite3.connect(database) as conn:
        counts: Counter[str] = Counter()
        for status, delivered, n in conn.execute(
            "SELECT status, delivered, COUNT(*) FROM jobs GROUP BY status, delivered"
        ):
            key = (
                status if status in ("queued", "running") or delivered else "finished, undelivered"
            )
            counts[key] += n
        return counts


async def main(jobs: int, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    fake = server(range(FIRST_USER, FIRST_USER + USERS))
    await fake.start()
    asked = 0
    at_kill: Counter[str] = Counter()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        bot = Bot(folder, fake)
        database = folder / "data" / "imagebot.sqlite3"
        try:
            for _ in range(kills):
                await bot.start()
                deadline = time.monotonic() + rng.uniform(1.0, 4.0)
                while time.monotonic() < deadline:
                    if asked < jobs:
                        user = FIRST_USER + asked % USERS
                        await fake.invoke(
                            "imagine", {"prompt": f"job {asked}"}, user=user, channel=CHANNEL
                        )
                        asked += 1
                    await asyncio.sleep(rng.uniform(0.0, 0.05))
                await bot.kill()
                at_kill += snapshot(database)
            await bot.start()
            while asked < jobs:
                user = FIRST_USER + asked % USERS
                await fake.invoke("imagine", {"prompt": f"job {asked}"}, user=user, channel=CHANNEL)
                asked += 1
            await fake.wait_for(lambda: finished(database), 600)
            await asyncio.sleep(1.0)
        finally:
            await bot.stop()
            await fake.stop()
        report(database, fake, asked, kills, at_kill)


def finished(database: Path) -> bool:
    with sqlite3.connect(database) as conn:
        (left,) = conn.execute(
            "SELECT COUNT(*) FROM jobs WHERE status IN ('queued', 'running') OR delivered = 0"
        ).fetchone()
    return bool(left == 0)


def report(
    database: Path, fake: FakeDiscord, asked: int, kills: int, at_kill: Counter[str]
) -> None:
    conn = sqlite3.connect(database)
    jobs = {row[0]: row[1:] for row in conn.execute("SELECT job_id, status, cost, error FROM jobs")}
    entries: dict[int, Counter[str]] = {}
    for job_id, kind in conn.execute("SELECT job_id, kind FROM quota_ledger"):
        entries.setdefault(job_id, Counter())[kind] += 1
    deliveries = Counter(row[0] for row in conn.execute("SELECT job_id FROM deliveries"))
    (spent,) = conn.execute("SELECT COALESCE(SUM(units), 0) FROM quota_ledger").fetchone()
    conn.close()
    posted = Counter(
        int(embed["author"]["name"].split("#")[1])
        for message in fake._messages.values()
        if not message.deleted
        for embed in message.embeds
        if embed.get("author", {}).get("name", "").startswith("Job #")
    )
    statuses = Counter(status for status, _, _ in jobs.values())
    problems = []
    for job_id, (status, _cost, _error) in jobs.items():
        kinds = entries.get(job_id, Counter())
        settled = "commit" if status == "succeeded" else "refund"
        if kinds != Counter({"reserve": 1, settled: 1}):
            problems.append(f"job {job_id} {status}: ledger {dict(kinds)}")
        if deliveries[job_id] != 1:
            problems.append(f"job {job_id}: {deliveries[job_id]} deliveries recorded")
        if posted[job_id] != (1 if status == "succeeded" else 0):
            problems.append(f"job {job_id} {status}: result posted {posted[job_id]} times")
    expected = sum(cost for status, cost, _ in jobs.values() if status == "succeeded")
    if spent != expected:
        problems.append(f"quota: {spent} units spent, {expected} for succeeded jobs")
    errors = Counter(error for status, _, error in jobs.values() if status == "failed")
    print(f"# kill -9 and restart, {kills} kills, {asked} commands sent")
    print("| what | count |")
    print("| --- | ---: |")
    print(f"| jobs accepted | {len(jobs)} |")
    for status in ("succeeded", "failed", "cancelled"):
        print(f"| ended {status} | {statuses[status]} |")
    for state in ("queued", "running", "finished, undelivered"):
        print(f"| jobs {state} at the moment of a kill (summed over kills) | {at_kill[state]} |")
    print(f"| results posted twice | {sum(1 for n in posted.values() if n > 1)} |")
    print(f"| problems | {len(problems)} |")
    for error, n in errors.items():
        print(f"\nfailed ({n}): {error}")
    for problem in problems[:20]:
        print(f"PROBLEM: {problem}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=200)
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.jobs, arguments.kills, arguments.seed))
