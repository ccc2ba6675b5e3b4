"""/status for everyone: providers, queue and wait; the process's vitals for the owner."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot import freespace
from bot.i18n import locale_of, t
from bot.policy import ALL
from cogs import render
from cogs.admin.base import COLOUR
from cogs.admin.checks import is_owner
from cogs.common import clip, runtime_of


class Status(commands.Cog):
    @app_commands.command(name="status", description="Is the bot up: providers, queue, wait")
    async def status(self, interaction: discord.Interaction[Any]) -> None:
        runtime = runtime_of(interaction)
        locale = locale_of(interaction)
        depth = await runtime.store.depth()
        states = await runtime.policies.provider_states()
        embed = discord.Embed(title=t(locale, "Image bot status"), colour=COLOUR)
        if ALL in states:
            embed.description = t(
                locale, "The queue is paused for maintenance: new jobs wait until it resumes."
            )
        if short := await freespace.current_shortage(runtime.settings):
            notice = t(locale, freespace.NOTICE)
            embed.description = f"{embed.description or ''}\n{notice}".strip()
        for entry in list(runtime.providers)[:20]:
            provider = entry.provider
            queued, running = depth.get(entry.name, (0, 0))
            state = states.get(entry.name)
            health = state or (
                t(locale, "unavailable: {reason}", reason=provider.unavailable)
                if provider.unavailable
                else t(locale, "ready")
            )
            mean = await runtime.store.mean_duration(entry.name, provider.default_model)
            wait = (queued + running) * mean / entry.settings.concurrency if mean else None
            loaded = ", ".join(provider.loaded_models()) or t(locale, "none")
            lines = (
                health,
                t(locale, "{queued} waiting, {running} running", queued=queued, running=running),
                t(
                    locale,
                    "a new job starts in about {wait}",
                    wait=render.duration(wait or 0.0, locale),
                ),
                t(locale, "loaded: {models}", models=loaded),
            )
            embed.add_field(name=entry.name, value=clip("\n".join(lines), 1024))
        if await is_owner(interaction):
            vitals = _vitals() + (f"\nNo new jobs: {short}." if short else "")
            embed.add_field(name="Process (owner only)", value=vitals, inline=False)
            accounts = [
                f"{entry.name}: {line}"
                for entry in list(runtime.providers)[:20]
                if (line := entry.provider.owner_status())
            ]
            if accounts:
                embed.add_field(
                    name=t(locale_of(interaction), "Provider accounts (owner only)"),
                    value=clip("\n".join(accounts), 1024),
                    inline=False,
                )
        await interaction.response.send_message(embed=embed, ephemeral=True)


def _vitals() -> str:
    """What a leak would show first: tasks, memory, open files."""
    tasks = len(asyncio.all_tasks())
    try:
        status = Path("/proc/self/status").read_text()
        rss = next(
            int(line.split()[1]) // 1024
            for line in status.splitlines()
            if line.startswith("VmRSS:")
        )
        files = len(os.listdir("/proc/self/fd"))
    except (OSError, StopIteration):
        return f"{tasks} asyncio tasks"
    return f"{tasks} asyncio tasks, {rss} MiB resident, {files} open files"
