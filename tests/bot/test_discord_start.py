from __future__ import annotations

import asyncio
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import discord
import pytest

from bot.app import ImageBot, point_at
from bot.jobs import Requester
from bot.runtime import open_runtime
from bot.settings import LoadedSettings, Secrets
from engine import GenerationRequest
from tests.cli import start_bot
from tests.cogs.test_imagine import result_mention, result_prompt
from tests.conftest import FAKE_KIND, make_settings
from tests.fakes.discord import APPLICATION_ID, TOKEN, FakeDiscord


@pytest.fixture
async def fake_discord(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[FakeDiscord]:
    monkeypatch.setattr(discord.http.Route, "BASE", discord.http.Route.BASE)
    monkeypatch.setattr(
        discord.gateway.DiscordWebSocket,
        "DEFAULT_GATEWAY",
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY,
    )
    fake = FakeDiscord()
    await fake.start()
    yield fake
    await fake.stop()


async def test_the_bot_logs_in_syncs_and_delivers_a_job_to_its_channel(
    tmp_path: Path, fake_discord: FakeDiscord, capsys: pytest.CaptureFixture[str]
):
    settings = make_settings(
        tmp_path,
        discord={"api_base": fake_discord.api_base, "gateway_url": fake_discord.gateway_url},
    )
    point_at(settings.discord.api_base, settings.discord.gateway_url)
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as runtime:
        async with ImageBot(runtime) as client:
            await client.login(TOKEN)
            connection = asyncio.create_task(client.connect(reconnect=False))
            await asyncio.wait_for(fake_discord.identified.wait(), 10)
            assert client.application_id == APPLICATION_ID
            assert f"client_id={APPLICATION_ID}" in capsys.readouterr().out

            job = await runtime.service.submit(
                GenerationRequest("a quiet harbour", width=64, height=64, seed=3),
                Requester(77, 5, 555),
                target={"channel_id": 555},
            )
            await asyncio.wait_for(fake_discord.message_posted.wait(), 10)
            await client.close()
            await asyncio.wait_for(connection, 10)

        posted = fake_discord.messages[0]
        assert posted.channel_id == 555
        assert posted.nonce == f"job-{job.job_id}"
        assert "<@77>" in result_mention(posted) and "a quiet harbour" in result_prompt(posted)
        assert list(posted.files) == [f"{job.job_id}-0.png"]
        assert posted.files[f"{job.job_id}-0.png"].startswith(b"\x89PNG")
        stored = await runtime.store.get(job.job_id)
        assert stored is not None and stored.delivered


@pytest.mark.parametrize("nsfw", [True, False])
async def test_flagged_images_are_spoilers_in_age_restricted_channels_and_withheld_elsewhere(
    tmp_path: Path, fake_discord: FakeDiscord, nsfw: bool
):
    settings = make_settings(
        tmp_path,
        discord={"api_base": fake_discord.api_base, "gateway_url": fake_discord.gateway_url},
        providers={"fake": {"kind": FAKE_KIND, "flag": True}},
    )
    point_at(settings.discord.api_base, settings.discord.gateway_url)
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as runtime:
        async with ImageBot(runtime) as client:
            await client.login(TOKEN)
            connection = asyncio.create_task(client.connect(reconnect=False))
            job = await runtime.service.submit(
                GenerationRequest("a storm", width=64, height=64),
                Requester(77, 5, 555),
                target={"channel_id": 555, "nsfw": nsfw},
            )
            await asyncio.wait_for(fake_discord.message_posted.wait(), 10)
            await client.close()
            await asyncio.wait_for(connection, 10)
        images = await runtime.store.images(job.job_id)
    assert images[0].flagged
    if nsfw:
        assert list(fake_discord.messages[0].files) == [f"SPOILER_{job.job_id}-0.png"]
    else:
        assert fake_discord.messages[0].files == {}


async def test_python_m_bot_starts_prints_the_invite_and_stops_on_sigterm(
    tmp_path: Path, fake_discord: FakeDiscord
):
    config = (
        f"[discord]\napi_base = '{fake_discord.api_base}'\n"
        f"gateway_url = '{fake_discord.gateway_url}'\n"
        f"[storage]\ndata_dir = '{tmp_path / 'data'}'\n"
        f"[providers.fake]\nkind = '{FAKE_KIND}'\n"
    )
    process = await start_bot(tmp_path, config=config, DISCORD_TOKEN=TOKEN)
    try:
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 30)
        assert line.decode().startswith("Invite the bot with: https://discord.com/oauth2/authorize")
        await asyncio.wait_for(fake_discord.identified.wait(), 10)
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
        assert process.stderr is not None
        stderr = (await process.stderr.read()).decode()
        assert "PyNaCl" not in stderr and "voice" not in stderr
        assert "Warning" not in stderr and "Waiting up to" not in stderr
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
