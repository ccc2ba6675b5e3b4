"""Several jobs from one /imagine (permutations, --repeat): their count and cost shown, and
nothing queued or charged until the member confirms."""

from __future__ import annotations

import contextlib
from typing import Any

import discord

from bot.i18n import locale_of, t, tn
from cogs.common import answer, clip, requester_of, runtime_of, shown
from cogs.results.enqueue import enqueue_all
from engine import GenerationRequest

CONFIRM_SECONDS = 300.0  # well inside the 15 minutes the interaction's token lasts
LISTED = 10  # prompts named in the question

Planned = list[tuple[str | None, GenerationRequest]]


async def ask_to_queue(
    interaction: discord.Interaction[Any], jobs: Planned, *, private: bool, notes: str
) -> None:
    """Price every job (each checked as it would be queued) and ask before queueing them."""
    service = runtime_of(interaction).service
    requester = requester_of(interaction)
    cost = 0
    for provider, request in jobs:
        cost += (await service.new_job(request, requester, provider=provider)).cost
    locale = locale_of(interaction)
    question = tn(
        locale,
        "This makes {count} job, costing {cost} units in all:",
        "This makes {count} jobs, costing {cost} units in all:",
        len(jobs),
        cost=cost,
    )
    prompts = [f"- {shown(request.prompt, 120)}" for _, request in jobs[:LISTED]]
    if len(jobs) > LISTED:
        prompts.append(t(locale, "- and {more} more", more=len(jobs) - LISTED))
    ask = t(locale, "Queue them? Nothing is charged until you do.")
    text = "\n".join([*([notes] if notes else []), question, *prompts, ask])
    view = QueueConfirmation(interaction, jobs, private)
    await answer(interaction, clip(text, 2000), view=view)


class QueueConfirmation(discord.ui.View):
    """Owner-checked Queue and Cancel buttons, for the few minutes the question stands."""

    def __init__(self, asked: discord.Interaction[Any], jobs: Planned, private: bool) -> None:
        super().__init__(timeout=CONFIRM_SECONDS)
        self.asked = asked
        self.jobs = jobs
        self.private = private
        locale = locale_of(asked)
        self.queue.label = tn(locale, "Queue {count} job", "Queue {count} jobs", len(jobs))
        self.drop.label = t(locale, "Cancel")

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        return interaction.user.id == self.asked.user.id

    @discord.ui.button(label="Queue", style=discord.ButtonStyle.success)
    async def queue(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[QueueConfirmation]
    ) -> None:
        self.stop()
        text = t(locale_of(interaction), "Queueing…")
        await interaction.response.edit_message(content=text, view=None)
        await enqueue_all(interaction, self.jobs, private=self.private)

    @discord.ui.button(label="Cancel", style=discord.ButtonStyle.secondary)
    async def drop(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[QueueConfirmation]
    ) -> None:
        self.stop()
        text = t(locale_of(interaction), "Nothing was queued or charged.")
        await interaction.response.edit_message(content=text, view=None)

    async def on_timeout(self) -> None:
        text = t(locale_of(self.asked), "No answer came in time: nothing was queued or charged.")
        with contextlib.suppress(discord.HTTPException):
            await self.asked.edit_original_response(content=text, view=None)
