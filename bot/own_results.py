"""A member's own result images named by job and image ("123:2"), to steer a new request as a
reference or control image: only the requester's, only while kept, never one the safety
checker flagged."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

from bot.errors import Refusal
from bot.jobs import JobStatus
from bot.retention import ResultExpired, images_expired
from bot.store import JobStore
from engine import Mode

# "JOB:IMAGE", the image counted from 1 as members see them; "#123:2" as a result shows it.
RESULT_NAME = re.compile(r"^\s*#?(?P<job>[0-9]{1,19})\s*:\s*(?P<image>[0-9]{1,3})\s*$")


@dataclass(frozen=True, slots=True)
class ResultImage:
    """Image ``index`` (from 0) of job ``job_id``."""

    job_id: int
    index: int

    @classmethod
    def parse(cls, text: str) -> ResultImage:
        """``text`` as a member types it: "123:2" is job 123's second image."""
        match = RESULT_NAME.match(text)
        if match is None or int(match["image"]) < 1:
            raise Refusal(
                f"“{text.strip()[:40]}” doesn't name a result image; write the job number and "
                "the image's place, such as 123:2 for the second image of job #123."
            )
        return cls(int(match["job"]), int(match["image"]) - 1)

    def __str__(self) -> str:
        return f"{self.job_id}:{self.index + 1}"


async def own_result_image(
    store: JobStore, keep_days: float, user_id: int, named: ResultImage
) -> bytes:
    """The stored bytes of one of ``user_id``'s own result images. Anyone else's job reads as
    not theirs (whether it exists is not told); an expired, unfinished or flagged one, and a
    caption job, are refused saying why."""
    job = await store.get(named.job_id)
    if job is None or job.user_id != user_id:
        raise Refusal(
            f"Job #{named.job_id} isn't one of your results; name one of your own (the number "
            "after # on a result), or attach the image instead."
        )
    if job.request.mode is Mode.DESCRIBE:
        raise Refusal(f"Job #{named.job_id} is a description; it has no images.")
    if job.status is not JobStatus.SUCCEEDED:
        state = job.status.value if job.status.terminal else "hasn't finished yet"
        raise Refusal(f"Job #{named.job_id} {state}; it has no images to use.")
    images = {image.index: image for image in await store.images(job.job_id)}
    if images_expired(job, list(images.values())):
        raise ResultExpired(job.job_id, keep_days)
    image = images.get(named.index)
    if image is None:
        count = len(images)
        raise Refusal(
            f"Job #{named.job_id} has no image {named.index + 1}; it has "
            f"{count} image{'s' if count != 1 else ''}."
        )
    if image.flagged:
        raise Refusal(
            f"Image {named} was held back by the safety checker; it can't be used. Pick another."
        )
    try:
        return await asyncio.to_thread(Path(image.path).read_bytes)
    except OSError:
        raise ResultExpired(job.job_id, keep_days) from None
