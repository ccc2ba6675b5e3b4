"""A member's own result images named by job and image ("123:2"), to steer a new request as a
reference or control image: only the requester's, only while kept, never one the safety
checker flagged."""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from pathlib import Path

from bot.errors import Refusal
from bot.i18n import lazy_t, lazy_tn
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
                lazy_t(
                    "“{text}” doesn't name a result image; write the job number and the "
                    "image's place, such as 123:2 for the second image of job #123.",
                    text=text.strip()[:40],
                )
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
            lazy_t(
                "Job #{job} isn't one of your results; name one of your own (the number after "
                "# on a result), or attach the image instead.",
                job=named.job_id,
            )
        )
    if job.request.mode is Mode.DESCRIBE:
        raise Refusal(lazy_t("Job #{job} is a description; it has no images.", job=named.job_id))
    if job.status is not JobStatus.SUCCEEDED:
        raise Refusal(
            {
                JobStatus.FAILED: lazy_t(
                    "Job #{job} failed; it has no images to use.", job=named.job_id
                ),
                JobStatus.CANCELLED: lazy_t(
                    "Job #{job} was cancelled; it has no images to use.", job=named.job_id
                ),
            }.get(
                job.status,
                lazy_t(
                    "Job #{job} hasn't finished yet; it has no images to use.", job=named.job_id
                ),
            )
        )
    images = {image.index: image for image in await store.images(job.job_id)}
    if images_expired(job, list(images.values())):
        raise ResultExpired(job.job_id, keep_days)
    image = images.get(named.index)
    if image is None:
        count = len(images)
        raise Refusal(
            lazy_tn(
                "Job #{job} has no image {image}; it has {count} image.",
                "Job #{job} has no image {image}; it has {count} images.",
                count,
                job=named.job_id,
                image=named.index + 1,
            )
        )
    if image.flagged:
        raise Refusal(
            lazy_t(
                "Image {image} was held back by the safety checker; it can't be used. Pick "
                "another.",
                image=str(named),
            )
        )
    try:
        return await asyncio.to_thread(Path(image.path).read_bytes)
    except OSError:
        raise ResultExpired(job.job_id, keep_days) from None
