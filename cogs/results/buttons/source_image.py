"""Upscale and Variation (U, V): the family of actions on one image of a result."""

from __future__ import annotations

from typing import Any

import discord

from cogs.common import bot_of, runtime_of
from cogs.results.buttons.base import defer, handles, owned_job, private, provider_for, source_of
from cogs.results.enqueue import enqueue
from engine import GenerationRequest, Mode


@handles("u", "v")
async def on_source_image(
    interaction: discord.Interaction[Any], action: str, job_id: int, index: int, option: str
) -> None:
    """U and V: a new job from one image of a finished job."""
    job = await owned_job(interaction, job_id, generation=True)
    mode = Mode.UPSCALE if action == "u" else Mode.IMG2IMG
    await defer(interaction)
    image, source = await source_of(interaction, job, index)
    provider = provider_for(bot_of(interaction), job, mode)
    if mode is Mode.UPSCALE:
        request = GenerationRequest(job.request.prompt, mode=mode, init_image=source)
        if provider != job.provider:
            request = request.replace(negative_prompt="")
        else:
            request = request.replace(model=job.model, negative_prompt=job.request.negative_prompt)
    else:
        request = job.request.replace(
            mode=mode,
            init_image=source,
            mask_image=None,
            extra_images=(),
            strength=runtime_of(interaction).settings.defaults.variation_strength,
            seed=None,
            width=image.width,
            height=image.height,
        )
    extra = {"variation": True} if mode is Mode.IMG2IMG else None
    await enqueue(
        interaction, request, provider=provider, private=await private(interaction), extra=extra
    )
