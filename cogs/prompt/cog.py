"""The /prompt commands: a language model enhances an idea, translates a prompt into English
or shortens it, and the member picks what to draw."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Range
from discord.ext import commands

from bot.prompt_helper import PromptHelper, Task
from cogs.prompt.offer import offer
from cogs.prompt.screening import COG_NAME

if TYPE_CHECKING:
    from bot.app import ImageBot


class PromptTools(
    commands.GroupCog,
    name=COG_NAME,
    group_name="prompt",
    group_description="Let a language model improve a prompt",
):
    def __init__(self, bot: ImageBot) -> None:
        runtime = bot.runtime
        settings = runtime.settings.prompt_helper
        key = runtime.secrets.prompt_helper_key
        self.helper = PromptHelper(
            settings,
            key.get_secret_value() if key else None,
            max_prompt=runtime.settings.limits.max_prompt_length,
        )

    async def cog_unload(self) -> None:
        await self.helper.close()

    @app_commands.command(description="Turn a short idea into a detailed prompt")
    @app_commands.describe(idea="A few words: what you'd like to see")
    async def enhance(
        self, interaction: discord.Interaction[Any], idea: Range[str, 1, 1000]
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await offer(interaction, Task.ENHANCE, idea)

    @app_commands.command(description="Translate a prompt into English")
    @app_commands.describe(text="The prompt, in any language")
    async def translate(
        self, interaction: discord.Interaction[Any], text: Range[str, 1, 1500]
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await offer(interaction, Task.TRANSLATE, text)

    @app_commands.command(description="Shorten a long prompt, keeping what matters")
    @app_commands.describe(
        text="The prompt to shorten",
        length="At most this many characters (default: what most models read)",
    )
    async def shorten(
        self,
        interaction: discord.Interaction[Any],
        text: Range[str, 1, 6000],
        length: Range[int, 40, 6000] | None = None,
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        limit = length or self.helper.settings.shorten_to
        await offer(interaction, Task.SHORTEN, text, limit=limit)
