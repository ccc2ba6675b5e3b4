"""/style save, list and delete: a member's own saved styles, theirs in every server and DM."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Choice, Range
from discord.ext import commands

from bot.errors import Refusal
from bot.i18n import locale_of, t
from bot.styles import MAX_NAME, MAX_PARAMS, Scope
from cogs.common import answer, runtime_of
from cogs.styles import checked, choices, kept, quoted, saving_refusal, section, server_title
from engine import EngineError

if TYPE_CHECKING:
    from bot.app import ImageBot


class Styles(
    commands.GroupCog, group_name="style", group_description="Your saved styles for /imagine"
):
    """A member's styles; a server's own are /admin style, and both are listed here."""

    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot

    @app_commands.command(name="save", description="Save a style: text added to your prompts")
    @app_commands.describe(
        name="Its name: letters, digits, - and _ (saving an existing name replaces it)",
        prompt="Text added after your prompt, or a template where {prompt} stands for it",
        negative="Added to the negative prompt",
        parameters="Parameters it sets, such as --ar 16:9 --steps 30 (those typed in a prompt win)",
    )
    async def save(
        self,
        interaction: discord.Interaction[Any],
        name: Range[str, 1, MAX_NAME],
        prompt: Range[str, 1, 1500],
        negative: Range[str, 0, 1500] | None = None,
        parameters: Range[str, 1, MAX_PARAMS] | None = None,
    ) -> None:
        locale = locale_of(interaction)
        runtime = runtime_of(interaction)
        try:
            style = await checked(interaction, name, prompt, negative, parameters)
            replaced = await runtime.styles.save(
                Scope.MEMBER, interaction.user.id, style, actor_id=interaction.user.id
            )
        except (Refusal, EngineError) as err:
            await answer(interaction, saving_refusal(locale, err))
            return
        text = (
            t(locale, "Replaced your style {name}.", name=quoted(style.name))
            if replaced
            else t(locale, "Saved your style {name}.", name=quoted(style.name))
        )
        hint = t(
            locale,
            "Use it with /imagine's style option, or make it your default with /settings.",
        )
        await answer(interaction, f"{text}{kept(locale, style)} {hint}")

    @app_commands.command(name="list", description="Your styles and this server's")
    async def list_styles(self, interaction: discord.Interaction[Any]) -> None:
        runtime = runtime_of(interaction)
        own = await runtime.styles.styles(Scope.MEMBER, interaction.user.id)
        guild = interaction.guild_id
        # a server's styles exist only where the server added the bot (/admin is there only)
        here = guild is not None and interaction.is_guild_integration()
        server = await runtime.styles.styles(Scope.GUILD, guild) if here and guild else None
        default = (await runtime.members.preferences(interaction.user.id)).style
        limits = runtime.settings.limits
        locale = locale_of(interaction)
        embeds = [
            section(
                locale,
                t(
                    locale,
                    "Your styles ({count} of {limit})",
                    count=len(own),
                    limit=limits.max_styles_per_member,
                ),
                own,
                default=default,
                empty=t(locale, "None yet: /style save keeps one."),
            )
        ]
        if server is not None:
            embeds.append(
                section(
                    locale,
                    server_title(locale, len(server), limits.max_styles_per_server),
                    server,
                    default=default,
                    empty=t(locale, "None: moderators add them with /admin style save."),
                )
            )
        await interaction.response.send_message(embeds=embeds, ephemeral=True)

    @app_commands.command(name="delete", description="Delete one of your styles")
    @app_commands.describe(name="Which of your styles")
    async def delete(
        self, interaction: discord.Interaction[Any], name: Range[str, 1, MAX_NAME]
    ) -> None:
        locale = locale_of(interaction)
        deleted = await runtime_of(interaction).styles.delete(
            Scope.MEMBER, interaction.user.id, name
        )
        await answer(
            interaction,
            t(locale, "Deleted your style {name}.", name=quoted(name.strip().lower()))
            if deleted
            else t(locale, "You have no style named {name}.", name=quoted(name)),
        )

    @delete.autocomplete("name")
    async def own_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[Choice[str]]:
        own = await runtime_of(interaction).styles.styles(Scope.MEMBER, interaction.user.id)
        return choices(locale_of(interaction), own, current)
