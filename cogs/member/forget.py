"""/forget-me: a member deletes their prompts, images, history and settings."""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.errors import Refusal
from bot.i18n import locale_of, t, tn
from bot.jobs import JobStatus
from cogs.common import explain, runtime_of

if TYPE_CHECKING:
    from bot.app import ImageBot


class ForgetMe(commands.Cog):
    """Deleting a member's data, after a confirmation."""

    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot

    @app_commands.command(
        name="forget-me",
        description="Delete your prompts, images, history, settings and saved styles",
    )
    async def forget_me(self, interaction: discord.Interaction[Any]) -> None:
        locale = locale_of(interaction)
        view = ForgetConfirmation(interaction.user.id, locale)
        await interaction.response.send_message(
            t(
                locale,
                "This deletes all your prompts, images, job history, settings and saved styles "
                "here, for good. Jobs still waiting are cancelled and refunded. Your quota use "
                "for today stays. Are you sure?",
            ),
            view=view,
            ephemeral=True,
        )


class ForgetConfirmation(discord.ui.View):
    def __init__(self, user_id: int, locale: object) -> None:
        super().__init__(timeout=120)
        self.user_id = user_id
        self.locale = locale
        self.confirm.label = t(locale, "Delete everything")
        self.keep.label = t(locale, "Keep my data")

    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        return interaction.user.id == self.user_id

    @discord.ui.button(label="Delete everything", style=discord.ButtonStyle.danger)
    async def confirm(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[ForgetConfirmation]
    ) -> None:
        runtime = runtime_of(interaction)
        await interaction.response.defer()
        for job in await runtime.members.active(self.user_id):
            if job.status is JobStatus.QUEUED:
                with contextlib.suppress(Refusal):
                    await runtime.service.cancel(job.job_id, self.user_id)
        try:
            deleted = await runtime.members.forget(self.user_id)
        except Refusal as err:
            text = explain(err, self.locale)
        else:
            text = tn(
                self.locale,
                "Done: {count} job, its images, your settings and your styles are deleted.",
                "Done: {count} jobs, their images, your settings and your styles are deleted.",
                deleted,
            )
        self.stop()
        await interaction.edit_original_response(content=text, view=None)

    @discord.ui.button(label="Keep my data", style=discord.ButtonStyle.secondary)
    async def keep(
        self, interaction: discord.Interaction[Any], button: discord.ui.Button[ForgetConfirmation]
    ) -> None:
        self.stop()
        await interaction.response.edit_message(
            content=t(self.locale, "Nothing was deleted."), view=None
        )
