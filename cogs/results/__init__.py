"""Jobs as members see them: the status message with its Cancel button and progress, the
result with its buttons, and delivery after the interaction token has expired."""

from __future__ import annotations

from typing import TYPE_CHECKING

from cogs.results.cog import Results

if TYPE_CHECKING:
    from bot.app import ImageBot


async def setup(bot: ImageBot) -> None:
    await bot.add_cog(Results(bot))
