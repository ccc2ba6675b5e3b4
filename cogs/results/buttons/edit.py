"""Edit: one result image changed as the member's instruction says, on the job's model when it
edits by instruction. The instruction may end with ``--seed`` and ``--no``."""

from __future__ import annotations

from typing import Any

import discord

from bot.errors import Refusal
from cogs.common import bot_of, runtime_of
from cogs.results.buttons.base import defer, handles, kept, owned_job, private, source_of
from cogs.results.buttons.forms import answers, form_id, open_form
from cogs.results.buttons.tools import require
from cogs.results.buttons.vary import from_image
from cogs.results.enqueue import enqueue
from cogs.results.modals import InstructionModal
from cogs.results.reprompt import EDIT, applied, read
from engine import Mode


@handles("e")
async def on_edit(
    interaction: discord.Interaction[Any], action: str, job_id: int, index: int, option: str
) -> None:
    """Edit: a form asks for the instruction (answered by ``on_instruction``)."""
    job = await owned_job(interaction, job_id, generation=True)
    require(bot_of(interaction), job, Mode.EDIT)
    kept(interaction, job)
    await open_form(interaction, InstructionModal(custom_id=form_id("e", job_id, index)))


@answers("e")
async def on_instruction(
    interaction: discord.Interaction[Any], job_id: int, index: int, fields: dict[str, str]
) -> None:
    job = await owned_job(interaction, job_id, generation=True)
    provider = require(bot_of(interaction), job, Mode.EDIT)
    instruction, params = read(interaction, fields.get("instruction", ""), "Edit", EDIT)
    if not instruction.strip():
        raise Refusal("Say what to change in the image.")
    await defer(interaction)
    image, source = await source_of(interaction, job, index)
    runtime = runtime_of(interaction)
    negative = runtime.providers.default_negative(
        provider, job.model, runtime.settings.defaults.negative_prompt
    )
    request = from_image(job, image, source, Mode.EDIT).replace(
        prompt=instruction.strip(), negative_prompt=negative
    )
    request = await applied(interaction, request, params, provider)
    await enqueue(
        interaction,
        request,
        provider=provider,
        private=await private(interaction),
        extra={"tool": "edit", "source": [job_id, index]},
    )
