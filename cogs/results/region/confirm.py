"""Repaint and Cancel on a preview: the confirmed mask becomes an INPAINT job of the same
model with a new seed, charged as any job; Cancel forgets it."""

from __future__ import annotations

import asyncio
from typing import Any

import discord

from bot.canvas import regions
from bot.i18n import locale_of, t
from bot.prompting.params import InlineParams
from cogs.results.buttons.base import private
from cogs.results.buttons.base import source_of as stored_image
from cogs.results.buttons.vary import unguided
from cogs.results.enqueue import enqueue
from cogs.results.region.common import Source, checked_job, pending_masks
from cogs.results.region.previews import preset_mask
from cogs.results.reprompt import REGION, applied, read
from engine import Mode

FORM = "Vary (Region)"


def region_prompt(interaction: discord.Interaction[Any], text: str) -> tuple[str, InlineParams]:
    """A repaint's new prompt without its parameters (empty: the job's own prompt), and the
    parameters; refused as /imagine refuses them, or where a repaint can't use them."""
    return read(interaction, text, FORM, REGION, text_needed=False)


async def repaint(
    interaction: discord.Interaction[Any], job_id: int, index: int, ref: str, prompt: str = ""
) -> None:
    """Queue the repaint the preview ``ref`` showed, with ``prompt``, else the prompt given
    with the mask, else the job's own. The preview turns into the job's status message (so it
    cannot be confirmed twice); a refusal replaces it. The prompt may end with parameters
    (``region_prompt``)."""
    job = await checked_job(interaction, job_id)  # refused before the preview is touched
    typed, params = region_prompt(interaction, prompt)
    await interaction.response.edit_message(
        content=t(locale_of(interaction), "Repainting that region…"), attachments=[], view=None
    )
    image, data = await stored_image(interaction, job, index)
    source = Source(job, image, data)
    if ref in regions.REGIONS:
        mask = await asyncio.to_thread(preset_mask, ref, source.size)
    else:
        pending = await asyncio.to_thread(
            pending_masks(interaction).take, ref, interaction.user.id, job_id, index
        )
        mask = pending.mask
        if not prompt:  # the prompt given with the mask (checked when it was given)
            typed, params = region_prompt(interaction, pending.prompt)
    request = source.job.request.replace(
        mode=Mode.INPAINT,
        prompt=typed.strip() or source.job.request.prompt,
        init_image=source.data,
        mask_image=mask,
        extra_images=(),
        strength=None,
        seed=None,
        width=source.image.width,
        height=source.image.height,
    )
    request = await applied(interaction, request, params, source.job.provider)
    await enqueue(
        interaction,
        unguided(request),
        provider=source.job.provider,
        private=await private(interaction),
        extra={"tool": "vary (region)"},
    )


async def cancel(interaction: discord.Interaction[Any], job_id: int, index: int, ref: str) -> None:
    if ref not in regions.REGIONS:
        await asyncio.to_thread(
            pending_masks(interaction).drop, ref, interaction.user.id, job_id, index
        )
    await interaction.response.edit_message(
        content=t(locale_of(interaction), "Cancelled; nothing was charged."),
        attachments=[],
        view=None,
    )
