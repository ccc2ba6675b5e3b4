"""/admin audit, and the audit trail every moderator action leaves (and the log channel)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

import discord
from discord import app_commands
from discord.app_commands import Range

from bot.i18n import locale_of, t
from cogs.admin.base import AdminBase
from cogs.common import answer, bot_of, clip, runtime_of

if TYPE_CHECKING:
    from bot.app import ImageBot

log = logging.getLogger(__name__)

AUDIT_PAGE = 10


async def audit(
    interaction: discord.Interaction[Any],
    action: str,
    *,
    target_id: int | None = None,
    reason: str = "",
    details: dict[str, Any] | None = None,
    recorded: bool = False,
) -> None:
    """Record a moderator action (unless the store already did) and mirror it to the
    server's log channel when one is set."""
    runtime = runtime_of(interaction)
    if not recorded:
        await runtime.moderation.record(
            guild_id=interaction.guild_id,
            actor_id=interaction.user.id,
            action=action,
            target_id=target_id,
            reason=reason,
            details=details,
        )
    await post_log(
        bot_of(interaction), interaction.guild_id, interaction.user.id, action, target_id, reason
    )


async def post_log(
    bot: ImageBot,
    guild_id: int | None,
    actor_id: int,
    action: str,
    target_id: int | None,
    reason: str,
) -> None:
    channel_id = await bot.runtime.policies.guild_setting(guild_id, "log_channel", 0)
    if not channel_id:
        return
    target = f" → {target_id}" if target_id is not None else ""
    why = f": {clip(reason, 300)}" if reason else ""
    try:
        await bot.get_partial_messageable(int(channel_id)).send(
            f"`{action}` by <@{actor_id}>{target}{why}",
            allowed_mentions=discord.AllowedMentions.none(),
        )
    except discord.HTTPException as err:
        log.warning("Could not write to the log channel %s: %s", channel_id, err)


class AuditLog(AdminBase):
    """/admin audit: what moderators did."""

    @app_commands.command(name="audit", description="What moderators did, newest first")
    async def audit_log(
        self, interaction: discord.Interaction[Any], page: Range[int, 1, 10_000] = 1
    ) -> None:
        guild = interaction.guild_id
        entries = await self.runtime.moderation.audit(guild, page=page - 1, per_page=AUDIT_PAGE)
        lines = [
            f"<t:{int(e.created_at)}:f> <@{e.actor_id}> `{e.action}`"
            + (f" → {e.target_id}" if e.target_id is not None else "")
            + (f": {clip(e.reason, 80)}" if e.reason else "")
            for e in entries.entries
        ]
        head = t(
            locale_of(interaction),
            "Audit log, page {page} of {pages} ({total} entries)",
            page=entries.page + 1,
            pages=entries.pages,
            total=entries.total,
        )
        await answer(interaction, "\n".join([head, *lines]))
