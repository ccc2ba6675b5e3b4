"""Delivery to Discord: results and notices posted to the channel or DM a job came from."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from pathlib import Path

import discord

from bot.jobs import Job, JobStatus, StoredImage
from engine import Progress

log = logging.getLogger(__name__)


class ChannelSink:
    """Posts to ``target['channel_id']``, mentioning the member. The nonce comes from the job
    id and discord.py asks Discord to enforce it, so a delivery repeated after a crash posts
    once."""

    def __init__(self, client: discord.Client) -> None:
        self._client = client

    async def progress(self, job: Job, progress: Progress) -> None:
        log.debug("Job %d: step %d of %d", job.job_id, progress.step, progress.total)

    async def deliver(self, job: Job, images: Sequence[StoredImage]) -> str | None:
        channel_id = job.target.get("channel_id") or job.channel_id
        if channel_id is None:
            log.warning("Job %d has nowhere to be delivered", job.job_id)
            return None
        channel = self._client.get_partial_messageable(int(channel_id))
        mention = f"<@{job.user_id}>"
        files: list[discord.File] = []
        if job.status is JobStatus.SUCCEEDED:
            content = f"{mention} job {job.job_id}: **{job.request.prompt[:1800]}**"
            files = [discord.File(Path(image.path), spoiler=image.flagged) for image in images]
        elif job.status is JobStatus.CANCELLED:
            content = f"{mention} job {job.job_id} was cancelled; your quota was refunded."
        else:
            content = f"{mention} job {job.job_id} failed: {job.error}"
        message = await channel.send(content=content[:2000], files=files, nonce=f"job-{job.job_id}")
        return str(message.id)
