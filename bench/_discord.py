"""Shared set-up for the benchmarks that run ``python -m bot`` against the fake Discord from
the test suite: one server with one channel and its members, the bot's config, the launch."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Iterable
from pathlib import Path

ROOT = Path(__file__).parents[1]
sys.path.insert(0, str(ROOT))

from tests.fakes.discord import TOKEN, FakeDiscord  # noqa: E402

GUILD, CHANNEL = 100, 101


def server(members: Iterable[int]) -> FakeDiscord:
    """A fake Discord with one server, one channel, and these members in it."""
    fake = FakeDiscord()
    fake.add_guild(GUILD)
    fake.add_channel(CHANNEL, guild_id=GUILD)
    for user in members:
        fake.add_user(user)
        fake.add_member(GUILD, user)
    return fake


def config(fake: FakeDiscord, data: Path, sections: str, discord: str = "") -> str:
    """The bot's config: pointed at ``fake``, its data in ``data``, then ``sections``."""
    return f"""
log_level = "ERROR"
[discord]
api_base = "{fake.api_base}"
gateway_url = "{fake.gateway_url}"
{discord}
[storage]
data_dir = "{data}"
{sections}
"""


async def launch(
    folder: Path, text: str, stdout: int = asyncio.subprocess.DEVNULL
) -> asyncio.subprocess.Process:
    """``python -m bot`` with ``text`` as its config in ``folder``, as an owner would run it."""
    path = folder / "config.toml"
    path.write_text(text, encoding="utf-8")
    env = {**os.environ, "DISCORD_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(path), cwd=folder, env=env, stdout=stdout
    )


async def connected(fake: FakeDiscord) -> None:
    """Until the bot has identified and discord.py is ready (2 s after the last guild)."""
    await asyncio.wait_for(fake.identified.wait(), 60)
    await asyncio.sleep(2.5)


async def stop(process: asyncio.subprocess.Process) -> None:
    if process.returncode is None:
        process.terminate()
    await process.wait()
