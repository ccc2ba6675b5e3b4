"""The Remix modal: a finished job's prompts, edited, queued again."""

from __future__ import annotations

from typing import Any

import discord

from bot.jobs import Job
from cogs.common import bot_of
from cogs.results.buttons.base import defer, private
from cogs.results.enqueue import enqueue


class RemixModal(discord.ui.Modal, title="Remix"):
    """The prompt, and the negative prompt where the job's model takes one."""

    def __init__(self, job: Job, negative_prompt: bool = True) -> None:
        super().__init__(timeout=600)
        self.job = job
        limit = 4000
        self.prompt: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label="Prompt",
            custom_id="prompt",
            style=discord.TextStyle.paragraph,
            default=job.request.prompt[:limit],
            max_length=limit,
        )
        self.negative: discord.ui.TextInput[RemixModal] = discord.ui.TextInput(
            label="Negative prompt",
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
        request = self.job.request.replace(
            prompt=self.prompt.value, negative_prompt=negative, seed=None
        )
        await enqueue(
            interaction,
            request,
            provider=self.job.provider,
            private=await private(interaction),
        )
