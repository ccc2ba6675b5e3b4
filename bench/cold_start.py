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
import tempfile
import time
from pathlib import Path

from _discord import CHANNEL, config, launch, server, stop
from _tiny import build_sd

USER = 201


def sections(folder: Path) -> str:
    return f"""
[providers.local]
kind = "local"
device = "cpu"
default_model = "tiny"
[providers.local.models.tiny]
source = "{folder / "sd"}"
width = 128
height = 128
steps = 10
runtime = "torch"
"""


async def main() -> None:
    fake = server([USER])
    await fake.start()
    with tempfile.TemporaryDirectory() as name:
        folder = Path(name)
        build_sd(folder / "sd")
        launched = time.perf_counter()
        process = await launch(
            folder, config(fake, folder / "data", sections(folder)), asyncio.subprocess.PIPE
        )
        try:
            assert process.stdout is not None
            await asyncio.wait_for(process.stdout.readline(), 300)  # the invite: synced
            synced = time.perf_counter() - launched
            await asyncio.wait_for(fake.identified.wait(), 60)
            connected = time.perf_counter() - launched
            await asyncio.sleep(2.5)  # discord.py turns ready 2 s after the last guild
            asked = time.perf_counter()
            await fake.invoke("imagine", {"prompt": "a lighthouse"}, user=USER, channel=CHANNEL)
            await fake.wait_for(lambda: any(m.embeds for m in fake.messages), 300)
            first = time.perf_counter() - asked
        finally:
            await stop(process)
            await fake.stop()
    print(f"# cold start, tiny SD 1.x on CPU, {platform.machine()}, {os.cpu_count()} CPUs")
    print("| moment | seconds after launch |")
    print("| --- | ---: |")
    print(f"| model loaded and warm, commands synced (invite printed) | {synced:.2f} |")
    print(f"| gateway connected (IDENTIFY sent) | {connected:.2f} |")
    print(f"| first /imagine answered with its image (after asking) | {first:.2f} |")


if __name__ == "__main__":
    asyncio.run(main())
