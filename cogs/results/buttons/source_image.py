"""Upscale and Variation (U, V): the family of actions on one image of a result."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import discord

from bot.errors import Refusal
from cogs.common import bot_of, runtime_of
from cogs.results.buttons.base import defer, handles, kept, owned_job, private, provider_for
from cogs.results.enqueue import enqueue
from engine import GenerationRequest, Mode

VARIATION_STRENGTH = 0.6


@handles("u", "v")
async def on_source_image(
    interaction: discord.Interaction[Any], action: str, job_id: int, index: int, option: str
) -> None:
    """U and V: a new job from one image of a finished job."""
    job = await owned_job(interaction, job_id, generation=True)
    mode = Mode.UPSCALE if action == "u" else Mode.IMG2IMG
    await defer(interaction)
    images = {image.index: image for image in await runtime_of(interaction).store.images(job_id)}
    kept(interaction, job, list(images.values()))
    if index not in images:
        raise Refusal(f"Image {index + 1} of job #{job_id} no longer exists.")
    source = await asyncio.to_thread(Path(images[index].path).read_bytes)
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
            strength=VARIATION_STRENGTH,
            seed=None,
            width=images[index].width,
            height=images[index].height,
        )
    extra = {"variation": True} if mode is Mode.IMG2IMG else None
    await enqueue(
        interaction, request, provider=provider, private=await private(interaction), extra=extra
    )
