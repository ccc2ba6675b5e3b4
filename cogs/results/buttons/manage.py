"""Cancel, Delete and Report: what the requester (or a moderator) does about a job."""

from __future__ import annotations

from typing import Any

import discord

from bot.errors import JobFinished, Refusal
from bot.i18n import lazy_t, locale_of, t
from bot.jobs import JobStatus
from cogs.common import answer, bot_of, explain, is_moderator, runtime_of
from cogs.results.buttons.base import defer, handles


@handles("c")
async def on_cancel(
    interaction: discord.Interaction[Any], action: str, job_id: int, index: int, option: str
) -> None:
    runtime = runtime_of(interaction)
    job = await runtime.store.get(job_id)
    if job is None or job.user_id != interaction.user.id:
        raise Refusal("Only the member who asked for this job can cancel it.")
    status = await runtime.service.cancel(job_id, interaction.user.id)
    locale = locale_of(interaction)
    if status is JobStatus.CANCELLED:
        text = t(locale, "Job #{job} was cancelled; your quota was refunded.", job=job_id)
    elif status is JobStatus.RUNNING:
        text = t(locale, "Job #{job} is stopping…", job=job_id)
    else:
        text = explain(JobFinished(job_id, status.value), locale)
    await interaction.response.edit_message(content=text, view=None)


@handles("d")
async def on_delete(
    interaction: discord.Interaction[Any], action: str, job_id: int, index: int, option: str
) -> None:
    runtime = runtime_of(interaction)
    job = await runtime.store.get(job_id)
    if job is None or (job.user_id != interaction.user.id and not is_moderator(interaction)):
        raise Refusal("Only the member who asked for these images or a moderator can delete them.")
    await interaction.response.defer()
    await interaction.delete_original_response()


@handles("p")
async def on_report(
    interaction: discord.Interaction[Any], action: str, job_id: int, index: int, option: str
) -> None:
    runtime = runtime_of(interaction)
    await defer(interaction)
    job = await runtime.store.get(job_id)
    if job is None:
        raise Refusal(lazy_t("Job #{job} no longer exists.", job=job_id))
    message = interaction.message
    report_id, new = await runtime.members.file_report(
        job_id,
        reporter_id=interaction.user.id,
        guild_id=interaction.guild_id,  # where it was seen: a /show re-post may be elsewhere
        seen=(message.channel.id, message.id) if message is not None else None,
    )
    if new:
        bot_of(interaction).dispatch("job_reported", report_id, job)
    locale = locale_of(interaction)
    text = (
        t(locale, "Thank you: job #{job} was reported to the moderators.", job=job_id)
        if new
        else t(locale, "You have already reported job #{job}; the moderators have it.", job=job_id)
    )
    await answer(interaction, text)
