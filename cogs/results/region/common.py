"""What every step of Vary (Region) shares: the image it repaints, whether its model can, the
previews waiting for Repaint and the member's segmentation allowance."""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import discord

from bot.errors import Refusal
from bot.jobs import Job, StoredImage
from cogs.common import bot_of, runtime_of
from cogs.results.buttons.base import kept, owned_job
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
    job = await owned_job(interaction, job_id, generation=True)
    refuse_unless_inpaints(bot_of(interaction), job)
    images = {image.index: image for image in await runtime_of(interaction).store.images(job_id)}
    kept(interaction, job, list(images.values()))
    if index not in images:
        raise Refusal(f"Image {index + 1} of job #{job_id} no longer exists.")
    data = await asyncio.to_thread(Path(images[index].path).read_bytes)
    return Source(job, images[index], data)


def refuse_unless_inpaints(bot: ImageBot, job: Job) -> None:
    """Refuse up front when the job's model cannot repaint a region, naming those that can."""
    own = bot.runtime.providers.find(job.provider)
    if own is not None and _inpaints(own.provider, job.model):
        return
    able = [
        f"{model} ({entry.name})"
        for entry in bot.runtime.providers
        for model in entry.provider.capabilities.models
        if _inpaints(entry.provider, model)
    ]
    model = job.model or "this model"
    if not able:
        raise Refusal(f"{model} can't repaint part of an image, and no model here can.")
    shown = ", ".join(able[:10]) + (", …" if len(able) > 10 else "")
    raise Refusal(
        f"{model} can't repaint part of an image. Models that can: {shown}; make an image "
        "with one of them first."
    )


def _inpaints(provider: Any, model: str | None) -> bool:
    if Mode.INPAINT not in provider.capabilities.modes or provider.unavailable is not None:
        return False
    return bool(provider.model_info(model or provider.default_model).takes(Mode.INPAINT))


def pending_masks(interaction: discord.Interaction[Any]) -> PendingMasks:
    return PendingMasks(runtime_of(interaction).settings.storage.data_dir / PENDING_FOLDER)


def limiter_of(bot: ImageBot) -> SegmentLimiter:
    limiter = _limiters.get(bot)
    if limiter is None:
        limiter = _limiters[bot] = SegmentLimiter()
    return limiter
