"""The /admin command group: one cog composed of a mixin per subcommand group."""

from __future__ import annotations

from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from cogs.admin.audit import AuditLog
from cogs.admin.ban import BanCommands
from cogs.admin.checks import admin_check
from cogs.admin.config import ConfigCommands
from cogs.admin.member import MemberCommands
from cogs.admin.owner import OwnerCommands
from cogs.admin.policy import PolicyCommands
from cogs.admin.queue import QueueCommands
from cogs.admin.quota import QuotaCommands
from cogs.admin.reports import Reports
from cogs.admin.stats import StatsCommands
from cogs.admin.styles import StyleCommands
from cogs.admin.terms import TermsCommands
from cogs.admin.tier import TierCommands


# discord.py collects a cog's commands walking its bases from the last to the first, so the
# groups are listed last first: Discord shows (and syncs) them as quota, tier, ban, ... stats.
@app_commands.default_permissions(manage_guild=True)
@app_commands.allowed_installs(guilds=True, users=False)
@app_commands.allowed_contexts(guilds=True, dms=True, private_channels=False)
class Admin(
    StatsCommands,
    StyleCommands,
    AuditLog,
    ConfigCommands,
    OwnerCommands,
    MemberCommands,
    QueueCommands,
    PolicyCommands,
    TermsCommands,
    BanCommands,
    TierCommands,
    QuotaCommands,
    Reports,
    commands.GroupCog,
    group_name="admin",
    group_description="Moderate the image bot",
):
    async def interaction_check(self, interaction: discord.Interaction[Any]) -> bool:
        return await admin_check(interaction)
