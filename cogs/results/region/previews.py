"""The three ways to say which part, each ending in the same preview: the mask tinted over the
image, with Repaint, New prompt and Cancel. Nothing is charged here."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from typing import Any

import discord
from PIL import Image

from bot.canvas import masks, regions
from bot.canvas.errors import CanvasError
from bot.canvas.preview import preview
from bot.errors import Refusal
from bot.i18n import Text, lazy_t, locale_of, t
from cogs.attachments import AttachmentReader
from cogs.common import bot_of, runtime_of
from cogs.results.buttons.base import JobButton
from cogs.results.region.common import Source, limiter_of, pending_masks, source_of
from cogs.results.region.segmenting import segment, segmenter

REGION_GROW = 8  # pixels a preset region reaches past its edges, so the seam is repainted too
PREVIEW_NAME = "region-preview.png"


def preset_mask(key: str, size: tuple[int, int]) -> bytes:
    """The mask PNG of a preset region of an image of ``size``."""
    try:
        return masks.encode(regions.region(key, size, grow=REGION_GROW))
    except CanvasError as err:
        raise Refusal(lazy_t("That region can't be used: {reason}.", reason=str(err))) from None


async def preview_preset(
    interaction: discord.Interaction[Any], job_id: int, index: int, key: str
) -> None:
    source = await source_of(interaction, job_id, index)
    if key not in regions.REGIONS:
        raise Refusal("There is no such region; pick one from the list.")
    mask = await asyncio.to_thread(preset_mask, key, source.size)
    label = t(locale_of(interaction), regions.REGIONS[key])
    await show(interaction, source, mask, key, f"“{label}”")


async def preview_upload(
    interaction: discord.Interaction[Any],
    job_id: int,
    index: int,
    files: Sequence[discord.Attachment],
    prompt: str,
) -> None:
    source = await source_of(interaction, job_id, index)
    if len(files) != 1:
        raise Refusal("Attach one mask image: white where to repaint, black where to keep.")
    limits = runtime_of(interaction).settings
    reader = AttachmentReader(
        limits.discord.attachment_origins, limits.limits.max_input_image_bytes
    )
    try:
        data = await reader.read(files[0])
    finally:
        await reader.close()
    mask = await asyncio.to_thread(_uploaded, data, source.size)
    await _keep_and_show(interaction, source, mask, prompt, "the white part of your mask")


async def preview_named(
    interaction: discord.Interaction[Any], job_id: int, index: int, phrase: str, prompt: str
) -> None:
    source = await source_of(interaction, job_id, index)
    phrase = " ".join(phrase.split())
    if not phrase:
        raise Refusal("Say what to repaint, for example “the sky”.")
    entry = segmenter(bot_of(interaction), source.job)
    if entry is None:
        raise Refusal(no_segmenter())
    limiter = limiter_of(bot_of(interaction))
    found = await segment(entry, limiter, interaction.user.id, source.data, phrase)
    mask = await asyncio.to_thread(_segmented, found, source.size, phrase)
    await _keep_and_show(interaction, source, mask, prompt, f"“{phrase[:100]}”")


def no_segmenter() -> Text:
    return lazy_t(
        "No provider here can find a region by name; upload a mask or pick a region instead."
    )


async def _keep_and_show(
    interaction: discord.Interaction[Any], source: Source, mask: bytes, prompt: str, what: str
) -> None:
    token = await asyncio.to_thread(
        pending_masks(interaction).put,
        interaction.user.id,
        source.job.job_id,
        source.image.index,
        mask,
        prompt.strip(),
    )
    await show(interaction, source, mask, token, what, prompt.strip())


async def show(
    interaction: discord.Interaction[Any],
    source: Source,
    mask: bytes,
    ref: str,
    what: str,
    prompt: str = "",
) -> None:
    """Replace the acknowledged interaction's answer with the preview of ``mask``; its
    buttons carry ``ref`` (a preset's key or a kept mask's token)."""
    picture = await asyncio.to_thread(_picture, source.data, mask)
    job_id, index = source.job.job_id, source.image.index
    locale = locale_of(interaction)
    repaint = t(locale, "Repaint")
    view = discord.ui.View(timeout=None)
    view.add_item(JobButton("g", job_id, index, label=repaint, emoji="🖌️", option=f"y.{ref}"))
    view.add_item(JobButton("g", job_id, index, label=t(locale, "New prompt…"), option=f"w.{ref}"))
    view.add_item(
        JobButton(
            "g",
            job_id,
            index,
            label=t(locale, "Cancel"),
            style=discord.ButtonStyle.danger,
            option=f"x.{ref}",
        )
    )
    view.stop()
    values = {"what": what, "image": index + 1, "job": job_id, "button": repaint}
    content = (
        t(
            locale,
            "Repaint {what} (in red) of image {image} of job #{job}, with the new prompt "
            "“{prompt}”. Nothing is charged until you press **{button}**.",
            prompt=prompt[:200],
            **values,
        )
        if prompt
        else t(
            locale,
            "Repaint {what} (in red) of image {image} of job #{job}, with the original prompt. "
            "Nothing is charged until you press **{button}**.",
            **values,
        )
    )
    await interaction.edit_original_response(
        content=content,
        attachments=[discord.File(io.BytesIO(picture), filename=PREVIEW_NAME)],
        view=view,
    )


def _picture(image: bytes, mask: bytes) -> bytes:
    with Image.open(io.BytesIO(image)) as shown, Image.open(io.BytesIO(mask)) as region:
        return preview(shown, region)


def _uploaded(data: bytes, size: tuple[int, int]) -> bytes:
    try:
        return masks.encode(masks.read(data, size, max_pixels=4 * size[0] * size[1]))
    except CanvasError as err:
        raise Refusal(lazy_t("That mask can't be used: {reason}.", reason=str(err))) from None


def _segmented(data: bytes, size: tuple[int, int], phrase: str) -> bytes:
    try:
        found = masks.decode(data, max_pixels=4 * size[0] * size[1])
    except CanvasError:
        raise Refusal("Finding that region went wrong; upload a mask or pick a region.") from None
    binary = found.convert("L").point(lambda v: masks.WHITE if v >= masks.THRESHOLD else 0)
    share = masks.coverage(binary)
    shown = f"“{phrase[:100]}”"
    if share == 0:
        raise Refusal(
            lazy_t(
                "I couldn't find {phrase} in that image; try other words, upload a mask or pick "
                "a region.",
                phrase=shown,
            )
        )
    if share == 1:
        raise Refusal(
            lazy_t(
                "{phrase} covers the whole image; name a smaller part, upload a mask or pick a "
                "region.",
                phrase=shown,
            )
        )
    try:
        return masks.encode(masks.normalise(binary, size))
    except CanvasError as err:
        raise Refusal(lazy_t("That region can't be used: {reason}.", reason=str(err))) from None
