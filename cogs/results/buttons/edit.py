"""Edit: one result image changed as the member's instruction says, on the job's model when it
edits by instruction."""

from __future__ import annotations

from typing import Any

import discord

from cogs.common import bot_of, runtime_of
from cogs.results.buttons.base import handles, kept, owned_job, private, source_of
from cogs.results.buttons.tools import require
from cogs.results.buttons.vary import from_image
from cogs.results.enqueue import enqueue
from cogs.results.modals import InstructionModal
from engine import Mode


@handles("e")
async def on_edit(
    interaction: discord.Interaction[Any], action: str, job_id: int, index: int, option: str
) -> None:
    job = await owned_job(interaction, job_id, generation=True)
    provider = require(bot_of(interaction), job, Mode.EDIT)
    kept(interaction, job)

    async def submit(submitted: discord.Interaction[Any], instruction: str) -> None:
        image, source = await source_of(submitted, job, index)
        runtime = runtime_of(submitted)
        negative = runtime.providers.default_negative(
            provider, job.model, runtime.settings.defaults.negative_prompt
        )
        request = from_image(job, image, source, Mode.EDIT).replace(
            prompt=instruction, negative_prompt=negative
        )
        await enqueue(
            submitted,
            request,
            provider=provider,
            private=await private(submitted),
            extra={"tool": "edit", "source": [job_id, index]},
        )

    await interaction.response.send_modal(InstructionModal(submit))
