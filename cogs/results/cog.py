"""The Results cog: it owns the sink and the two loops that keep status messages current."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands, tasks

# Importing a family of buttons registers its actions with JobButton.
from cogs.results.buttons import (  # noqa: F401
    edit,
    enhance,
    manage,
    outpaint,
    reroll,
    source_image,
    tools,
    vary,
)
from cogs.results.buttons.base import JobButton
from cogs.results.buttons.forms import on_form
from cogs.results.delivery import DiscordSink
from cogs.results.region.flow import RegionSelect

if TYPE_CHECKING:
    from bot.app import ImageBot

log = logging.getLogger(__name__)

TOKEN_SWEEP_SECONDS = 60.0  # an expired interaction token is kept at most this much longer


class Results(commands.Cog):
    """Owns the sink, the loop that keeps status messages current (and hands them over before
    their tokens are given up), and the one that drops interaction tokens once they have
    expired (delivery drops its job's own)."""

    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot
        self.sink = DiscordSink(bot)
        interval = bot.runtime.settings.discord.progress_seconds
        self.refresher = tasks.loop(seconds=interval)(self._refresh)
        self.token_sweeper = tasks.loop(seconds=TOKEN_SWEEP_SECONDS)(self.sweep_tokens)

    async def _refresh(self) -> None:
        try:
            await self.sink.refresh_queued()
        except Exception:
            log.exception("Refreshing queue positions failed")
        try:
            await self.sink.hand_over()
        except Exception:
            log.exception("Saying where late results will go failed")

    async def sweep_tokens(self) -> None:
        try:
            await self.bot.runtime.store.sweep_tokens()
        except Exception:
            log.exception("Dropping expired interaction tokens failed; trying again later")

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction[Any]) -> None:
        await on_form(interaction)

    async def cog_load(self) -> None:
        self.bot.sink = self.sink
        self.bot.add_dynamic_items(JobButton, RegionSelect)
        self.refresher.start()
        self.token_sweeper.start()

    async def cog_unload(self) -> None:
        self.refresher.cancel()
        self.token_sweeper.cancel()
        self.bot.remove_dynamic_items(JobButton, RegionSelect)
