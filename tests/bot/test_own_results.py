"""A member's own result images by job and image, for references and control: the requester's
only, kept, finished, not flagged."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.errors import Refusal
from bot.jobs import Job, StoredImage
from bot.own_results import ResultImage, own_result_image
from bot.retention import DAY, ResultExpired, Retention
from bot.runtime import Runtime
from bot.scheduler import Capacity
from bot.store import SqlJobStore
from tests.bot.test_input_storage import guided_job, limits, png
from tests.bot.test_watchdog import Clock

KEEP = 30.0


async def finished(
    runtime: Runtime,
    tmp_path: Path,
    user: int = 7,
    flagged: bool = False,
    store: SqlJobStore | None = None,
) -> Job:
    """A succeeded job of ``user`` with two stored images: red, then blue (flagged if asked)."""
    store = store or runtime.store
    job = await store.submit(guided_job(user), limits())
    (running,) = await store.claim("discord", Capacity({"fake": 5}, {}, 5, {}))
    images = []
    for index, colour in enumerate(("red", "blue")):
        path = tmp_path / f"{job.job_id}-{index}.png"
        path.write_bytes(png(colour))
        images.append(StoredImage(index, 1 + index, str(path), 64, 64, flagged and index == 1))
    await store.succeed(running, images)
    return job


async def load(runtime: Runtime, user: int, text: str) -> bytes:
    return await own_result_image(runtime.store, KEEP, user, ResultImage.parse(text))


async def test_a_member_gets_their_own_result_image(runtime: Runtime, tmp_path: Path):
    job = await finished(runtime, tmp_path)
    assert await load(runtime, 7, f"{job.job_id}:2") == png("blue")
    assert await load(runtime, 7, f" #{job.job_id} : 1 ") == png("red")


async def test_someone_elses_result_reads_as_not_theirs(runtime: Runtime, tmp_path: Path):
    job = await finished(runtime, tmp_path, user=8)
    with pytest.raises(Refusal, match="isn't one of your results") as other:
        await load(runtime, 7, f"{job.job_id}:1")
    with pytest.raises(Refusal, match="isn't one of your results") as missing:
        await load(runtime, 7, "999999:1")
    assert str(other.value).replace(str(job.job_id), "N") == str(missing.value).replace(
        "999999", "N"
    )


async def test_an_image_past_the_last_is_refused(runtime: Runtime, tmp_path: Path):
    job = await finished(runtime, tmp_path)
    with pytest.raises(Refusal, match="has no image 3; it has 2 images"):
        await load(runtime, 7, f"{job.job_id}:3")


async def test_a_flagged_image_is_refused(runtime: Runtime, tmp_path: Path):
    job = await finished(runtime, tmp_path, flagged=True)
    assert await load(runtime, 7, f"{job.job_id}:1") == png("red")
    with pytest.raises(Refusal, match="held back by the safety checker"):
        await load(runtime, 7, f"{job.job_id}:2")


async def test_an_unfinished_or_cancelled_job_is_refused(runtime: Runtime):
    job = await runtime.store.submit(guided_job(), limits())
    with pytest.raises(Refusal, match="hasn't finished yet"):
        await load(runtime, 7, f"{job.job_id}:1")
    await runtime.store.cancel(job.job_id)
    with pytest.raises(Refusal, match="cancelled; it has no images"):
        await load(runtime, 7, f"{job.job_id}:1")


async def test_an_expired_result_is_refused(runtime: Runtime, tmp_path: Path):
    clock = Clock()
    store = SqlJobStore(runtime.db, clock)
    job = await finished(runtime, tmp_path, store=store)
    await store.mark_delivered(job.job_id, "message")
    clock.now += 31 * DAY
    retention = Retention(runtime.db, runtime.settings.storage.results_path, KEEP, clock=clock)
    assert await retention.prune() == 1
    with pytest.raises(ResultExpired, match="keeps results for 30 days"):
        await load(runtime, 7, f"{job.job_id}:1")


async def test_a_result_whose_file_is_gone_reads_as_expired(runtime: Runtime, tmp_path: Path):
    job = await finished(runtime, tmp_path)
    (tmp_path / f"{job.job_id}-0.png").unlink()
    with pytest.raises(ResultExpired):
        await load(runtime, 7, f"{job.job_id}:1")


@pytest.mark.parametrize("text", ["12", "12:0", "a:1", "12:1:2", "", "12:1234"])
def test_a_name_that_is_not_job_and_image_is_refused(text: str):
    with pytest.raises(Refusal, match="doesn't name a result image"):
        ResultImage.parse(text)


def test_a_name_reads_back_as_members_write_it():
    assert str(ResultImage.parse("#12:3")) == "12:3" == str(ResultImage(12, 2))
