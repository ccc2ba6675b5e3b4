"""Re-roll and Remix: the whole job again, with a new seed or with edited prompts."""

from __future__ import annotations

from typing import Any

import discord

from bot.i18n import locale_of
from cogs.common import bot_of, in_language
from cogs.results.buttons.base import defer, handles, kept, owned_job, private
from cogs.results.enqueue import enqueue
from cogs.results.modals import RemixModal


@handles("r")
async def on_reroll(
    interaction: discord.Interaction[Any], action: str, job_id: int, index: int, option: str
) -> None:
    job = await owned_job(interaction, job_id, generation=True)
    kept(interaction, job)
    await defer(interaction)
    await enqueue(
        interaction,
        job.request.replace(seed=None),
        provider=job.provider,
        private=await private(interaction),
        extra={"variation": True} if job.target.get("variation") else None,
    )


@handles("m")
async def on_remix(
    interaction: discord.Interaction[Any], action: str, job_id: int, index: int, option: str
) -> None:
    job = await owned_job(interaction, job_id, generation=True)
    kept(interaction, job)
    own = bot_of(interaction).runtime.providers.find(job.provider)
    negative = own is None or own.provider.model_info(job.model).negative_prompt
    modal = RemixModal(job, negative_prompt=negative)
    await interaction.response.send_modal(in_language(modal, locale_of(interaction)))
