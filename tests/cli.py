"""Running ``python -m bot`` from tests: a clean environment and a config file in tmp_path."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[1]


def bot_environment(**env: str) -> dict[str, str]:
    """This process's environment without the bot's own variables, plus ``env``."""
    environment = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("IMAGEBOT") and key != "DISCORD_TOKEN"
    }
    environment["PYTHONPATH"] = str(ROOT)
    environment.update(env)
    return environment


def command(tmp_path: Path, args: tuple[str, ...], config: str | None) -> list[str]:
    line = [sys.executable, "-m", "bot"]
    if config is not None:
        path = tmp_path / "config.toml"
        path.write_text(config, encoding="utf-8")
        line += ["--config", str(path)]
    return line + list(args)


def run_bot(
    tmp_path: Path, *args: str, config: str | None = None, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command(tmp_path, args, config),
        cwd=tmp_path,
        env=bot_environment(**env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


async def start_bot(
    tmp_path: Path, *args: str, config: str | None = None, **env: str
) -> asyncio.subprocess.Process:
    """For tests whose fakes run on this event loop, which a blocking run would stall."""
    return await asyncio.create_subprocess_exec(
        *command(tmp_path, args, config),
        cwd=tmp_path,
        env=bot_environment(**env),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
