"""A member's past jobs: /history with its page buttons, and /show to post one again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Range
from discord.ext import commands

from bot.errors import Refusal
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
        content, view = await history_page(interaction, interaction.user.id, page - 1)
        await answer(interaction, content, view=view)

    @app_commands.command(description="Post one of your results again, with its buttons")
    @app_commands.describe(job="The job's number")
    async def show(self, interaction: discord.Interaction[Any], job: int) -> None:
        runtime = runtime_of(interaction)
        found = await runtime.store.get(job)
        if found is None or found.user_id != interaction.user.id:
            await answer(interaction, f"There is no job {job} of yours.")
            return
        if found.status is not JobStatus.SUCCEEDED or found.request.mode is Mode.DESCRIBE:
            await answer(  # a description's ended line is its caption
                interaction,
                render.ended_line(found)
                if found.status.terminal
                else f"Job #{job} is not finished yet; /queue shows where it is.",
            )
            return
        images = await runtime.store.images(job)
        if images_expired(found, images):
            keep = runtime.settings.storage.keep_results_days
            await answer(interaction, ResultExpired(job, keep).user_message)
            return
        private = (await runtime.members.preferences(interaction.user.id)).private_delivery
        if not private and (problem := missing_permissions(interaction)):
            await answer(interaction, problem)
            return
        place = place_of(interaction)
        try:
            await runtime.service.readmit(found, requester_of(interaction), nsfw_place=place.nsfw)
        except (Refusal, EngineError) as err:
            await answer(interaction, f"Job #{job} can't be shown here: {explain(err)}")
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


async def history_page(
    interaction: discord.Interaction[Any], user_id: int, page: int
) -> tuple[str, discord.ui.View]:
    history = await runtime_of(interaction).members.history(
        user_id, page=page, per_page=HISTORY_PAGE
    )
    if not history.total:
        return "You have no finished jobs.", discord.ui.View()
    lines = [f"**Your jobs** (page {history.page + 1} of {history.pages}, {history.total} in all)"]
    for job in history.jobs:
        when = f"<t:{int(job.finished_at or job.created_at)}:R>"
        lines.append(
            f"`#{job.job_id}` {job.status.value} {when} · {job.model} · "
            f"{shown(job.request.prompt, 120)}"
        )
    lines.append("Use `/show job:<number>` to post one again.")
    view = discord.ui.View(timeout=None)
    if history.page > 0:
        view.add_item(HistoryButton(user_id, history.page - 1, "◀ Newer"))
    if history.page + 1 < history.pages:
        view.add_item(HistoryButton(user_id, history.page + 1, "Older ▶"))
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
        if interaction.user.id != self.user_id:
            await answer(interaction, "This is someone else's history.")
            return
        content, view = await history_page(interaction, self.user_id, self.page)
        await interaction.response.edit_message(content=content, view=view)
