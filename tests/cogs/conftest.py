"""The bot as members meet it: the real ImageBot, cogs and worker against the fake Discord."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import discord
import pytest

from bot.app import ImageBot, point_at
from bot.runtime import Runtime, open_runtime
from bot.settings import LoadedSettings, Secrets, Settings
from tests.conftest import FAKE_KIND, make_settings
from tests.fakes.discord import FakeDiscord, connected
from tests.fakes.providers import FakeProvider

GUILD = 100
GENERAL = 101
ADULT = 102  # an age-restricted channel
THREAD = 103
ALICE = 201
BOB = 202
MOD = 203
ELSEWHERE = 900  # a guild the bot is not in (user-installed app)
ELSEWHERE_CHANNEL = 901


@dataclass
class World:
    fake: FakeDiscord
    bot: ImageBot
    runtime: Runtime
    settings: Settings
    restart: Callable[[], AbstractAsyncContextManager[tuple[ImageBot, Runtime]]]

    @property
    def provider(self) -> FakeProvider:
        provider = self.runtime.providers.get("fake").provider
        assert isinstance(provider, FakeProvider)
        return provider

    async def jobs(self) -> list[Any]:
        return await self.runtime.db.fetchall("SELECT * FROM jobs ORDER BY job_id")

    async def used(self, user: int, scope: int = GUILD) -> int:
        row = await self.runtime.db.fetchone(
            "SELECT COALESCE(SUM(units), 0) FROM quota_ledger WHERE user_id = ? AND scope = ?",
            (user, scope),
        )
        assert row is not None
        return int(row[0])


def build_fake(**options: Any) -> FakeDiscord:
    fake = FakeDiscord(**options)
    fake.add_guild(GUILD, name="art club")
    fake.add_channel(GENERAL, guild_id=GUILD, name="general")
    fake.add_channel(ADULT, guild_id=GUILD, name="after-dark", nsfw=True)
    fake.add_channel(THREAD, guild_id=GUILD, name="a thread", kind="thread", parent_id=GENERAL)
    fake.add_channel(ELSEWHERE_CHANNEL, guild_id=ELSEWHERE, name="not ours")
    for user, name in ((ALICE, "alice"), (BOB, "bob"), (MOD, "mod")):
        fake.add_user(user, name)
    fake.add_member(GUILD, ALICE)
    fake.add_member(GUILD, BOB)
    fake.add_member(
        GUILD, MOD, permissions=discord.Permissions(manage_messages=True, send_messages=True)
    )
    return fake


@asynccontextmanager
async def open_world(
    tmp_path: Path,
    fake_options: dict[str, Any] | None = None,
    secrets: Secrets | None = None,
    reconnect: bool = False,
    **sections: Any,
) -> AsyncIterator[World]:
    fake = build_fake(**(fake_options or {}))
    await fake.start()
    try:
        provider = {
            "kind": FAKE_KIND,
            "upscale": True,
            "describe": True,
            **sections.pop("fake", {}),
        }
        settings = make_settings(
            tmp_path,
            discord={
                "api_base": fake.api_base,
                "gateway_url": fake.gateway_url,
                "progress_seconds": 1.0,
                "attachment_origins": [f"{fake.base}/attachments/"],
                **sections.pop("discord", {}),
            },
            providers={"fake": provider, **sections.pop("providers", {})},
            **sections,
        )
        point_at(settings.discord.api_base, settings.discord.gateway_url)

        @asynccontextmanager
        async def running() -> AsyncIterator[tuple[ImageBot, Runtime]]:
            async with open_runtime(
                LoadedSettings(settings, secrets or Secrets(), None)
            ) as runtime:
                bot = ImageBot(runtime)
                async with connected(bot, fake, reconnect=reconnect):
                    yield bot, runtime

        async with running() as (bot, runtime):
            yield World(fake, bot, runtime, settings, running)
    finally:
        await fake.stop()


@asynccontextmanager
async def open_local_world(
    tmp_path: Path, local: dict[str, Any], **sections: Any
) -> AsyncIterator[World]:
    """The bot with the local engine (``local``: its options) as the default provider; the
    fake provider only draws, so no other provider upscales or varies."""
    defaults = {"provider": "local", **sections.pop("defaults", {})}
    async with open_world(
        tmp_path,
        fake={"upscale": False, "img2img": False},
        providers={"local": {"kind": "local", **local}},
        defaults=defaults,
        **sections,
    ) as opened:
        yield opened


@pytest.fixture
def result_cards() -> bool:
    """Results as cards, as owners run the bot; a test of both forms parametrizes this
    (``@pytest.mark.parametrize("result_cards", EITHER_FORM)``)."""
    return True


EITHER_FORM = [pytest.param(True, id="card"), pytest.param(False, id="embed")]


@pytest.fixture
async def world(tmp_path: Path, redirect: None, result_cards: bool) -> AsyncIterator[World]:
    async with open_world(tmp_path, discord={"result_cards": result_cards}) as opened:
        yield opened
