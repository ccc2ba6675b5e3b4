"""Zoom Out (1.5×, 2×, custom), Pan (⬅️➡️⬆️⬇️) and Make Square: one result image on a padded
canvas, the padding masked, outpainted with the job's prompt on the job's model."""

from __future__ import annotations

import asyncio
import io
import math
from typing import TYPE_CHECKING, Any

import discord
from PIL import Image

from bot.canvas.errors import CanvasError
from bot.canvas.outpaint import Canvas, Limits, make_square, pan, zoom_out
from bot.errors import Refusal
from bot.i18n import lazy_t
from bot.jobs import Job
from cogs.common import bot_of
from cogs.results.buttons.base import defer, handles, kept, owned_job, private, source_of
from cogs.results.buttons.forms import answers, form_id, open_form
from cogs.results.buttons.tools import require
from cogs.results.buttons.vary import from_image
from cogs.results.enqueue import enqueue
from cogs.results.modals import ZoomModal, zoom_factor
from engine import GenerationRequest, Mode

if TYPE_CHECKING:
    from bot.app import ImageBot

ZOOMS = {"1.5": 1.5, "2": 2.0}
PANS = {"l": "left", "r": "right", "u": "up", "d": "down"}
GROWTH = 4  # a pan's or square's canvas: at most this many times the model's usual pixels


def plan(action: str, option: str) -> tuple[str, float | str | None]:
    """What a button asks for, from its custom id (hostile: a forged option is refused)."""
    if action == "z" and option in ZOOMS:
        return f"zoom out {option}×", ZOOMS[option]
    if action == "n" and option in PANS:
        return f"pan {PANS[option]}", option
    if action == "q" and not option:
        return "make square", None
    raise Refusal("That button is not one this bot makes.")


@handles("z", "n", "q")
async def on_outpaint(
    interaction: discord.Interaction[Any], action: str, job_id: int, index: int, option: str
) -> None:
    job = await owned_job(interaction, job_id, generation=True)
    provider = require(bot_of(interaction), job, Mode.OUTPAINT)
    if action == "z" and option == "c":  # a form is only ever a first answer
        kept(interaction, job)
        await open_form(interaction, ZoomModal(form_id("z", job_id, index)))
        return
    name, how = plan(action, option)
    await defer(interaction)
    await outpaint(interaction, job, index, provider, name, how)


@answers("z")
async def on_custom_zoom(
    interaction: discord.Interaction[Any], job_id: int, index: int, fields: dict[str, str]
) -> None:
    factor = zoom_factor(fields.get("factor", ""))
    job = await owned_job(interaction, job_id, generation=True)
    provider = require(bot_of(interaction), job, Mode.OUTPAINT)
    await defer(interaction)
    await outpaint(interaction, job, index, provider, f"zoom out {factor:g}×", factor)


async def outpaint(
    interaction: discord.Interaction[Any],
    job: Job,
    index: int,
    provider: str,
    name: str,
    how: float | str | None,
) -> None:
    """Queue the outpaint of image ``index``: ``how`` is a zoom factor, a pan direction, or
    None for Make Square."""
    image, source = await source_of(interaction, job, index)
    try:
        area = image.width * image.height
        limits = model_limits(bot_of(interaction), job, area, grow=not isinstance(how, float))
        canvas = await asyncio.to_thread(_canvas, source, how, limits)
    except CanvasError as err:
        raise Refusal(
            lazy_t("I can't {tool} this image: {reason}.", tool=name, reason=str(err))
        ) from None
    except ValueError:  # Limits: the model's sizes and the bot's leave no canvas at all
        raise Refusal(
            lazy_t(
                "I can't {tool} on {model}: its sizes leave no room.", tool=name, model=job.model
            )
        ) from None
    width, height = canvas.size
    request = from_image(job, image, source, Mode.OUTPAINT).replace(
        init_image=_png(canvas.image), mask_image=_png(canvas.mask), width=width, height=height
    )
    await enqueue(
        interaction,
        request,
        provider=provider,
        private=await private(interaction),
        extra={"tool": name, "source": [job.job_id, index]},
    )


def model_limits(bot: ImageBot, job: Job, area: int, *, grow: bool) -> Limits:
    """The sizes the job's model takes, within the bot's limits. A zoom keeps the model's
    usual pixel count (or the image's own, when it was drawn larger), so it shows more around
    a smaller subject; a pan or a square canvas grows, up to ``GROWTH`` times that."""
    entry = bot.runtime.providers.get(job.provider)
    caps, limits = entry.provider.capabilities, bot.runtime.settings.limits
    usual = entry.provider.prepare(GenerationRequest("size", model=job.model)).size
    max_side = min(caps.max_size, limits.max_width, limits.max_height)
    multiple = math.lcm(caps.size_multiple, entry.provider.model_info(job.model).size_multiple)
    pixels = max(usual[0] * usual[1], area) * (GROWTH if grow else 1)
    pixels = min(pixels, limits.max_width * limits.max_height, max_side * max_side)
    return Limits(
        max_pixels=pixels, min_side=max(64, caps.min_size), max_side=max_side, multiple=multiple
    )


def _canvas(source: bytes, how: float | str | None, limits: Limits) -> Canvas:
    with Image.open(io.BytesIO(source)) as opened:
        image = opened.convert("RGB")
    if how is None:
        return make_square(image, limits)
    if isinstance(how, str):
        return pan(image, how, limits)
    return zoom_out(image, how, limits)


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
