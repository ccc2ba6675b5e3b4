"""Forms (modals) that result buttons open, answered without state: a form's custom id names
the action, job and image ("imgf:ACTION:JOB:INDEX"); its submission is read like a button's,
from the store, so a form opened before a restart is still answered after it."""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import discord

from bot.errors import Refusal
from bot.i18n import locale_of
from cogs.common import answer, bot_of, explain, in_language
from engine import EngineError

log = logging.getLogger(__name__)

# (interaction, job id, image index, the form's fields by custom id)
FormHandler = Callable[[discord.Interaction[Any], int, int, dict[str, str]], Awaitable[None]]
FORMS: dict[str, FormHandler] = {}
FORM_ID = re.compile(r"imgf:([a-z]):([0-9]{1,19}):([0-9])")
FIELD_LIMIT = 4000  # what Discord lets a text input hold


def answers(action: str) -> Callable[[FormHandler], FormHandler]:
    """Registers the handler of the form a button of ``action`` opens."""

    def register(handler: FormHandler) -> FormHandler:
        FORMS[action] = handler
        return handler

    return register


def form_id(action: str, job_id: int, index: int) -> str:
    return f"imgf:{action}:{job_id}:{index}"


async def open_form(interaction: discord.Interaction[Any], modal: discord.ui.Modal) -> None:
    """Show ``modal`` (built with a ``form_id``) as the button's first answer. Its submission
    is answered by ``on_form``, not by the instance, which is dropped at once."""
    await interaction.response.send_modal(in_language(modal, locale_of(interaction)))
    modal.stop()


async def on_form(interaction: discord.Interaction[Any]) -> None:
    """Answer a submitted form of a result button (the Results cog's interaction listener)."""
    if interaction.type is not discord.InteractionType.modal_submit:
        return
    data: Any = interaction.data or {}
    match = FORM_ID.fullmatch(str(data.get("custom_id", "")))
    handler = FORMS.get(match[1]) if match else None
    if match is None or handler is None or not bot_of(interaction).first_time(interaction):
        return
    try:
        await handler(interaction, int(match[2]), int(match[3]), dict(fields(data)))
    except (Refusal, EngineError) as err:
        await answer(interaction, explain(err, locale_of(interaction)))


def fields(data: Any) -> Iterator[tuple[str, str]]:
    """The text inputs of a submitted form, however Discord nests them (rows, labels); a
    forged payload's odd shapes and oversized values are passed over."""
    stack = list(data.get("components") or []) if isinstance(data, dict) else []
    while stack:
        component = stack.pop()
        if not isinstance(component, dict):
            continue
        stack += component.get("components") or []
        if isinstance(component.get("component"), dict):
            stack.append(component["component"])
        custom_id, value = component.get("custom_id"), component.get("value")
        if isinstance(custom_id, str) and isinstance(value, str) and len(value) <= FIELD_LIMIT:
            yield custom_id, value
