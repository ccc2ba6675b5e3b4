"""/admin queue: list, cancel, pause and resume jobs."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.errors import Refusal
from bot.i18n import lazy_t, locale_of, t
from bot.jobs import Job
from bot.policy import ALL
from cogs.admin.audit import audit
from cogs.admin.base import AdminBase
from cogs.admin.checks import is_owner
from cogs.common import answer, shown


class QueueCommands(AdminBase):
    """/admin queue."""

    queue = app_commands.Group(name="queue", description="The job queue")

    @queue.command(name="list", description="Jobs waiting and running")
    async def queue_list(self, interaction: discord.Interaction[Any]) -> None:
        guild = (
            None
            if await is_owner(interaction) and interaction.guild_id is None
            else interaction.guild_id
        )
        jobs = await self.runtime.store.active(guild, limit=20)
        paused = await self.runtime.policies.paused()
        lines = [
            f"#{job.job_id} <@{job.user_id}> {job.status.value} · {job.provider}/{job.model}"
            f" · {shown(job.request.prompt, 60)}"
            for job in jobs
        ]
        locale = locale_of(interaction)
        if paused:
            lines.insert(0, t(locale, "Paused: {names}", names=", ".join(sorted(paused))))
        await answer(interaction, "\n".join(lines) or t(locale, "The queue is empty."))

    @queue.command(name="cancel", description="Cancel any job (refunded)")
    async def queue_cancel(
        self, interaction: discord.Interaction[Any], job: int, reason: str = ""
    ) -> None:
        found = await self._job_here(interaction, job)
        status = await self.runtime.service.cancel(found.job_id)
        await audit(interaction, "job.cancel", target_id=job, reason=reason)
        await answer(interaction, f"Job #{job}: {status.value}.")

    @queue.command(name="pause", description="Drain: running jobs finish, new ones wait")
    async def queue_pause(
        self, interaction: discord.Interaction[Any], provider: str | None = None, reason: str = ""
    ) -> None:
        await self._owner_only(interaction)
        name = self._provider_name(provider)
        await self.runtime.policies.set_provider_state(
            name, "paused", actor_id=interaction.user.id, reason=reason
        )
        await audit(interaction, "queue.pause", reason=reason, details={"provider": name})
        locale = locale_of(interaction)
        await answer(
            interaction,
            t(locale, "The whole queue is paused: running jobs finish, new ones wait.")
            if name == ALL
            else t(
                locale,
                "Provider {name} is paused: running jobs finish, new ones wait.",
                name=name,
            ),
        )

    @queue.command(name="resume", description="Start taking jobs again")
    async def queue_resume(
        self, interaction: discord.Interaction[Any], provider: str | None = None
    ) -> None:
        await self._owner_only(interaction)
        name = self._provider_name(provider)
        await self.runtime.policies.set_provider_state(name, None, actor_id=interaction.user.id)
        self.runtime.events.job_submitted()
        await audit(interaction, "queue.resume", details={"provider": name})
        await answer(interaction, t(locale_of(interaction), "Resumed."))

    async def _job_here(self, interaction: discord.Interaction[Any], job_id: int) -> Job:
        job = await self.runtime.store.get(job_id)
        if job is None or (
            job.guild_id != interaction.guild_id and not await is_owner(interaction)
        ):
            raise Refusal(lazy_t("There is no job {job} in this server.", job=job_id))
        return job
