"""/admin ban: who may not use the bot, here or everywhere."""

from __future__ import annotations

import time
from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Range

from bot.i18n import locale_of, t
from cogs.admin.audit import audit
from cogs.admin.base import AdminBase
from cogs.admin.checks import guild_of
from cogs.common import answer, clip


class BanCommands(AdminBase):
    """/admin ban."""

    ban = app_commands.Group(name="ban", description="Who may not use the bot")

    @ban.command(name="add", description="Stop a member using the bot here")
    async def ban_add(
        self,
        interaction: discord.Interaction[Any],
        member: discord.User,
        reason: Range[str, 1, 300],
        hours: Range[float, 0.01, 100_000.0] | None = None,
        everywhere: bool = False,
    ) -> None:
        if everywhere:
            await self._owner_only(interaction)
        guild = None if everywhere else guild_of(interaction)
        expires = time.time() + hours * 3600 if hours is not None else None
        await self.runtime.moderation.ban(
            member.id,
            guild_id=guild,
            actor_id=interaction.user.id,
            reason=reason,
            expires_at=expires,
        )
        await audit(interaction, "ban", target_id=member.id, reason=reason, recorded=True)
        locale = locale_of(interaction)
        text = (
            t(locale, "{member} can't use the bot anywhere.", member=member.mention)
            if everywhere
            else t(locale, "{member} can't use the bot in this server.", member=member.mention)
        )
        if expires:
            text += " " + t(locale, "(until {when})", when=f"<t:{int(expires)}:f>")
        await answer(interaction, text)

    @ban.command(name="remove", description="Let a member use the bot again")
    async def ban_remove(
        self, interaction: discord.Interaction[Any], member: discord.User, everywhere: bool = False
    ) -> None:
        if everywhere:
            await self._owner_only(interaction)
        guild = None if everywhere else guild_of(interaction)
        lifted = await self.runtime.moderation.unban(
            member.id, guild_id=guild, actor_id=interaction.user.id
        )
        if lifted:
            await audit(interaction, "unban", target_id=member.id, recorded=True)
        locale = locale_of(interaction)
        await answer(
            interaction,
            t(locale, "Unbanned.")
            if lifted
            else t(locale, "{member} was not banned.", member=member.mention),
        )

    @ban.command(name="list", description="Members who may not use the bot here")
    async def ban_list(self, interaction: discord.Interaction[Any]) -> None:
        locale = locale_of(interaction)
        bans = await self.runtime.moderation.bans(guild_of(interaction))
        lines = [
            f"<@{b.user_id}>: {clip(b.reason, 100)}"
            + (
                " " + t(locale, "(until {when})", when=f"<t:{int(b.expires_at)}:f>")
                if b.expires_at
                else ""
            )
            for b in bans
        ]
        await answer(interaction, "\n".join(lines[:40]) or t(locale, "Nobody is banned here."))
