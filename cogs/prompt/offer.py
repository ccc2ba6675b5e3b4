"""A helped prompt offered to its member: checked, shown privately, with "Imagine this",
"Use original" and "✨ Enhance" (live buttons, as Remix's form is: they end with the reply)."""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.errors import BlockedPrompt, Refusal
from bot.i18n import locale_of, t
from bot.prompt_helper import HelperError, HelperRefused, Task
from bot.prompt_helper.helper import Helped
from cogs.common import answer, bot_of, explain
from cogs.prompt.screening import helper_of, screened
from engine import EngineError

log = logging.getLogger(__name__)

VIEW_SECONDS = 600.0  # within the 15 minutes the reply's token lasts
SHOWN = 1700  # of a prompt, inside the reply's 2000 characters


def worded(locale: str, error: Exception) -> str:
    """An expected error in the member's language."""
    if isinstance(error, HelperRefused):
        reason: str = error.values.get("why", "")  # one of the client's N_-marked reasons
        why = t(locale, reason)
        return t(locale, error.template, **{**error.values, "why": why})
    if isinstance(error, HelperError):
        return t(locale, error.template, **error.values)
    return explain(error, locale)


async def offer(
    interaction: discord.Interaction[Any],
    task: Task,
    text: str,
    *,
    original: str | None = None,
    limit: int | None = None,
) -> None:
    """Run ``task`` on ``text`` for an acknowledged interaction and reply with the result and
    its buttons; every refusal is a private message and nothing is queued."""
    locale = locale_of(interaction)
    helper = helper_of(interaction)
    if helper is None:
        await answer(interaction, t(locale, "The prompt helper is off on this bot."))
        return
    try:
        await screened(interaction, text)  # the member's own words first, as /imagine would
        helped = await helper.run(task, text, user_id=interaction.user.id, limit=limit)
    except (Refusal, EngineError) as err:
        await answer(interaction, worded(locale, err))
        return
    try:
        await screened(interaction, helped.text)
    except BlockedPrompt:
        await answer(
            interaction,
            t(
                locale,
                "The prompt helper suggested words that are blocked here, so its answer isn't "
                "shown; nothing was queued or charged. Try other words.",
            ),
        )
        return
    except (Refusal, EngineError) as err:
        await answer(interaction, worded(locale, err))
        return
    first = original if original is not None else text
    await answer(
        interaction,
        _shown(locale, task, helped),
        view=PromptView(interaction.user.id, locale, helped.text, first),
    )


def _shown(locale: str, task: Task, helped: Helped) -> str:
    if task is Task.ENHANCE:
        title = t(locale, "Enhanced prompt:")
    elif task is Task.SHORTEN:
        title = t(locale, "Shortened prompt ({length} characters):", length=len(helped.text))
    elif helped.changed:
        title = t(locale, "In English:")
    else:
        title = t(locale, "That reads as English already; nothing to translate:")
    prompt = helped.text if len(helped.text) <= SHOWN else helped.text[: SHOWN - 1] + "…"
    return f"{title}\n```\n{prompt}\n```"


class PromptView(discord.ui.View):
    """For the member who asked only."""

    def __init__(self, owner_id: int, locale: str, prompt: str, original: str) -> None:
        super().__init__(timeout=VIEW_SECONDS)
        self.owner_id = owner_id
        self.prompt = prompt
        self.original = original
        for label, style, callback in (
            (t(locale, "Imagine this"), discord.ButtonStyle.primary, self._imagine_this),
            (t(locale, "Use original"), discord.ButtonStyle.secondary, self._use_original),
            (t(locale, "Enhance"), discord.ButtonStyle.secondary, self._enhance),
        ):
            button: discord.ui.Button[PromptView] = discord.ui.Button(
                label=label, style=style, emoji="✨" if callback == self._enhance else None
            )
            button.callback = callback  # type: ignore[method-assign]
            self.add_item(button)

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        if not bot_of(interaction).first_time(interaction):
            return False
        if interaction.user.id != self.owner_id:
            await interaction.response.send_message(
                t(locale_of(interaction), "Only the member who asked can use these buttons."),
                ephemeral=True,
            )
            return False
        return True

    async def _imagine_this(self, interaction: discord.Interaction[Any]) -> None:
        await imagine(interaction, self.prompt)

    async def _use_original(self, interaction: discord.Interaction[Any]) -> None:
        await imagine(interaction, self.original)

    async def _enhance(self, interaction: discord.Interaction[Any]) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        await offer(interaction, Task.ENHANCE, self.prompt, original=self.original)


async def imagine(interaction: discord.Interaction[Any], prompt: str) -> None:
    """/imagine with ``prompt`` and the member's defaults, through the command itself: the same
    checks, quota and policy as if they had typed it."""
    cog = bot_of(interaction).get_cog("Imagine")
    command = getattr(cog, "imagine", None)
    if command is None:
        await interaction.response.send_message(
            t(locale_of(interaction), "/imagine isn't available on this bot."), ephemeral=True
        )
        return
    await command.callback(cog, interaction, prompt)
