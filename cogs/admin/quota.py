"""/admin quota: members' daily allowances and use."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Range

from bot.i18n import locale_of, t, tn
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
            t(
                locale_of(interaction),
                "{member} has used {used} of {allowance} units today ({left} left, tier "
                "{tier}); resets {when}.",
                member=member.mention,
                used=usage.used,
                allowance=usage.allowance,
                left=usage.remaining,
                tier=limits.tier,
                when=f"<t:{int(usage.resets_at)}:R>",
            ),
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
        await answer(
            interaction,
            tn(
                locale_of(interaction),
                "Gave {member} {count} unit for today.",
                "Gave {member} {count} units for today.",
                units,
                member=member.mention,
            ),
        )

    @quota.command(name="reset", description="Bring a member's use today back to zero")
    async def quota_reset(
        self, interaction: discord.Interaction[Any], member: discord.Member, reason: str = ""
    ) -> None:
        await self.runtime.ledger.reset(
            member.id, _scope(interaction), actor_id=interaction.user.id, note=reason
        )
        await audit(interaction, "quota.reset", target_id=member.id, reason=reason)
        await answer(
            interaction,
            t(
                locale_of(interaction),
                "{member}'s use today is back to zero.",
                member=member.mention,
            ),
        )

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
        locale = locale_of(interaction)
        await answer(
            interaction,
            t(locale, "{member} now has the usual allowance.", member=member.mention)
            if daily_units is None
            else tn(
                locale,
                "{member} now has {count} unit a day.",
                "{member} now has {count} units a day.",
                daily_units,
                member=member.mention,
            ),
        )

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
        locale = locale_of(interaction)
        value = (
            t(locale, "the configured default")
            if daily_units is None
            else tn(locale, "{count} unit a day", "{count} units a day", daily_units)
        )
        await answer(
            interaction,
            t(locale, "The allowance in this server is now {value}.", value=value)
            if interaction.guild_id
            else t(
                locale, "The allowance in DMs and private channels is now {value}.", value=value
            ),
        )


def _scope(interaction: discord.Interaction[Any]) -> int:
    return interaction.guild_id or 0
