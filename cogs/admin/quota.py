"""/admin quota: members' daily allowances and use."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Range

from cogs.admin.audit import audit
from cogs.admin.base import AdminBase
from cogs.admin.checks import guild_of
from cogs.common import answer, requester_of


class QuotaCommands(AdminBase):
    """/admin quota."""

    quota = app_commands.Group(name="quota", description="Members' quotas")

    @quota.command(name="view", description="A member's quota use today")
    async def quota_view(
        self, interaction: discord.Interaction[Any], member: discord.Member
    ) -> None:
        limits = await self.runtime.service.limits_for(requester_of(interaction, member))
        usage = await self.runtime.ledger.usage(member.id, limits)
        await answer(
            interaction,
            f"{member.mention} has used {usage.used} of {usage.allowance} units today "
            f"({usage.remaining} left, tier {limits.tier}); resets <t:{int(usage.resets_at)}:R>.",
        )

    @quota.command(name="grant", description="Give a member extra units for today")
    async def quota_grant(
        self,
        interaction: discord.Interaction[Any],
        member: discord.Member,
        units: Range[int, -10_000, 10_000],
        reason: str = "",
    ) -> None:
        scope = _scope(interaction)
        await self.runtime.ledger.grant(
            member.id, scope, units, actor_id=interaction.user.id, note=reason
        )
        await audit(
            interaction, "quota.grant", target_id=member.id, reason=reason, details={"units": units}
        )
        await answer(interaction, f"Gave {member.mention} {units} unit(s) for today.")

    @quota.command(name="reset", description="Bring a member's use today back to zero")
    async def quota_reset(
        self, interaction: discord.Interaction[Any], member: discord.Member, reason: str = ""
    ) -> None:
        await self.runtime.ledger.reset(
            member.id, _scope(interaction), actor_id=interaction.user.id, note=reason
        )
        await audit(interaction, "quota.reset", target_id=member.id, reason=reason)
        await answer(interaction, f"{member.mention}'s use today is back to zero.")

    @quota.command(name="set", description="A member's own daily allowance (empty: the usual)")
    async def quota_set(
        self,
        interaction: discord.Interaction[Any],
        member: discord.Member,
        daily_units: Range[int, 0, 100_000] | None = None,
    ) -> None:
        guild = guild_of(interaction)
        await self.runtime.policies.set_member_units(
            guild, member.id, daily_units, actor_id=interaction.user.id
        )
        await audit(
            interaction, "quota.set", target_id=member.id, details={"daily_units": daily_units}
        )
        text = "the usual allowance" if daily_units is None else f"{daily_units} units a day"
        await answer(interaction, f"{member.mention} now has {text}.")

    @quota.command(name="default", description="This server's daily allowance (in DMs: the bot's)")
    async def quota_default(
        self,
        interaction: discord.Interaction[Any],
        daily_units: Range[int, 0, 100_000] | None = None,
    ) -> None:
        if interaction.guild_id is None:
            await self._owner_only(interaction)
        await self.runtime.policies.set_guild_units(interaction.guild_id, daily_units)
        await audit(interaction, "quota.default", details={"daily_units": daily_units})
        where = "this server" if interaction.guild_id else "DMs and private channels"
        value = "the configured default" if daily_units is None else f"{daily_units} units a day"
        await answer(interaction, f"The allowance in {where} is now {value}.")


def _scope(interaction: discord.Interaction[Any]) -> int:
    return interaction.guild_id or 0
