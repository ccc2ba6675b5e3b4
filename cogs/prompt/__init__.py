"""/prompt enhance, translate and shorten: the prompt helper for members, registered only where
the owner turned it on (``[prompt_helper] enabled``)."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from cogs.prompt.cog import PromptTools

if TYPE_CHECKING:
    from bot.app import ImageBot

log = logging.getLogger(__name__)


async def setup(bot: ImageBot) -> None:
    if not bot.runtime.settings.prompt_helper.enabled:
        log.info("The prompt helper is off; /prompt is not offered")
        return
    await bot.add_cog(PromptTools(bot))
