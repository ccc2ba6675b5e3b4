"""/admin tier: quota tiers by role."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.app_commands import Range

from bot.i18n import locale_of, t
from bot.moderation import Tier
from cogs.admin.audit import audit
from cogs.admin.base import AdminBase
from cogs.admin.checks import guild_of
from cogs.common import answer


class TierCommands(AdminBase):
    """/admin tier."""

    tier = app_commands.Group(name="tier", description="Quota tiers by role")

    @tier.command(name="set", description="Limits for members with a role")
    async def tier_set(
        self,
        interaction: discord.Interaction[Any],
        role: discord.Role,
        name: Range[str, 1, 50],
        daily_units: Range[int, 0, 100_000] | None = None,
        max_queued: Range[int, 1, 100] | None = None,
        max_width: Range[int, 64, 8192] | None = None,
        max_height: Range[int, 64, 8192] | None = None,
        max_steps: Range[int, 1, 500] | None = None,
        max_count: Range[int, 1, 10] | None = None,
        cooldown_seconds: Range[float, 0.0, 86_400.0] | None = None,
        priority: Range[float, 0.1, 100.0] = 1.0,
    ) -> None:
        tier = Tier(
            guild_of(interaction),
            role.id,
            name,
            daily_units,
            max_queued,
            max_width,
            max_height,
            max_steps,
            max_count,
            cooldown_seconds,
            priority,
        )
        await self.runtime.moderation.set_tier(tier, actor_id=interaction.user.id)
        await audit(interaction, "tier.set", target_id=role.id, recorded=True)
        locale = locale_of(interaction)
        await answer(
            interaction,
            t(
                locale,
                "Tier **{name}** for {role}: {limits}.",
                name=name,
                role=role.mention,
                limits=_tier_text(tier, locale),
            ),
        )

    @tier.command(name="remove", description="Remove a role's tier")
    async def tier_remove(self, interaction: discord.Interaction[Any], role: discord.Role) -> None:
        removed = await self.runtime.moderation.remove_tier(
            guild_of(interaction), role.id, actor_id=interaction.user.id
        )
        if removed:
            await audit(interaction, "tier.remove", target_id=role.id, recorded=True)
        locale = locale_of(interaction)
        await answer(
            interaction,
            t(locale, "Removed.")
            if removed
            else t(locale, "{role} has no tier.", role=role.mention),
        )

    @tier.command(name="list", description="This server's tiers")
    async def tier_list(self, interaction: discord.Interaction[Any]) -> None:
        tiers = await self.runtime.moderation.tiers(guild_of(interaction))
        locale = locale_of(interaction)
        lines = [
            f"<@&{tier.role_id}> **{tier.name}**: {_tier_text(tier, locale)}" for tier in tiers
        ]
        none = t(locale, "No tiers: everyone has the server's limits.")
        await answer(interaction, "\n".join(lines) or none)


def _tier_text(tier: Tier, locale: object) -> str:
    parts = [
        t(locale, "{count} units/day", count=tier.daily_units)
        if tier.daily_units is not None
        else None,
        t(locale, "{count} queued", count=tier.max_queued) if tier.max_queued is not None else None,
        f"≤{tier.max_width}×{tier.max_height}" if tier.max_width or tier.max_height else None,
        t(locale, "≤{count} steps", count=tier.max_steps) if tier.max_steps is not None else None,
        t(locale, "≤{count} images", count=tier.max_count) if tier.max_count is not None else None,
        t(locale, "cooldown {seconds} s", seconds=format(tier.cooldown_seconds, "g"))
        if tier.cooldown_seconds is not None
        else None,
        t(locale, "priority {priority}", priority=format(tier.priority, "g")),
    ]
    return ", ".join(part for part in parts if part)
