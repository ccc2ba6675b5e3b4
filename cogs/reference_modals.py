"""The forms of the "Use as reference" and "Use as pose" menus: the prompt, and for a
reference its kind and weight."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.errors import Refusal
from bot.i18n import N_, locale_of
from cogs.common import answer, bot_of, explain
from cogs.results.buttons.base import defer
from engine import EngineError
from engine.types import ReferenceKind

ReferenceSubmit = Callable[[discord.Interaction[Any], str, ReferenceKind, str], Awaitable[None]]
PoseSubmit = Callable[[discord.Interaction[Any], str], Awaitable[None]]


def _prompt() -> discord.ui.TextInput[Any]:
    return discord.ui.TextInput(
        label=N_("Prompt"),
        custom_id="prompt",
        placeholder=N_("what to draw"),
        style=discord.TextStyle.paragraph,
        max_length=1500,
    )


class ReferenceModal(discord.ui.Modal, title=N_("Use as reference")):
    def __init__(self, submit: ReferenceSubmit) -> None:
        super().__init__(timeout=600)
        self.submit = submit
        self.prompt = _prompt()
        self.add_item(self.prompt)
        self.kind: discord.ui.Select[ReferenceModal] = discord.ui.Select(
            custom_id="kind",
            options=[
                discord.SelectOption(
                    label=N_("Style: its look, palette and medium"),
                    value=ReferenceKind.STYLE.value,
                    default=True,
                ),
                discord.SelectOption(
                    label=N_("Subject: the character or object in it"),
                    value=ReferenceKind.SUBJECT.value,
                ),
            ],
            required=False,
        )
        self.add_item(discord.ui.Label(text=N_("Follow its"), component=self.kind))
        self.weight: discord.ui.TextInput[ReferenceModal] = discord.ui.TextInput(
            label=N_("Weight (0 to 2)"),
            custom_id="weight",
            default="1",
            required=False,
            max_length=8,
        )
        self.add_item(self.weight)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        if not bot_of(interaction).first_time(interaction):
            return
        await defer(interaction)
        picked = self.kind.values[0] if self.kind.values else ReferenceKind.STYLE.value
        kind = ReferenceKind.SUBJECT if picked == ReferenceKind.SUBJECT else ReferenceKind.STYLE
        try:
            await self.submit(interaction, self.prompt.value.strip(), kind, self.weight.value)
        except (Refusal, EngineError) as err:
            await answer(interaction, explain(err, locale_of(interaction)))


class PoseModal(discord.ui.Modal, title=N_("Use as pose")):
    def __init__(self, submit: PoseSubmit) -> None:
        super().__init__(timeout=600)
        self.submit = submit
        self.prompt = _prompt()
        self.add_item(self.prompt)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        if not bot_of(interaction).first_time(interaction):
            return
        await defer(interaction)
        try:
            await self.submit(interaction, self.prompt.value.strip())
        except (Refusal, EngineError) as err:
            await answer(interaction, explain(err, locale_of(interaction)))
