"""What every /admin command group shares: the bot, its runtime, the owner-only check."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord.ext import commands

from bot.errors import Refusal
from bot.i18n import lazy_t
from bot.policy import ALL
from cogs.admin.checks import NotOwner, is_owner

if TYPE_CHECKING:
    from bot.app import ImageBot
    from bot.runtime import Runtime


COLOUR = discord.Colour.dark_orange()


class AdminBase(commands.Cog):
    """The state and helpers shared by the /admin groups, which Admin composes into one
    command group."""

    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot

    @property
    def runtime(self) -> Runtime:
        return self.bot.runtime

    async def _owner_only(self, interaction: discord.Interaction[Any]) -> None:
        if not await is_owner(interaction):
            raise NotOwner()

    def _provider_name(self, provider: str | None) -> str:
        if provider is None:
            return ALL
        if self.runtime.providers.find(provider) is None:
            raise Refusal(
                lazy_t("There is no provider {name}; /models lists them.", name=repr(provider))
            )
        return provider
