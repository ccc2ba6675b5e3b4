"""/imagine's one call into the prompt helper: a prompt for a model that reads only English
is translated first, the member's own words kept for the result. Failing, it draws the
prompt as written and the result says so: the helper never stops a plain /imagine."""

from __future__ import annotations

import logging
from typing import Any

import discord

from bot.prompt_helper import HelperError
from bot.prompt_helper.tasks import TRANSLATED_FROM, UNTRANSLATED
from cogs.common import runtime_of
from cogs.prompt.screening import helper_of, screened

log = logging.getLogger(__name__)


async def for_model(
    interaction: discord.Interaction[Any], prompt: str, provider: str | None, model: str | None
) -> tuple[str, dict[str, Any]]:
    """The prompt to queue and what the job's target keeps about it. Raises as /imagine
    refuses when the member's own words are blocked here."""
    helper = helper_of(interaction)
    if helper is None:
        return prompt, {}
    entry = runtime_of(interaction).providers.get(provider)
    if not helper.english_only(entry.name, model or entry.provider.default_model):
        return prompt, {}
    await screened(interaction, prompt)  # never send blocked words to the helper
    try:
        helped = await helper.to_english(prompt)
    except HelperError as err:
        log.info("Drawing a prompt untranslated: %s", err.user_message)
        return prompt, {UNTRANSLATED: True}
    if helped is None or not helped.changed:
        return prompt, {}
    return helped.text, {TRANSLATED_FROM: prompt}
