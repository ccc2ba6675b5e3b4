"""What can draw here and what a member has waiting: /models, /queue, /cancel and /quota."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.errors import JobNotFound, Refusal
from bot.jobs import JobStatus
from cogs import render
from cogs.common import answer, clip, place_of, requester_of, runtime_of, shown
from cogs.member.help import COLOUR

if TYPE_CHECKING:
    from bot.app import ImageBot


class Queue(commands.Cog):
    """The providers and models on offer; a member's own jobs and quota."""

    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot

    @app_commands.command(description="What can draw here: providers, their models and status")
    async def models(self, interaction: discord.Interaction[Any]) -> None:
        runtime = runtime_of(interaction)
        embed = discord.Embed(title="Models", colour=COLOUR)
        nsfw_here = place_of(interaction).nsfw
        for entry in list(runtime.providers)[:25]:
            provider = entry.provider
            capabilities = provider.capabilities
            status = f"unavailable: {provider.unavailable}" if provider.unavailable else "ready"
            names = capabilities.models or (provider.default_model,)
            lines = []
            for name in names[:15]:
                marks = []
                if name == provider.default_model:
                    marks.append("default")
                if provider.model_is_nsfw(name):
                    marks.append("NSFW" if nsfw_here else "NSFW, not in this channel")
                lines.append(f"`{name}`" + (f" ({', '.join(marks)})" if marks else ""))
            if len(names) > 15:
                lines.append(f"… and {len(names) - 15} more (type in /imagine's model option)")
            modes = ", ".join(sorted(mode.value for mode in capabilities.modes))
            value = f"Status: {status}\nDoes: {modes}\n" + "\n".join(lines)
            embed.add_field(name=f"{entry.name} ({entry.settings.kind})", value=clip(value, 1024))
        if not embed.fields:
            embed.description = "No provider is configured."
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(description="Your jobs waiting or running, with position and wait")
    async def queue(self, interaction: discord.Interaction[Any]) -> None:
        runtime = runtime_of(interaction)
        jobs = await runtime.members.active(interaction.user.id)
        if not jobs:
            await answer(interaction, "You have no jobs waiting or running.")
            return
        lines = []
        for job in jobs:
            try:
                position = await runtime.service.position(job.job_id)
            except JobNotFound:
                continue
            lines.append(
                f"{render.status_line(job, position)} Prompt: {shown(job.request.prompt, 80)}"
            )
        await answer(interaction, "\n".join(lines) or "You have no jobs waiting or running.")

    @app_commands.command(description="Cancel one of your jobs, or all of them")
    @app_commands.describe(job="The job to cancel", everything="Cancel all your jobs")
    async def cancel(
        self,
        interaction: discord.Interaction[Any],
        job: int | None = None,
        everything: bool = False,
    ) -> None:
        runtime = runtime_of(interaction)
        user = interaction.user.id
        if everything:
            ids = [active.job_id for active in await runtime.members.active(user)]
        elif job is not None:
            ids = [job]
        else:
            await answer(interaction, "Name a job (its number) or choose `everything:True`.")
            return
        if not ids:
            await answer(interaction, "You have no jobs waiting or running.")
            return
        lines = []
        for job_id in ids:
            try:
                status = await runtime.service.cancel(job_id, user)
            except Refusal as err:
                lines.append(err.user_message)
                continue
            if status is JobStatus.CANCELLED:
                lines.append(f"Job #{job_id} was cancelled; your quota was refunded.")
            elif status is JobStatus.RUNNING:
                lines.append(f"Job #{job_id} is stopping; your quota will be refunded.")
            else:
                lines.append(f"Job #{job_id} has already {status.value}.")
        await answer(interaction, "\n".join(lines))

    @cancel.autocomplete("job")
    async def cancel_choices(
        self, interaction: discord.Interaction[Any], current: str
    ) -> list[Choice[int]]:
        jobs = await runtime_of(interaction).members.active(interaction.user.id)
        return [
            Choice(
                name=clip(f"#{job.job_id} {job.status.value}: {job.request.prompt}", 100),
                value=job.job_id,
            )
            for job in jobs
            if current in str(job.job_id) or current.lower() in job.request.prompt.lower()
        ][:25]

    @app_commands.command(description="Your quota: used, left, when it resets, your tier")
    async def quota(self, interaction: discord.Interaction[Any]) -> None:
        runtime = runtime_of(interaction)
        limits = await runtime.service.limits_for(requester_of(interaction))
        usage = await runtime.ledger.usage(interaction.user.id, limits)
        where = "in this server" if interaction.guild_id else "in DMs and private channels"
        reset = int(usage.resets_at)
        text = (
            f"You have used {usage.used} of {usage.allowance} units today {where}; "
            f"{usage.remaining} left. It resets <t:{reset}:R> (<t:{reset}:f>). Tier: {limits.tier}."
        )
        everywhere = await runtime.ledger.usage_everywhere(interaction.user.id, limits)
        if everywhere is not None:
            text += (
                f" Across all servers and DMs: {everywhere.used} of {everywhere.allowance} used,"
                f" {everywhere.remaining} left."
            )
        if limits.cooldown:
            text += f" One job every {limits.cooldown:g} s."
        await answer(interaction, text)
