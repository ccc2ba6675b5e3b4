"""A member's own commands: /models, /queue, /cancel, /quota, /settings, /style, /history,
/show, /forget-me and /help. Everything is read from SQLite; answers are private."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.member.forget import ForgetMe
from cogs.member.help import Help
from cogs.member.history import History, HistoryButton
from cogs.member.preferences import Preferences
from cogs.member.queue import Queue
from cogs.member.styles import Styles

if TYPE_CHECKING:
    from bot.app import ImageBot


async def setup(bot: ImageBot) -> None:
    bot.add_dynamic_items(HistoryButton)
    await bot.add_cog(Queue(bot))
    await bot.add_cog(Preferences(bot))
    await bot.add_cog(Styles(bot))
    await bot.add_cog(History(bot))
    await bot.add_cog(ForgetMe(bot))
    await bot.add_cog(Help(bot))
