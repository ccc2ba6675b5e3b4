"""The buttons a status message and a result carry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord

from bot.jobs import Job, StoredImage
from cogs.results.buttons.base import JobButton, provider_for
from engine import Mode

if TYPE_CHECKING:
    from bot.app import ImageBot


def cancel_view(job_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton("c", job_id, label="Cancel", style=discord.ButtonStyle.danger))
    view.stop()  # handled by the dynamic item, not kept in memory per message
    return view


def result_view(bot: ImageBot, job: Job, images: Sequence[StoredImage]) -> discord.ui.View:
    providers = bot.runtime.providers
    view = discord.ui.View(timeout=None)
    can_upscale = provider_for(bot, job, Mode.UPSCALE) is not None
    can_vary = provider_for(bot, job, Mode.IMG2IMG) is not None
    for image in images[:4]:
        n = image.index + 1
        if can_upscale:
            view.add_item(JobButton("u", job.job_id, image.index, label=f"U{n}", row=0))
        if can_vary:
            view.add_item(JobButton("v", job.job_id, image.index, label=f"V{n}", row=1))
    if providers.find(job.provider) is not None:
        view.add_item(JobButton("r", job.job_id, emoji="🔄", row=2, label="Re-roll"))
        view.add_item(JobButton("m", job.job_id, emoji="✏️", row=2, label="Remix"))
    view.add_item(JobButton("d", job.job_id, emoji="🗑️", row=2, label="Delete"))
    view.add_item(JobButton("p", job.job_id, emoji="🚩", row=2, label="Report"))
    view.stop()
    return view
