"""Vary (Subtle) and Vary (Strong): img2img of one result image on the job's model, at the
owner's two strengths, with a new seed."""

from __future__ import annotations

from typing import Any

import discord

from bot.guidance import GUIDED_MODES
from bot.jobs import Job, StoredImage
from cogs.common import bot_of, runtime_of
from cogs.results.buttons.base import defer, handles, owned_job, private, source_of
from cogs.results.buttons.tools import require
from cogs.results.enqueue import enqueue
from engine import GenerationRequest, Mode

NAMES = {"s": "vary (subtle)", "t": "vary (strong)"}


def unguided(request: GenerationRequest) -> GenerationRequest:
    """The request without references and control where its mode takes none (a repaint, an
    outpaint, an edit: the image itself guides those); as it is for txt2img and img2img."""
    if request.mode in GUIDED_MODES:
        return request
    return request.replace(references=(), reference_images=(), control=None, control_image=None)


def from_image(job: Job, image: StoredImage, source: bytes, mode: Mode) -> GenerationRequest:
    """The job's request (prompts, model, steps, LoRAs, references and control where the mode
    takes them) restarted from one of its images: a new seed, the image's size, no mask or
    further images of the job's own."""
    return unguided(
        job.request.replace(
            mode=mode,
            init_image=source,
            mask_image=None,
            extra_images=(),
            strength=None,
            seed=None,
            width=image.width,
            height=image.height,
        )
    )


@handles("s", "t")
async def on_vary(
    interaction: discord.Interaction[Any], action: str, job_id: int, index: int, option: str
) -> None:
    job = await owned_job(interaction, job_id, generation=True)
    provider = require(bot_of(interaction), job, Mode.IMG2IMG)
    await defer(interaction)
    image, source = await source_of(interaction, job, index)
    defaults = runtime_of(interaction).settings.defaults
    strength = defaults.vary_subtle_strength if action == "s" else defaults.vary_strong_strength
    request = from_image(job, image, source, Mode.IMG2IMG).replace(strength=strength)
    await enqueue(
        interaction,
        request,
        provider=provider,
        private=await private(interaction),
        extra={"tool": NAMES[action], "source": [job_id, index]},
    )
