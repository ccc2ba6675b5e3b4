"""The prompt helper's words meet the same checks as the member's own: bans, the server's and
channel's rules, blocked terms (and the SFW list outside age-restricted channels)."""

from __future__ import annotations

from typing import Any

import discord

from bot.prompt_helper import PromptHelper
from cogs.common import bot_of, place_of, requester_of, runtime_of
from engine import GenerationRequest

COG_NAME = "PromptTools"


async def screened(interaction: discord.Interaction[Any], text: str) -> None:
    """Raise as /imagine would refuse ``text`` as its prompt here (BlockedPrompt, a ban)."""
    place = place_of(interaction)
    request = GenerationRequest(text, nsfw_allowed=place.nsfw)
    await runtime_of(interaction).service.admit(request, requester_of(interaction))


def helper_of(interaction: discord.Interaction[Any]) -> PromptHelper | None:
    """The running helper; None where the owner left it off."""
    cog = bot_of(interaction).get_cog(COG_NAME)
    helper = getattr(cog, "helper", None)
    return helper if isinstance(helper, PromptHelper) else None
