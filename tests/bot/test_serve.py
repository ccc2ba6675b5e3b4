"""`python -m bot` when Discord is out of reach: one line, not a traceback; and SIGTERM while
the gateway is being retried ends the bot at once."""

from __future__ import annotations

import asyncio
import signal
import socket
from pathlib import Path

import pytest

from tests.cli import start_bot
from tests.conftest import FAKE_KIND
from tests.fakes.discord import TOKEN, FakeDiscord


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def config(tmp_path: Path, api_base: str, gateway_url: str) -> str:
    return (
        f"[discord]\napi_base = '{api_base}'\ngateway_url = '{gateway_url}'\n"
        f"[storage]\ndata_dir = '{tmp_path / 'data'}'\n"
        f"[providers.fake]\nkind = '{FAKE_KIND}'\n"
    )


@pytest.mark.parametrize("reachable", ["nothing", "the API only"])
async def test_discord_out_of_reach_is_one_line_with_what_to_check(tmp_path: Path, reachable: str):
    fake = FakeDiscord()
    await fake.start()
    port = closed_port()
    api = fake.api_base if reachable == "the API only" else f"http://127.0.0.1:{port}/api/v10"
    try:
        process = await start_bot(
            tmp_path,
            config=config(tmp_path, api, f"ws://127.0.0.1:{port}"),
            DISCORD_TOKEN=TOKEN,
        )
        _, err = await asyncio.wait_for(process.communicate(), 60)
    finally:
        await fake.stop()
    stderr = err.decode()
    assert process.returncode == 1
    assert "Traceback" not in stderr
    said = [line for line in stderr.splitlines() if "Could not reach Discord" in line]
    assert len(said) == 1
    assert "firewall" in said[0] and f"127.0.0.1:{port}" in said[0]


async def test_sigterm_while_the_gateway_is_retried_ends_the_bot(tmp_path: Path):
    fake = FakeDiscord()
    await fake.start()
    process = await start_bot(
        tmp_path, config=config(tmp_path, fake.api_base, fake.gateway_url), DISCORD_TOKEN=TOKEN
    )
    try:
        assert process.stderr is not None
        await asyncio.wait_for(fake.identified.wait(), 60)
        await fake.stop()  # Discord goes away: discord.py retries with a growing backoff
        while True:
            line = (await asyncio.wait_for(process.stderr.readline(), 60)).decode()
            assert line, "the bot ended instead of retrying the gateway"
            if "Attempting a reconnect" in line:
                break
        following = (await asyncio.wait_for(process.stderr.readline(), 60)).decode()
        assert not following.startswith("Traceback")  # one line a retry, with its reason
        process.send_signal(signal.SIGTERM)
        # discord.py's backoff grows to minutes; the bot must not wait it out.
        assert await asyncio.wait_for(process.wait(), 20) == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
