"""Connecting a real discord.py client to the fake, and closing it cleanly."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypeVar

import discord
import yarl
from discord import app_commands

from .payloads import TOKEN
from .server import FakeDiscord

ClientT = TypeVar("ClientT", bound=discord.Client)


@asynccontextmanager
async def connected(
    bot: ClientT,
    fake: FakeDiscord,
    *,
    sync: bool = True,
    ready_timeout: float = 10,
    guild_ready_timeout: float | None = 0.05,
    reconnect: bool = False,
) -> AsyncIterator[ClientT]:
    """Points discord.py at ``fake``, logs ``bot`` in, connects it and waits for on_ready,
    syncs its command tree (global, and each of the fake's guilds that has guild commands)
    unless the bot synced during login, then closes it and restores discord.py's endpoints.

    ``guild_ready_timeout`` shortens discord.py's wait after the last GUILD_CREATE (2 s by
    default) before on_ready; None keeps the bot's own."""
    saved = discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    discord.http.Route.BASE = fake.api_base
    discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    connection: asyncio.Task[None] | None = None
    try:
        if guild_ready_timeout is not None:
            # A constructor option in discord.py with no public setter.
            bot._connection.guild_ready_timeout = guild_ready_timeout
        syncs = fake.syncs
        await bot.login(TOKEN)
        connection = asyncio.create_task(bot.connect(reconnect=reconnect))
        ready = asyncio.create_task(bot.wait_until_ready())
        done, _ = await asyncio.wait(
            {connection, ready}, timeout=ready_timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if ready not in done:
            ready.cancel()
            if connection in done:
                connection.result()
            raise TimeoutError(f"the bot was not ready within {ready_timeout}s")
        tree = getattr(bot, "tree", None)
        if sync and fake.syncs == syncs and isinstance(tree, app_commands.CommandTree):
            await tree.sync()
            for guild_id in fake.guild_ids:
                guild = discord.Object(guild_id)
                if tree.get_commands(guild=guild):
                    await tree.sync(guild=guild)
        yield bot
    finally:
        await bot.close()
        if connection is not None:
            with contextlib.suppress(asyncio.TimeoutError, discord.ConnectionClosed):
                await asyncio.wait_for(connection, 10)
        discord.http.Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = saved
