"""A GPU worker's results are hostile input to the leader. Here the worker is a saq worker in
this process that speaks the protocol but returns what each test prompt asks for; the leader
and the cluster are the real ones, on real Redis and PostgreSQL."""

from __future__ import annotations

import asyncio
import base64
import io
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image
from PIL.PngImagePlugin import PngInfo
from redis.asyncio import Redis

from bot.jobs import JobStatus
from bot.scale import gpu
from tests.scale.harness import Deploy, Deployment, until
from tests.scale.test_dispatch import finished, quota_drift

pytestmark = pytest.mark.scale

Answer = Callable[[Path, str, int], Awaitable[dict[str, Any]]]


def png(colour: tuple[int, int, int], **texts: str) -> bytes:
    info = PngInfo()
    for key, value in texts.items():
        info.add_text(key, value)
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), colour).save(buffer, format="PNG", pnginfo=info)
    return buffer.getvalue()


def inline(data: bytes | str) -> dict[str, Any]:
    text = data if isinstance(data, str) else base64.b64encode(data).decode()
    return {"seed": 1, "width": 64, "height": 64, "png": text}


class HostileWorker:
    """Answers each job by its prompt: ``answers[prompt](blob_dir, task key, job id)`` gives
    the job's image entry."""

    def __init__(self, blob_dir: Path, answers: Mapping[str, Answer]) -> None:
        self._blob_dir = blob_dir
        self._answers = answers

    async def run(
        self, ctx: Mapping[str, Any], *, provider: str, limit: float, jobs: list[dict[str, Any]]
    ) -> dict[str, Any]:
        key = ctx["job"].key
        entries = []
        for item in jobs:
            answer = self._answers[item["request"]["prompt"]]
            image = await answer(self._blob_dir, key, int(item["job_id"]))
            entries.append(
                {"job_id": item["job_id"], "attempt": item["attempt"], "images": [image]}
            )
        return {"provider": provider, "jobs": entries}


@asynccontextmanager
async def hostile(deployed: Deployment, answers: Mapping[str, Answer]) -> AsyncIterator[None]:
    settings = deployed.settings
    assert settings.scale.blob_dir is not None
    settings.scale.blob_dir.mkdir(parents=True, exist_ok=True)
    redis: Redis = Redis.from_url(deployed.redis_url)
    runner = HostileWorker(settings.scale.blob_dir, answers)
    worker = gpu._saq_worker(redis, settings.scale, "fake", runner)  # type: ignore[arg-type]
    serving = asyncio.create_task(worker.start())
    try:
        yield
    finally:
        await worker.stop()
        serving.cancel()
        await asyncio.gather(serving, return_exceptions=True)
        await redis.aclose()


async def run_jobs(deployed: Deployment, prompts: list[str]) -> dict[str, int]:
    cluster = await deployed.start_cluster()
    await deployed.wait_workers(4)
    ids = {
        prompt: (await deployed.submit(cluster, user_id=user, prompt=prompt)).job_id
        for user, prompt in enumerate(prompts, start=1)
    }
    await until(lambda: finished(deployed, list(ids.values())), 60, "every job to finish")
    drift = await quota_drift(deployed, list(ids.values()))
    assert set(drift.values()) == {0}, drift
    for job_id in ids.values():
        assert cluster.sink.delivered[job_id] == 1
    return ids


async def status_of(deployed: Deployment, job_id: int) -> JobStatus:
    job = await deployed.clusters[0].runtime.store.get(job_id)
    assert job is not None
    if job.status is JobStatus.FAILED:
        assert job.error is not None and "could not be used" in job.error, job.error
    return job.status


async def test_one_bad_result_fails_its_job_and_the_rest_carry_on(deploy: Deploy) -> None:
    async def fine(blob_dir: Path, key: str, job_id: int) -> dict[str, Any]:
        return inline(png((0, 120, 0)))

    async def not_base64(blob_dir: Path, key: str, job_id: int) -> dict[str, Any]:
        return inline("%%% not base64 %%%")

    async def not_an_image(blob_dir: Path, key: str, job_id: int) -> dict[str, Any]:
        return inline(b"<html>not a picture</html>")

    async def missing_blob(blob_dir: Path, key: str, job_id: int) -> dict[str, Any]:
        return {"seed": 1, "width": 64, "height": 64, "blob": str(blob_dir / key / "gone.png")}

    async def outside_blob(blob_dir: Path, key: str, job_id: int) -> dict[str, Any]:
        return {"seed": 1, "width": 64, "height": 64, "blob": "/etc/hostname"}

    bad = {
        "not base64": not_base64,
        "not an image": not_an_image,
        "missing blob": missing_blob,
        "outside blob": outside_blob,
    }
    answers = {**bad, "fine 1": fine, "fine 2": fine, "fine 3": fine}
    async with deploy(scale={"worker_concurrency": 4}) as deployed, hostile(deployed, answers):
        ids = await run_jobs(deployed, list(answers))  # the bad ones first
        for prompt, job_id in ids.items():
            expected = JobStatus.FAILED if prompt in bad else JobStatus.SUCCEEDED
            assert await status_of(deployed, job_id) is expected, prompt


async def test_blobs_are_read_by_the_bots_names_and_images_encoded_again(
    deploy: Deploy, tmp_path: Path
) -> None:
    secret = tmp_path / "secret.png"
    secret.write_bytes(png((255, 0, 0)))

    async def elsewhere_in_the_folder(blob_dir: Path, key: str, job_id: int) -> dict[str, Any]:
        # another member's image, say: inside blob_dir, but not this job's name
        other = blob_dir / "9999.1" / "9999-0.png"
        other.parent.mkdir(parents=True, exist_ok=True)
        other.write_bytes(secret.read_bytes())
        return {"seed": 1, "width": 64, "height": 64, "blob": str(other)}

    async def link_out(blob_dir: Path, key: str, job_id: int) -> dict[str, Any]:
        name = blob_dir / key / f"{job_id}-0.png"
        name.parent.mkdir(parents=True, exist_ok=True)
        name.symlink_to(secret)
        return {"seed": 1, "width": 64, "height": 64, "blob": str(name)}

    async def folder_linked_out(blob_dir: Path, key: str, job_id: int) -> dict[str, Any]:
        outside = tmp_path / f"outside-{job_id}"
        outside.mkdir()
        (outside / f"{job_id}-0.png").write_bytes(secret.read_bytes())
        (blob_dir / key).symlink_to(outside, target_is_directory=True)
        return {
            "seed": 1,
            "width": 64,
            "height": 64,
            "blob": str(blob_dir / key / f"{job_id}-0.png"),
        }

    async def fifo(blob_dir: Path, key: str, job_id: int) -> dict[str, Any]:
        name = blob_dir / key / f"{job_id}-0.png"
        name.parent.mkdir(parents=True, exist_ok=True)
        os.mkfifo(name)
        return {"seed": 1, "width": 64, "height": 64, "blob": str(name)}

    async def extra_chunks(blob_dir: Path, key: str, job_id: int) -> dict[str, Any]:
        data = png((0, 0, 200), parameters="whatever the worker says", Comment="@everyone")
        return inline(data)

    refused = {
        "elsewhere in the folder": elsewhere_in_the_folder,
        "link out": link_out,
        "folder linked out": folder_linked_out,
        "fifo": fifo,
    }
    answers = {**refused, "extra chunks": extra_chunks}
    async with deploy(scale={"worker_concurrency": 4}) as deployed, hostile(deployed, answers):
        ids = await run_jobs(deployed, list(answers))
        store = deployed.clusters[0].runtime.store
        for prompt, job_id in ids.items():
            expected = JobStatus.FAILED if prompt in refused else JobStatus.SUCCEEDED
            assert await status_of(deployed, job_id) is expected, prompt
            assert not await store.images(job_id) or prompt not in refused
        (stored,) = await store.images(ids["extra chunks"])
        with Image.open(stored.path) as image:
            assert set(image.text) == {"parameters"}
            assert image.text["parameters"].startswith("extra chunks\n")
            assert image.getpixel((0, 0)) == (0, 0, 200)
        assert secret.exists(), "a link's target was removed"
        assert secret.read_bytes() == png((255, 0, 0))
