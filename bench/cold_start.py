"""Cold start: from launching ``python -m bot`` to ready (default model loaded and warm,
commands synced, gateway connected) and to the first image posted, with the local engine on
the tests' tiny SD 1.x model on CPU and the fake Discord from the test suite. The model loads
in start-up (``Provider.start``), before the bot logs in; the first job only runs it.

Run: python bench/cold_start.py
"""

from __future__ import annotations

import asyncio
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

from _tiny import build_sd

from tests.fakes.discord import TOKEN, FakeDiscord

ROOT = Path(__file__).parents[1]
GUILD, CHANNEL, USER = 100, 101, 201


def config(fake: FakeDiscord, folder: Path) -> str:
    return f"""
log_level = "WARNING"
[discord]
api_base = "{fake.api_base}"
gateway_url = "{fake.gateway_url}"
[storage]
data_dir = "{folder / "data"}"
[providers.local]
kind = "local"
device = "cpu"
default_model = "tiny"
[providers.local.models.tiny]
source = "{folder / "sd"}"
width = 128
height = 128
steps = 10
"""


async def main() -> None:
    fake = FakeDiscord()
    fake.add_guild(GUILD)
    fake.add_channel(CHANNEL, guild_id=GUILD)
    fake.add_user(USER)
    fake.add_member(GUILD, USER)
    await fake.start()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        build_sd(folder / "sd")
        path = folder / "config.toml"
        path.write_text(config(fake, folder), encoding="utf-8")
        env = {**os.environ, "DISCORD_TOKEN": TOKEN, "PYTHONPATH": str(ROOT)}
        launched = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", str(path), cwd=folder, env=env,
            stdout=asyncio.subprocess.PIPE,
        )  # fmt: skip
        try:
            assert process.stdout is not None
            await asyncio.wait_for(process.stdout.readline(), 300)  # the invite: synced
            synced = time.perf_counter() - launched
            await asyncio.wait_for(fake.identified.wait(), 60)
            connected = time.perf_counter() - launched
            await asyncio.sleep(2.5)  # discord.py turns ready 2 s after the last guild
            asked = time.perf_counter()
            interaction = await fake.invoke(
                "imagine", {"prompt": "a lighthouse"}, user=USER, channel=CHANNEL
            )
            await fake.wait_for(lambda: bool(interaction.followups), 300)
            first = time.perf_counter() - asked
        finally:
            if process.returncode is None:
                process.terminate()
            await process.wait()
            await fake.stop()
    print(f"# cold start, tiny SD 1.x on CPU, {platform.machine()}, {os.cpu_count()} CPUs")
    print("| moment | seconds after launch |")
    print("| --- | ---: |")
    print(f"| model loaded and warm, commands synced (invite printed) | {synced:.2f} |")
    print(f"| gateway connected (IDENTIFY sent) | {connected:.2f} |")
    print(f"| first /imagine answered with its image (after asking) | {first:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
