"""/admin owner: what only the bot's owner may do."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands

from bot.i18n import locale_of, t
from cogs.admin.audit import audit
from cogs.admin.base import AdminBase
from cogs.common import answer


class OwnerCommands(AdminBase):
    """/admin owner."""

    owner = app_commands.Group(name="owner", description="For the bot's owner")

    @owner.command(name="provider", description="Switch a provider on or off everywhere")
    async def owner_provider(
        self, interaction: discord.Interaction[Any], name: str, enabled: bool, reason: str = ""
    ) -> None:
        await self._owner_only(interaction)
        self._provider_name(name)
        await self.runtime.policies.set_provider_state(
            name, None if enabled else "disabled", actor_id=interaction.user.id, reason=reason
        )
        self.runtime.events.job_submitted()
        await audit(
            interaction,
            f"provider.{'enable' if enabled else 'disable'}",
            reason=reason,
            details={"provider": name},
        )
        locale = locale_of(interaction)
        await answer(
            interaction,
            t(locale, "Provider {name} is on everywhere.", name=name)
            if enabled
            else t(locale, "Provider {name} is off everywhere.", name=name),
        )
