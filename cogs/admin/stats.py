"""/admin stats: images, failures and timings."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Range

from cogs import render
from cogs.admin.base import COLOUR, AdminBase
from cogs.common import answer, clip


class StatsCommands(AdminBase):
    """/admin stats."""

    @app_commands.command(name="stats", description="Images, failures and timings")
    async def stats(
        self, interaction: discord.Interaction[Any], days: Range[int, 1, 90] = 7
    ) -> None:
        stats = await self.runtime.moderation.stats(interaction.guild_id, days=days)
        embed = discord.Embed(title=f"The last {days} day(s)", colour=COLOUR)
        per_day = "\n".join(f"{day}: {n}" for day, n in stats.images_per_day[-14:]) or "none"
        embed.add_field(name="Images per day", value=clip(per_day, 1024))
        models = "\n".join(
            f"{m.provider}/{m.model}: {m.images} images, {m.jobs} jobs" for m in stats.models[:10]
        )
        embed.add_field(name="Providers and models", value=clip(models or "none", 1024))
        rate = f"{stats.failure_rate:.1%}" if stats.failure_rate is not None else "n/a"
        embed.add_field(
            name="Jobs",
            value=f"{stats.succeeded} done, {stats.failed} failed ({rate}), "
            f"{stats.cancelled} cancelled\nmedian {render.duration(stats.median_seconds)}, "
            f"p95 {render.duration(stats.p95_seconds)}",
            inline=False,
        )
        top = ", ".join(f"<@{user}> ({n})" for user, n in stats.top_users) or "nobody yet"
        embed.add_field(name="Top members", value=clip(top, 1024), inline=False)
        await answer(interaction, "", embed=embed)
