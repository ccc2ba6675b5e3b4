"""Blocked terms: how long adding a term and screening a prompt take, worst cases included,
with the regex module's cache purged before each call (a cold compile, as after a restart).
The tests assert the bounds (no large unrolled compile, a time-out on every search); this
measures them. Run: python bench/terms.py"""

from __future__ import annotations

import asyncio
import contextlib
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import regex

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.errors import InvalidTerm
from bot.moderation import Moderation
from bot.storage import Database

ROUNDS = 20
TERMS = {
    "plain words": ("dragon rider", False),
    "simple regex": (r"cat\s*girl", True),
    "nested repeat (refused on sight)": ("(a+)+$", True),
    "backtracking alternation (refused by a probe)": ("(a|aa)+$", True),
    "counts over the limit (refused on sight)": ("x{3000000}", True),
    "counts at the limit": ("(?:ab{100}){100}", True),
}
PROMPTS = {
    "short prompt": "a red boat on a calm sea at dusk",
    "3,000 repeated characters": "a" * 3000 + "\x00",
}


def row(name: str, times: list[float]) -> str:
    ms = sorted(t * 1000 for t in times)
    p95 = ms[int(len(ms) * 0.95) - 1]
    return f"| {name} | {statistics.median(ms):.2f} | {p95:.2f} | {ms[-1]:.2f} |"


async def main() -> None:
    print(f"{platform.processor() or platform.machine()}, Python {platform.python_version()}")
    print("| call | p50 ms | p95 ms | max ms |\n| --- | ---: | ---: | ---: |")
    with tempfile.TemporaryDirectory() as folder:
        db = await Database.open(Path(folder) / "bot.sqlite3")
        mod = Moderation(db)
        guild = 0
        for name, (pattern, is_regex) in TERMS.items():
            times = []
            for _ in range(ROUNDS):
                guild += 1
                regex.purge()
                started = time.perf_counter()
                with contextlib.suppress(InvalidTerm):
                    await mod.add_term(guild, pattern, regex=is_regex, actor_id=1)
                times.append(time.perf_counter() - started)
            print(row(f"add: {name}", times))
        await mod.add_term(None, r"(\w|_)*!", regex=True, actor_id=1)  # a slow global regex
        for name, prompt in PROMPTS.items():
            times = []
            for _ in range(ROUNDS):
                regex.purge()
                started = time.perf_counter()
                await mod.check_prompt(prompt, guild_id=1, sfw=True)
                times.append(time.perf_counter() - started)
            print(row(f"check: {name}", times))
        await db.close()


if __name__ == "__main__":
    asyncio.run(main())
