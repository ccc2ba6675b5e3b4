"""The buttons a status message and a result carry."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord

from bot.i18n import ENGLISH, t
from bot.jobs import Job, StoredImage
from cogs.results.buttons.base import JobButton, provider_for
from cogs.results.buttons.tools import image_tools, job_tools, tool_buttons
from engine import Mode

if TYPE_CHECKING:
    from bot.app import ImageBot


def cancel_view(job_id: int, locale: object = ENGLISH) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    label = t(locale, "Cancel")
    view.add_item(JobButton("c", job_id, label=label, style=discord.ButtonStyle.danger))
    view.stop()  # handled by the dynamic item, not kept in memory per message
    return view


def result_view(bot: ImageBot, job: Job, images: Sequence[StoredImage]) -> discord.ui.View:
    """U1-4 and V1-4, each image's tools, then the job's own buttons. A single image carries
    its tool panel itself (three rows at most); several get a 🛠 N button each, which opens
    that image's panel privately (Discord allows five rows of five)."""
    providers = bot.runtime.providers
    view = discord.ui.View(timeout=None)
    can_upscale = provider_for(bot, job, Mode.UPSCALE) is not None
    can_vary = provider_for(bot, job, Mode.IMG2IMG) is not None
    shown = images[:4]
    v_row = 0 if len(shown) == 1 else 1  # a single image's panel takes rows 0 to 2
    for image in shown:
        n = image.index + 1
        if can_upscale:
            view.add_item(JobButton("u", job.job_id, image.index, label=f"U{n}", row=0))
        if can_vary:
            view.add_item(JobButton("v", job.job_id, image.index, label=f"V{n}", row=v_row))
    tools = job_tools(bot, job)
    if len(shown) == 1:
        [image] = shown
        for button in tool_buttons(job, image.index, image_tools(tools, image), 0):
            view.add_item(button)
    else:
        for image in shown:
            if image_tools(tools, image):
                label = f"{image.index + 1}"
                view.add_item(
                    JobButton("x", job.job_id, image.index, label=label, emoji="🛠", row=2)
                )
    if providers.find(job.provider) is not None:
        view.add_item(JobButton("r", job.job_id, emoji="🔄", row=3, label="Re-roll"))
        view.add_item(JobButton("m", job.job_id, emoji="✏️", row=3, label="Remix"))
    view.add_item(JobButton("d", job.job_id, emoji="🗑️", row=3, label="Delete"))
    view.add_item(JobButton("p", job.job_id, emoji="🚩", row=3, label="Report"))
    if bot.runtime.settings.prompt_helper.enabled and job.request.mode is Mode.TXT2IMG:
        view.add_item(JobButton("h", job.job_id, emoji="✨", row=3, label="Enhance"))
    view.stop()
    return view
