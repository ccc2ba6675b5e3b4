"""The result buttons' modals: Remix (a job's prompts, edited, queued again), the instruction
of an edit, the factor of a custom zoom."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import discord

from bot.canvas.errors import CanvasError
from bot.canvas.outpaint import MAX_ZOOM, MIN_ZOOM
from bot.canvas.outpaint import zoom_factor as canvas_zoom
from bot.errors import Refusal
from bot.i18n import N_, lazy_t, locale_of
from bot.jobs import Job
from cogs.common import answer, bot_of, explain, shown
from cogs.results.buttons.base import defer, private
from cogs.results.enqueue import enqueue
from cogs.results.reprompt import REMIX, applied, read
from engine import EngineError


class RemixModal(discord.ui.Modal, title=N_("Remix")):
    """The prompt, and the negative prompt where the job's model takes one. The prompt may end
    with inline parameters (``--ar 16:9 --no text``; see ``cogs.results.reprompt``): they
    change the job's settings, ``--no`` adds to the negative prompt typed here."""

    def __init__(self, job: Job, negative_prompt: bool = True) -> None:
        super().__init__(timeout=600)
        self.job = job
        limit = 4000
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label=N_("Prompt"),
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            default=job.request.prompt[:limit],
            max_length=limit,
        )
        self.negative: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label=N_("Negative prompt"),
            custom_id="negative",
            style=discord.TextStyle.paragraph,
            default=job.request.negative_prompt[:limit] or None,
            required=False,
            max_length=limit,
        )
        self.add_item(self.prompt)
        if negative_prompt:
            self.add_item(self.negative)

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        if not bot_of(interaction).first_time(interaction):
            return
        await defer(interaction)
        negative = self.negative.value if self.negative in self.children else ""
        try:
            prompt, params = read(interaction, self.prompt.value, "Remix", REMIX)
            request = self.job.request.replace(prompt=prompt, negative_prompt=negative, seed=None)
            request = await applied(interaction, request, params, self.job.provider)
        except (Refusal, EngineError) as err:
            await answer(interaction, explain(err, locale_of(interaction)))
            return
        await enqueue(
            interaction,
            request,
            provider=self.job.provider,
            private=await private(interaction),
        )


Submit = Callable[[discord.Interaction[Any], str], Awaitable[None]]


class InstructionModal(discord.ui.Modal, title=N_("Edit image")):
    """Asks what to change in an image. Built with a ``custom_id`` from ``forms.form_id`` it
    is a stateless form; with ``submit`` it queues the edit itself (the message menu's)."""

    instruction: discord.ui.TextInput[InstructionModal] = discord.ui.TextInput(
        label=N_("What should change?"),
        custom_id="instruction",
        placeholder=N_("make it night; remove the car; put this logo on the mug"),
        style=discord.TextStyle.paragraph,
        max_length=1500,
    )

    def __init__(self, submit: Submit | None = None, *, custom_id: str | None = None) -> None:
        if custom_id is None:
            super().__init__(timeout=600)
        else:
            super().__init__(timeout=600, custom_id=custom_id)
        self.submit = submit

    async def on_submit(self, interaction: discord.Interaction[Any]) -> None:
        if self.submit is None or not bot_of(interaction).first_time(interaction):
            return
        await defer(interaction)
        try:
            await self.submit(interaction, self.instruction.value.strip())
        except (Refusal, EngineError) as err:
            await answer(interaction, explain(err, locale_of(interaction)))


class ZoomModal(discord.ui.Modal, title=N_("Custom Zoom")):
    """Asks how far to zoom out, 1 to 2 times (a stateless form, see ``forms``)."""

    factor: discord.ui.TextInput[ZoomModal] = discord.ui.TextInput(
        label=f"Zoom out by ({MIN_ZOOM:g} to {MAX_ZOOM:g})",
        custom_id="factor",
        placeholder="1.25",
        max_length=8,
    )

    def __init__(self, custom_id: str) -> None:
        super().__init__(timeout=600, custom_id=custom_id)


def zoom_factor(text: str) -> float:
    """A custom zoom as a member typed it ("1.3", "1,3", "1.3x"), within the range."""
    try:
        return canvas_zoom(text.strip().replace(",", "."))
    except CanvasError:
        raise Refusal(
            lazy_t(
                "Zoom Out takes a factor from {low} to {high} (you wrote {text}); 1.5 shows half "
                "as much again.",
                low=format(MIN_ZOOM, "g"),
                high=format(MAX_ZOOM, "g"),
                text=shown(text, 20) or "—",
            )
        ) from None
