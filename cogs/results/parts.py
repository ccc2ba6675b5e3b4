"""A finished job as the parts of its messages (files, embed, buttons), for delivery and /show,
and those parts as the keyword arguments of each message: a card (layout components) or an
embed beside the files."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord

from bot.control_maps import map_path
from bot.i18n import t
from bot.jobs import Job, StoredImage
from bot.packing import TooLarge, Upload, fit_image, grid, pack
from cogs import render
from cogs.common import MAX_CONTENT
from cogs.results import card
from cogs.results.buttons.views import result_view

if TYPE_CHECKING:
    from bot.app import ImageBot

log = logging.getLogger(__name__)

DEFAULT_UPLOAD_LIMIT = 10 * 2**20
MAX_FILES = 10  # files one message takes


@dataclass
class ResultParts:
    """A finished job's messages: the files of each (split to fit), the embed and buttons of
    the first, and whether they go as a card."""

    job: Job
    messages: list[list[Upload]]
    embed: discord.Embed
    view: discord.ui.View | None
    cards: bool

    def sends(self, mention: str | None) -> list[dict[str, Any]]:
        """The keyword arguments of each message (``content``/``embed``/``view``/``files``),
        ``mention`` leading the first. A card that would break Discord's limits (it cannot
        with today's buttons) goes as the embed form instead."""
        batches = self.messages or [[]]
        if self.cards:
            first_files = _files(batches[0])
            first = card.card(self.job, self.embed, self.view, first_files, mention=mention)
            if card.fits(first):
                sends: list[dict[str, Any]] = [{"view": first, "files": first_files}]
                for part, uploads in enumerate(batches[1:], start=2):
                    files = _files(uploads)
                    more = card.more_images(self.job, self.embed, files, part, len(batches))
                    sends.append({"view": more, "files": files})
                return sends
            log.warning(
                "Job %d: its card breaks Discord's limits; sent as an embed", self.job.job_id
            )
        sends = [{"content": (mention or "")[:MAX_CONTENT], "embed": self.embed}]
        if self.view is not None:
            sends[0]["view"] = self.view
        sends += [{"content": ""} for _ in batches[1:]]
        for send, uploads in zip(sends, batches, strict=True):
            send["files"] = _files(uploads)
        return sends


async def result_parts(
    bot: ImageBot, job: Job, images: Sequence[StoredImage], *, show_flagged: bool, limit: int
) -> ResultParts:
    """A finished job as messages: files that fit ``limit``, the embed, the buttons. Images the
    safety check flagged are withheld unless ``show_flagged`` (as spoilers)."""
    shown = [image for image in images if show_flagged or not image.flagged]
    embed = render.result_embed(job, images, withheld=len(images) - len(shown))
    view = result_view(bot, job, shown)
    as_grid = bot.runtime.settings.discord.result_layout == "grid" and len(shown) > 1
    try:
        messages = await asyncio.to_thread(_uploads, job, shown, limit, as_grid)
    except TooLarge as err:
        messages, embed.description = [], f"{embed.description}\n\n{err.message.in_(job.locale)}"
    except OSError:
        messages = []
        gone = t(job.locale, "The image files of this job are gone.")
        embed.description = f"{embed.description}\n\n{gone}"
    if messages and images:
        await asyncio.to_thread(_add_map, job, images[0], messages[0], embed, limit)
    return ResultParts(job, messages, embed, view, bot.runtime.settings.discord.result_cards)


def _add_map(
    job: Job, image: StoredImage, uploads: list[Upload], embed: discord.Embed, limit: int
) -> None:
    """The control map the job followed, as the embed's thumbnail, where it was kept and fits
    the first message."""
    path = map_path(Path(image.path).parent, job.job_id)
    try:
        data = path.read_bytes()
    except OSError:
        return
    if len(uploads) >= MAX_FILES or sum(len(u.data) for u in uploads) + len(data) > limit:
        return
    uploads.append(Upload(path.name, data))
    embed.set_thumbnail(url=f"attachment://{path.name}")
    embed.set_footer(text=t(job.locale, "Thumbnail: the control map the model followed"))


def shows_flagged(target: dict[str, Any]) -> bool:
    """Flagged results show (as spoilers) only where NSFW is allowed and the server has not
    chosen to hide them."""
    return bool(target.get("nsfw")) and target.get("flagged", "spoiler") == "spoiler"


def _uploads(
    job: Job, images: Sequence[StoredImage], limit: int, as_grid: bool
) -> list[list[Upload]]:
    items = [
        (f"{job.job_id}-{image.index}", Path(image.path).read_bytes(), image.flagged)
        for image in images
    ]
    if as_grid:
        name, data = fit_image(grid([png for _, png, _ in items]), limit, stem=f"{job.job_id}")
        return [[Upload(name, data, spoiler=any(flagged for _, _, flagged in items))]]
    return pack(items, limit=limit)


def _files(uploads: Sequence[Upload]) -> list[discord.File]:
    return [discord.File(io.BytesIO(u.data), u.filename, spoiler=u.spoiler) for u in uploads]
