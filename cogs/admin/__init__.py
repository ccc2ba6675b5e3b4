"""/admin for moderators and the bot owner, /status for everyone, and the moderators' side of
reports. Every change is stored in SQLite and written to the audit log (and the log channel)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.admin.admin import Admin
from cogs.admin.reports import ReportButton
from cogs.admin.status import Status

if TYPE_CHECKING:
    from bot.app import ImageBot


async def setup(bot: ImageBot) -> None:
    bot.add_dynamic_items(ReportButton)
    await bot.add_cog(Admin(bot))
    await bot.add_cog(Status())
