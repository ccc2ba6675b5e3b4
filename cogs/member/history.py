"""A member's past jobs: /history with its page buttons, and /show to post one again."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Range
from discord.ext import commands

from bot.errors import JobNotFound, Refusal
from bot.i18n import locale_of, t
from bot.jobs import JobStatus
from bot.retention import ResultExpired, images_expired
from cogs import render
from cogs.common import (
    answer,
    explain,
    missing_permissions,
    place_of,
    requester_of,
    runtime_of,
    shown,
)
from cogs.results.parts import DEFAULT_UPLOAD_LIMIT, result_parts, shows_flagged
from engine import EngineError, Mode

if TYPE_CHECKING:
    from bot.app import ImageBot

HISTORY_PAGE = 5


class History(commands.Cog):
    """A member's finished jobs."""

    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot

    @app_commands.command(description="Your past jobs")
    @app_commands.describe(page="Which page (1 is the newest)")
    async def history(
        self, interaction: discord.Interaction[Any], page: Range[int, 1, 10_000] = 1
    ) -> None:
        content, view = await history_page(
            interaction, interaction.user.id, page - 1, locale_of(interaction)
        )
        await answer(interaction, content, view=view)

    @app_commands.command(description="Post one of your results again, with its buttons")
    @app_commands.describe(job="The job's number")
    async def show(self, interaction: discord.Interaction[Any], job: int) -> None:
        runtime = runtime_of(interaction)
        locale = locale_of(interaction)
        found = await runtime.store.get(job)
        if found is None or found.user_id != interaction.user.id:
            await answer(interaction, explain(JobNotFound(job), locale))
            return
        found = dataclasses.replace(found, locale=locale)  # shown to the reader, in theirs
        if found.status is not JobStatus.SUCCEEDED or found.request.mode is Mode.DESCRIBE:
            await answer(  # a description's ended line is its caption
                interaction,
                render.ended_line(found)
                if found.status.terminal
                else t(
                    locale, "Job #{job} is not finished yet; /queue shows where it is.", job=job
                ),
            )
            return
        images = await runtime.store.images(job)
        if images_expired(found, images):
            keep = runtime.settings.storage.keep_results_days
            await answer(interaction, explain(ResultExpired(job, keep), locale))
            return
        private = (await runtime.members.preferences(interaction.user.id)).private_delivery
        if not private and (problem := missing_permissions(interaction, locale=locale)):
            await answer(interaction, problem)
            return
        place = place_of(interaction)
        try:
            await runtime.service.readmit(found, requester_of(interaction), nsfw_place=place.nsfw)
        except (Refusal, EngineError) as err:
            await answer(
                interaction,
                t(
                    locale,
                    "Job #{job} can't be shown here: {reason}",
                    job=job,
                    reason=explain(err, locale),
                ),
            )
            return
        await interaction.response.defer(ephemeral=private, thinking=True)
        policy = await runtime.policies.content(interaction.guild_id, interaction.channel_id)
        here = {
            "nsfw": place.nsfw and policy.nsfw,
            "flagged": policy.flagged,
        }
        limit = interaction.filesize_limit or DEFAULT_UPLOAD_LIMIT
        parts = await result_parts(
            self.bot, found, images, show_flagged=shows_flagged(here), limit=limit
        )
        for index, send in enumerate(parts.sends(None)):
            if index == 0:  # it fills the deferred answer, private or not as that was
                await interaction.followup.send(wait=True, **send)
            else:
                await interaction.followup.send(ephemeral=private, wait=True, **send)


def status_word(status: JobStatus, locale: object) -> str:
    return {
        JobStatus.QUEUED: t(locale, "queued"),
        JobStatus.RUNNING: t(locale, "running"),
        JobStatus.SUCCEEDED: t(locale, "succeeded"),
        JobStatus.FAILED: t(locale, "failed"),
        JobStatus.CANCELLED: t(locale, "cancelled"),
    }[status]


async def history_page(
    interaction: discord.Interaction[Any], user_id: int, page: int, locale: object
) -> tuple[str, discord.ui.View]:
    history = await runtime_of(interaction).members.history(
        user_id, page=page, per_page=HISTORY_PAGE
    )
    if not history.total:
        return t(locale, "You have no finished jobs."), discord.ui.View()
    lines = [
        t(
            locale,
            "**Your jobs** (page {page} of {pages}, {total} in all)",
            page=history.page + 1,
            pages=history.pages,
            total=history.total,
        )
    ]
    for job in history.jobs:
        when = f"<t:{int(job.finished_at or job.created_at)}:R>"
        lines.append(
            f"`#{job.job_id}` {status_word(job.status, locale)} {when} · {job.model} · "
            f"{shown(job.request.prompt, 120)}"
        )
    lines.append(t(locale, "Use `/show job:<number>` to post one again."))
    view = discord.ui.View(timeout=None)
    if history.page > 0:
        view.add_item(HistoryButton(user_id, history.page - 1, t(locale, "◀ Newer")))
    if history.page + 1 < history.pages:
        view.add_item(HistoryButton(user_id, history.page + 1, t(locale, "Older ▶")))
    view.stop()
    return "\n".join(lines), view


class HistoryButton(
    discord.ui.DynamicItem[discord.ui.Button[discord.ui.View]],
    template=r"hist:(?P<user>[0-9]{1,19}):(?P<page>[0-9]{1,6})",
):
    def __init__(self, user_id: int, page: int, label: str = "Page") -> None:
        super().__init__(discord.ui.Button(label=label, custom_id=f"hist:{user_id}:{page}"))
        self.user_id = user_id
        self.page = page

    @classmethod
    async def from_custom_id(
        cls,
        interaction: discord.Interaction[Any],
        item: discord.ui.Item[Any],
        match: Any,
        /,
    ) -> HistoryButton:
        return cls(int(match["user"]), int(match["page"]))

    async def callback(self, interaction: discord.Interaction[Any]) -> None:
        locale = locale_of(interaction)
        if interaction.user.id != self.user_id:
            await answer(interaction, t(locale, "This is someone else's history."))
            return
        content, view = await history_page(interaction, self.user_id, self.page, locale)
        await interaction.response.edit_message(content=content, view=view)
