"""Who may use /admin: only through the server's install, moderators, the bot's owner."""

from __future__ import annotations

import logging
from typing import Any

import discord
from discord import app_commands

from bot.errors import Refusal
from bot.i18n import N_
from cogs.common import bot_of, runtime_of

log = logging.getLogger(__name__)


# A check failure's message is an N_ literal: the error handler shows it in the member's
# language (bot.app).
class NotModerator(app_commands.CheckFailure):
    def __init__(self) -> None:
        super().__init__(
            N_("Only moderators (Manage Server, or the server's moderator role) can do that.")
        )


class NotInstalledHere(app_commands.CheckFailure):
    def __init__(self) -> None:
        super().__init__(
            N_(
                "Moderation works only in servers that added the bot; this server has not, so "
                "nothing here can be changed through your own install of the app."
            )
        )


class NotOwner(app_commands.CheckFailure):
    def __init__(self) -> None:
        super().__init__(N_("Only the bot's owner can do that."))


async def is_owner(interaction: discord.Interaction[Any]) -> bool:
    return await bot_of(interaction).is_owner(interaction.user)


async def is_moderator(interaction: discord.Interaction[Any]) -> bool:
    """Decided here from what Discord computed for this member, whatever the client showed:
    Manage Server, Administrator, the server's moderator role, or the bot's owner. In a
    server, only where the server installed the bot: through a member's own install of the
    app, whoever owns a server (the bot need not be in it) passes every permission check."""
    if interaction.guild_id is not None and not interaction.is_guild_integration():
        return False
    if await is_owner(interaction):
        return True
    if interaction.guild_id is None:
        return False
    permissions = interaction.permissions
    if permissions.manage_guild or permissions.administrator:
        return True
    role = await runtime_of(interaction).policies.guild_setting(
        interaction.guild_id, "moderator_role", 0
    )
    user = interaction.user
    return bool(role) and isinstance(user, discord.Member) and any(r.id == role for r in user.roles)


async def admin_check(interaction: discord.Interaction[Any]) -> bool:
    """Every /admin command: the server installed the bot, and the member moderates it."""
    command = interaction.command.qualified_name if interaction.command else "admin"
    if interaction.guild_id is not None and not interaction.is_guild_integration():
        log.warning(
            "Refused /%s to member %d in guild %s: not installed by the server",
            command,
            interaction.user.id,
            interaction.guild_id,
        )
        raise NotInstalledHere()
    if not await is_moderator(interaction):
        log.warning(
            "Refused /%s to member %d in guild %s: not a moderator",
            command,
            interaction.user.id,
            interaction.guild_id,
        )
        raise NotModerator()
    return True


def guild_of(interaction: discord.Interaction[Any]) -> int:
    if interaction.guild_id is None:
        raise Refusal("Use this in a server.")
    return interaction.guild_id
