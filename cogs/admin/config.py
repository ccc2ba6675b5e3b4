"""/admin config: the moderator role, report and log channels."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.i18n import locale_of, t
from cogs.admin.audit import audit
from cogs.admin.base import AdminBase
from cogs.admin.checks import guild_of
from cogs.common import answer


class ConfigCommands(AdminBase):
    """/admin config."""

    @app_commands.command(name="config", description="Moderator role, report and log channels")
    async def config(
        self,
        interaction: discord.Interaction[Any],
        moderator_role: discord.Role | None = None,
        report_channel: discord.TextChannel | None = None,
        log_channel: discord.TextChannel | None = None,
        buttons_everyone: bool | None = None,
    ) -> None:
        guild = guild_of(interaction)
        settings = self.runtime.policies
        changes: dict[str, Any] = {}
        for key, value in (
            ("moderator_role", moderator_role.id if moderator_role else None),
            ("report_channel", report_channel.id if report_channel else None),
            ("log_channel", log_channel.id if log_channel else None),
            ("buttons_everyone", buttons_everyone),
        ):
            if value is not None:
                await settings.set_guild_setting(guild, key, value)
                changes[key] = value
        if changes:
            await audit(interaction, "config", details=changes)
        role = await settings.guild_setting(guild, "moderator_role", 0)
        reports = await settings.guild_setting(guild, "report_channel", 0)
        logs = await settings.guild_setting(guild, "log_channel", 0)
        everyone = await settings.guild_setting(guild, "buttons_everyone", False)
        locale = locale_of(interaction)
        text = t(
            locale,
            "Moderator role: {role}; reports go to {reports}; log channel: {logs}; everyone may "
            "use result buttons: {everyone}.",
            role=f"<@&{role}>" if role else t(locale, "none"),
            reports=f"<#{reports}>" if reports else t(locale, "nowhere yet"),
            logs=f"<#{logs}>" if logs else t(locale, "none"),
            everyone=t(locale, "yes") if everyone else t(locale, "no"),
        )
        await answer(interaction, t(locale, "Saved.") + " " + text if changes else text)
