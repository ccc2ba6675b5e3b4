"""/settings: a member's defaults for /imagine."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Choice, Range
from discord.ext import commands

from bot.errors import Refusal
from bot.i18n import locale_of, t
from cogs.catalogue import CHOICES_MAX
from cogs.common import answer, clip, explain, runtime_of
from cogs.imagine import Imagine
from cogs.styles import NO_DEFAULT, choices, default_style, quoted, refusal
from engine import EngineError, InvalidRequest

if TYPE_CHECKING:
    from bot.app import ImageBot


class Preferences(commands.Cog):
    """A member's saved defaults."""

    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot

    @app_commands.command(name="settings", description="Your defaults for /imagine")
    @app_commands.describe(
        model="Default model",
        width="Default width in pixels",
        height="Default height in pixels",
        negative="Default negative prompt",
        private="Deliver results only you can see",
        style="Your default style for /imagine (- for none)",
        reset="Forget all your defaults",
    )
    async def settings_command(
        self,
        interaction: discord.Interaction[Any],
        model: str | None = None,
        width: Range[int, 64, 2048] | None = None,
        height: Range[int, 64, 2048] | None = None,
        negative: Range[str, 0, 1500] | None = None,
        private: bool | None = None,
        style: Range[str, 1, 32] | None = None,
        reset: bool = False,
    ) -> None:
        runtime = runtime_of(interaction)
        locale = locale_of(interaction)
        user = interaction.user.id
        if reset:
            await runtime.members.clear_preferences(user)
            await answer(interaction, t(locale, "Your defaults are cleared."))
            return
        current = await runtime.members.preferences(user)
        changes: dict[str, Any] = {}
        try:
            if model is not None:
                provider, name = self._imagine.catalogue.resolve(model)
                changes["model"] = f"{provider}:{name}" if provider else name
            for field, value in (("width", width), ("height", height)):
                if value is not None:
                    if value % 8:
                        raise InvalidRequest(field, value, "a multiple of 8")
                    changes[field] = value
        except EngineError as err:
            await answer(interaction, explain(err, locale))
            return
        if negative is not None:
            changes["negative_prompt"] = negative or None
        if private is not None:
            changes["private_delivery"] = private
        if style is not None:
            try:
                changes["style"] = await default_style(interaction, style)
            except Refusal as err:
                await answer(interaction, refusal(locale_of(interaction), err))
                return
        if changes:
            current = dataclasses.replace(current, **changes)
            await runtime.members.save_preferences(user, current)
        auto = t(locale, "auto")
        size = (
            f"{current.width or auto}×{current.height or auto}"
            if current.width or current.height
            else t(locale, "the model's default")
        )
        text = t(
            locale,
            "Your defaults: model `{model}`, size {size}, negative prompt `{negative}`, "
            "private delivery {private}.",
            model=current.model or t(locale, "the server default"),
            size=size,
            negative=clip(current.negative_prompt or t(locale, "none"), 200),
            private=t(locale, "on") if current.private_delivery else t(locale, "off"),
        )
        if current.style:
            text += " " + t(locale, "Default style: {name}.", name=quoted(current.style))
        if changes:
            text = t(locale, "Saved.") + " " + text
        await answer(interaction, text)

    @settings_command.autocomplete("style")
    async def settings_style_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[Choice[str]]:
        locale = locale_of(interaction)
        usable = await runtime_of(interaction).styles.usable(
            interaction.guild_id, interaction.user.id
        )
        none = Choice(name=t(locale, "No default style"), value=NO_DEFAULT)
        return [none, *choices(locale, usable, current)][:CHOICES_MAX]

    @settings_command.autocomplete("model")
    async def settings_model_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[Choice[str]]:
        return self._imagine.catalogue.choices(current)

    @property
    def _imagine(self) -> Imagine:
        cog = self.bot.get_cog("Imagine")
        assert isinstance(cog, Imagine)
        return cog
