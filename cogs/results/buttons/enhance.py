"""✨ Enhance under a result: the prompt helper's richer version of the job's prompt, offered
privately with "Imagine this", as /prompt enhance offers it."""

from __future__ import annotations

from typing import Any

import discord

from bot.prompt_helper import Task
from cogs.prompt.offer import offer
from cogs.results.buttons.base import defer, handles, owned_job


@handles("h")
async def on_enhance(
    interaction: discord.Interaction[Any], action: str, job_id: int, index: int, option: str
) -> None:
    job = await owned_job(interaction, job_id, generation=True)
    await defer(interaction)
    await offer(interaction, Task.ENHANCE, job.request.prompt)
