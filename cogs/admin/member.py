"""/admin member: a member's prompts, and purging their results."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.i18n import locale_of, t, tn
from cogs.admin.audit import audit
from cogs.admin.base import AdminBase
from cogs.admin.checks import guild_of
from cogs.admin.reports import delete_result
from cogs.common import answer, shown


class MemberCommands(AdminBase):
    """/admin member."""

    member = app_commands.Group(name="member", description="A member's data")

    @member.command(name="prompts", description="A member's recent prompts here")
    async def member_prompts(
        self, interaction: discord.Interaction[Any], member: discord.User
    ) -> None:
        prompts = await self.runtime.moderation.recent_prompts(member.id, guild_of(interaction))
        lines = [
            f"#{job_id} <t:{int(at)}:R>: {shown(prompt, 150)}" for job_id, prompt, at in prompts
        ]
        await audit(interaction, "member.prompts", target_id=member.id)
        none = t(locale_of(interaction), "{member} has no prompts here.", member=member.mention)
        await answer(interaction, "\n".join(lines) or none)

    @member.command(name="purge", description="Delete the results the bot posted for a member here")
    async def member_purge(
        self, interaction: discord.Interaction[Any], member: discord.User, reason: str = ""
    ) -> None:
        await interaction.response.defer(ephemeral=True, thinking=True)
        deleted = 0
        for job_id, reference in await self.runtime.moderation.delivered_messages(
            member.id, guild_of(interaction)
        ):
            job = await self.runtime.store.get(job_id)
            if job is not None and await delete_result(self.bot, job, reference):
                deleted += 1
        await audit(
            interaction,
            "member.purge",
            target_id=member.id,
            reason=reason,
            details={"deleted": deleted},
        )
        await answer(
            interaction,
            tn(
                locale_of(interaction),
                "Deleted {count} result message of {member}.",
                "Deleted {count} result messages of {member}.",
                deleted,
                member=member.mention,
            ),
        )
