"""What every step of Vary (Region) shares: the image it repaints, whether its model can, the
previews waiting for Repaint and the member's segmentation allowance."""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import discord

from bot.jobs import Job, StoredImage
from cogs.common import bot_of, runtime_of
from cogs.results.buttons.base import owned_job
from cogs.results.buttons.base import source_of as stored_image
from cogs.results.buttons.tools import require
from cogs.results.region.pending import PendingMasks
from cogs.results.region.segmenting import SegmentLimiter
from engine import Mode

if TYPE_CHECKING:
    from bot.app import ImageBot

PENDING_FOLDER = "pending-masks"  # under the data folder

_limiters: weakref.WeakKeyDictionary[ImageBot, SegmentLimiter] = weakref.WeakKeyDictionary()


@dataclass(frozen=True)
class Source:
    """Image ``image.index`` of ``job``, the one a region of which is repainted."""

    job: Job
    image: StoredImage
    data: bytes

    @property
    def size(self) -> tuple[int, int]:
        return self.image.width, self.image.height


async def source_of(interaction: discord.Interaction[Any], job_id: int, index: int) -> Source:
    """The member's own (or, where the server allows, anyone's) kept result image, on a model
    that can repaint a region; refused in words otherwise."""
    job = await checked_job(interaction, job_id)
    image, data = await stored_image(interaction, job, index)
    return Source(job, image, data)


async def checked_job(interaction: discord.Interaction[Any], job_id: int) -> Job:
    """The job behind the button, if this member may use it and its model can repaint a
    region (refused up front naming the models that can)."""
    job = await owned_job(interaction, job_id, generation=True)
    require(bot_of(interaction), job, Mode.INPAINT)
    return job


def pending_masks(interaction: discord.Interaction[Any]) -> PendingMasks:
    return PendingMasks(runtime_of(interaction).settings.storage.data_dir / PENDING_FOLDER)


def limiter_of(bot: ImageBot) -> SegmentLimiter:
    limiter = _limiters.get(bot)
    if limiter is None:
        limiter = _limiters[bot] = SegmentLimiter()
    return limiter
