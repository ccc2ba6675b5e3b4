"""/admin style: the server's saved styles, which every member there can use."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Choice, Range

from bot.errors import Refusal
from bot.i18n import locale_of, t
from bot.styles import MAX_NAME, MAX_PARAMS, Scope
from cogs.admin.audit import audit
from cogs.admin.base import AdminBase
from cogs.admin.checks import guild_of
from cogs.common import answer
from cogs.styles import checked, choices, kept, quoted, saving_refusal, section, server_title
from engine import EngineError


class StyleCommands(AdminBase):
    """/admin style."""

    style = app_commands.Group(name="style", description="This server's saved styles")

    @style.command(name="save", description="Save a style every member here can use")
    @app_commands.describe(
        name="Its name: letters, digits, - and _ (saving an existing name replaces it)",
        prompt="Text added after the prompt, or a template where {prompt} stands for it",
        negative="Added to the negative prompt",
        parameters="Parameters it sets, such as --ar 16:9 --steps 30 (those typed in a prompt win)",
    )
    async def style_save(
        self,
        interaction: discord.Interaction[Any],
        name: Range[str, 1, MAX_NAME],
        prompt: Range[str, 1, 1500],
        negative: Range[str, 0, 1500] | None = None,
        parameters: Range[str, 1, MAX_PARAMS] | None = None,
    ) -> None:
        locale = locale_of(interaction)
        guild = guild_of(interaction)
        try:
            style = await checked(interaction, name, prompt, negative, parameters)
            replaced = await self.runtime.styles.save(
                Scope.GUILD, guild, style, actor_id=interaction.user.id
            )
        except (Refusal, EngineError) as err:
            await answer(interaction, saving_refusal(locale, err))
            return
        await audit(
            interaction,
            "style.save",
            reason=style.name,
            details={"prompt": style.prompt, "negative": style.negative, "params": style.params},
        )
        text = (
            t(locale, "Replaced the server style {name}.", name=quoted(style.name))
            if replaced
            else t(locale, "Saved the server style {name}.", name=quoted(style.name))
        )
        await answer(interaction, text + kept(locale, style))

    @style.command(name="list", description="This server's styles")
    async def style_list(self, interaction: discord.Interaction[Any]) -> None:
        server = await self.runtime.styles.styles(Scope.GUILD, guild_of(interaction))
        locale = locale_of(interaction)
        embed = section(
            locale,
            server_title(locale, len(server), self.runtime.settings.limits.max_styles_per_server),
            server,
            default=None,
            empty=t(locale, "None yet: /admin style save adds one."),
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @style.command(name="delete", description="Delete one of this server's styles")
    @app_commands.describe(name="Which style")
    async def style_delete(
        self, interaction: discord.Interaction[Any], name: Range[str, 1, MAX_NAME]
    ) -> None:
        locale = locale_of(interaction)
        deleted = await self.runtime.styles.delete(Scope.GUILD, guild_of(interaction), name)
        if deleted:
            await audit(interaction, "style.delete", reason=name.strip().lower())
        await answer(
            interaction,
            t(locale, "Deleted the server style {name}.", name=quoted(name.strip().lower()))
            if deleted
            else t(locale, "This server has no style named {name}.", name=quoted(name)),
        )

    @style_delete.autocomplete("name")
    async def server_style_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[Choice[str]]:
        if interaction.guild_id is None:
            return []
        server = await self.runtime.styles.styles(Scope.GUILD, interaction.guild_id)
        return choices(locale_of(interaction), server, current)
