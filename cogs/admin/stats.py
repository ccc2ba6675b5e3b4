"""/admin stats: images, failures and timings."""

from __future__ import annotations

import asyncio
import io
import logging
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Range

from bot import charts
from bot.i18n import locale_of, t, tn
from bot.moderation import Stats
from cogs import render
from cogs.admin.base import COLOUR, AdminBase
from cogs.common import answer, clip

log = logging.getLogger(__name__)

CHART = "stats.png"


class StatsCommands(AdminBase):
    """/admin stats."""

    @app_commands.command(name="stats", description="Images, failures and timings")
    async def stats(
        self, interaction: discord.Interaction[Any], days: Range[int, 1, 90] = 7
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        stats = await self.runtime.moderation.stats(interaction.guild_id, days=days)
        locale = locale_of(interaction)
        none = t(locale, "none")
        embed = discord.Embed(
            title=tn(locale, "The last {count} day", "The last {count} days", days), colour=COLOUR
        )
        per_day = "\n".join(f"{day}: {n}" for day, n in stats.images_per_day[-14:]) or none
        embed.add_field(name=t(locale, "Images per day"), value=clip(per_day, 1024))
        models = "\n".join(
            t(
                locale,
                "{provider}/{model}: {images} images, {jobs} jobs",
                provider=m.provider,
                model=m.model,
                images=m.images,
                jobs=m.jobs,
            )
            for m in stats.models[:10]
        )
        embed.add_field(name=t(locale, "Providers and models"), value=clip(models or none, 1024))
        rate = f"{stats.failure_rate:.1%}" if stats.failure_rate is not None else "n/a"
        embed.add_field(
            name=t(locale, "Jobs"),
            value=t(
                locale,
                "{done} done, {failed} failed ({rate}), {cancelled} cancelled\nmedian "
                "{median}, p95 {p95}",
                done=stats.succeeded,
                failed=stats.failed,
                rate=rate,
                cancelled=stats.cancelled,
                median=render.duration(stats.median_seconds, locale),
                p95=render.duration(stats.p95_seconds, locale),
            ),
            inline=False,
        )
        top = ", ".join(f"<@{user}> ({n})" for user, n in stats.top_users) or t(
            locale, "nobody yet"
        )
        embed.add_field(name=t(locale, "Top members"), value=clip(top, 1024), inline=False)
        try:
            chart = await asyncio.to_thread(_chart, stats, days)
        except Exception:  # the numbers still go out, in text
            log.exception("Could not draw the stats chart")
            await answer(interaction, "", embed=embed)
            return
        embed.set_image(url=f"attachment://{CHART}")
        picture = discord.File(
            io.BytesIO(chart.png),
            CHART,
            description="Chart of the numbers in this message: images per day by provider, "
            "failure rate, median and p95 time per day",
        )
        await interaction.edit_original_response(content="", embed=embed, attachments=[picture])


def _chart(stats: Stats, days: int) -> charts.Chart:
    daily = stats.daily
    providers = sorted({provider for day in daily for provider in day.images})
    return charts.usage_chart(
        [day.day for day in daily],
        {name: [day.images.get(name, 0) for day in daily] for name in providers},
        [
            day.failed / (day.succeeded + day.failed) if day.failed + day.succeeded else None
            for day in daily
        ],
        [day.median_seconds for day in daily],
        [day.p95_seconds for day in daily],
        title=f"The last {days} day(s)",
    )
