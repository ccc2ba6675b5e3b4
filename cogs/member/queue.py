"""What can draw here and what a member has waiting: /models, /queue, /cancel and /quota."""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Choice
from discord.ext import commands

from bot.errors import JobFinished, JobNotFound, Refusal
from bot.i18n import discord_time, locale_of, t
from bot.jobs import JobStatus
from cogs import render
from cogs.common import answer, clip, explain, place_of, requester_of, runtime_of, shown
from cogs.member.help import COLOUR

if TYPE_CHECKING:
    from bot.app import ImageBot

MODELS_SHOWN = 15
FIELD_TEXT = 1024  # Discord's limits on an embed field's value, and on a whole embed
EMBED_TEXT = 6000


class Queue(commands.Cog):
    """The providers and models on offer; a member's own jobs and quota."""

    def __init__(self, bot: ImageBot) -> None:
        self.bot = bot

    @app_commands.command(description="What can draw here: providers, their models and status")
    async def models(self, interaction: discord.Interaction[Any]) -> None:
        """Each provider's status and models: for each, its family, what it takes and its
        licence, one field per provider (more where its models overflow one)."""
        runtime = runtime_of(interaction)
        locale = locale_of(interaction)
        embed = discord.Embed(title=t(locale, "Models"), colour=COLOUR)
        nsfw_here = place_of(interaction).nsfw
        for entry in runtime.providers:
            provider = entry.provider
            capabilities = provider.capabilities
            status = (
                t(locale, "unavailable: {reason}", reason=provider.unavailable)
                if provider.unavailable
                else t(locale, "ready")
            )
            names = capabilities.models or (provider.default_model,)
            modes = ", ".join(sorted(mode.value for mode in capabilities.modes))
            lines = [
                t(locale, "Status: {status}", status=status),
                t(locale, "Does: {modes}", modes=modes),
            ]
            for name in names[:MODELS_SHOWN]:
                marks = []
                if name == provider.default_model:
                    marks.append(t(locale, "default"))
                if provider.model_is_nsfw(name):
                    marks.append("NSFW" if nsfw_here else t(locale, "NSFW, not in this channel"))
                line = f"`{name}`" + (f" ({', '.join(marks)})" if marks else "")
                lines.append(f"{line}: {provider.model_info(name).summary()}")
            if len(names) > MODELS_SHOWN:
                more = len(names) - MODELS_SHOWN
                lines.append(
                    t(locale, "… and {more} more (type in /imagine's model option)", more=more)
                )
            _add_fields(embed, f"{entry.name} ({entry.settings.kind})", lines, locale)
        if not embed.fields:
            embed.description = t(locale, "No provider is configured.")
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(description="Your jobs waiting or running, with position and wait")
    async def queue(self, interaction: discord.Interaction[Any]) -> None:
        runtime = runtime_of(interaction)
        locale = locale_of(interaction)
        nothing = t(locale, "You have no jobs waiting or running.")
        jobs = await runtime.members.active(interaction.user.id)
        if not jobs:
            await answer(interaction, nothing)
            return
        lines = []
        for job in jobs:
            try:
                position = await runtime.service.position(job.job_id)
            except JobNotFound:
                continue
            line = render.status_line(dataclasses.replace(job, locale=locale), position)
            prompt = t(locale, "Prompt: {prompt}", prompt=shown(job.request.prompt, 80))
            lines.append(f"{line} {prompt}")
        await answer(interaction, "\n".join(lines) or nothing)

    @app_commands.command(description="Cancel one of your jobs, or all of them")
    @app_commands.describe(job="The job to cancel", everything="Cancel all your jobs")
    async def cancel(
        self,
        interaction: discord.Interaction[Any],
        job: int | None = None,
        everything: bool = False,
    ) -> None:
        runtime = runtime_of(interaction)
        locale = locale_of(interaction)
        user = interaction.user.id
        if everything:
            ids = [active.job_id for active in await runtime.members.active(user)]
        elif job is not None:
            ids = [job]
        else:
            await answer(
                interaction, t(locale, "Name a job (its number) or choose `everything:True`.")
            )
            return
        if not ids:
            await answer(interaction, t(locale, "You have no jobs waiting or running."))
            return
        lines = []
        for job_id in ids:
            try:
                status = await runtime.service.cancel(job_id, user)
            except Refusal as err:
                lines.append(explain(err, locale))
                continue
            if status is JobStatus.CANCELLED:
                lines.append(
                    t(locale, "Job #{job} was cancelled; your quota was refunded.", job=job_id)
                )
            elif status is JobStatus.RUNNING:
                lines.append(
                    t(locale, "Job #{job} is stopping; your quota will be refunded.", job=job_id)
                )
            else:
                lines.append(explain(JobFinished(job_id, status.value), locale))
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
        locale = locale_of(interaction)
        limits = await runtime.service.limits_for(requester_of(interaction))
        usage = await runtime.ledger.usage(interaction.user.id, limits)
        values = {
            "used": usage.used,
            "allowance": usage.allowance,
            "left": usage.remaining,
            "when": discord_time(usage.resets_at),
            "tier": limits.tier,
        }
        text = (
            t(
                locale,
                "You have used {used} of {allowance} units today in this server; {left} left. "
                "It resets {when}. Tier: {tier}.",
                **values,
            )
            if interaction.guild_id
            else t(
                locale,
                "You have used {used} of {allowance} units today in DMs and private channels; "
                "{left} left. It resets {when}. Tier: {tier}.",
                **values,
            )
        )
        everywhere = await runtime.ledger.usage_everywhere(interaction.user.id, limits)
        if everywhere is not None:
            text += " " + t(
                locale,
                "Across all servers and DMs: {used} of {allowance} used, {left} left.",
                used=everywhere.used,
                allowance=everywhere.allowance,
                left=everywhere.remaining,
            )
        if limits.cooldown:
            text += " " + t(
                locale, "One job every {seconds} s.", seconds=format(limits.cooldown, "g")
            )
        await answer(interaction, text)


def _add_fields(embed: discord.Embed, name: str, lines: list[str], locale: object) -> None:
    """Lines as fields of at most FIELD_TEXT characters, the first named ``name``, the others
    "... (more)"; what would push the embed past Discord's limits is left out."""
    chunks: list[str] = []
    for line in (clip(line, FIELD_TEXT) for line in lines):
        if chunks and len(chunks[-1]) + 1 + len(line) <= FIELD_TEXT:
            chunks[-1] += "\n" + line
        else:
            chunks.append(line)
    for index, chunk in enumerate(chunks):
        title = name if index == 0 else t(locale, "{name} (more)", name=name)
        if len(embed.fields) == 25 or len(embed) + len(title) + len(chunk) > EMBED_TEXT:
            return
        embed.add_field(name=title, value=chunk, inline=False)
