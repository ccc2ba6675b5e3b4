"""Edits on the local engine's DiT families through the bot's queue: validated, stored with
their input images, run by the worker and delivered like any other job."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image

from bot.jobs import Job, JobStatus, Requester, StoredImage
from bot.runtime import open_runtime
from bot.settings import LoadedSettings, Secrets, Settings
from engine import GenerationRequest, Mode, Progress
from tests.engine.local.family_models import FamilyModels


class Collect:
    def __init__(self) -> None:
        self.delivered: list[tuple[Job, list[StoredImage]]] = []
        self.changed = asyncio.Event()

    async def progress(self, job: Job, progress: Progress) -> None:
        pass

    async def deliver(self, job: Job, images: Sequence[StoredImage]) -> str | None:
        self.delivered.append((job, list(images)))
        self.changed.set()
        return None


def png(seed: int, size: tuple[int, int] = (96, 64)) -> bytes:
    values = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, "PNG")
    return buffer.getvalue()


async def test_kontext_and_klein_edits_run_through_the_queue(
    tmp_path: Path, family_models: FamilyModels, one_torch_thread: None
):
    keys = ["flux1-kontext", "flux2-klein"]
    local = family_models.options(keys, models={key: {"width": 96, "height": 64} for key in keys})
    settings = Settings.model_validate(
        {
            "storage": {"data_dir": str(tmp_path)},
            "queue": {"poll_seconds": 0.05},
            "providers": {"local": {"kind": "local", **local}},
        }
    )
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as rt:
        kontext = GenerationRequest(
            "make it night", model="flux1-kontext", mode=Mode.EDIT, init_image=png(0), seed=3
        )
        klein = GenerationRequest(
            "put the logo on the mug",
            model="flux2-klein",
            mode=Mode.EDIT,
            init_image=png(1),
            extra_images=(png(2), png(3)),
            seed=4,
        )
        for user, request in enumerate((kontext, klein)):
            await rt.service.submit(request, Requester(user))
        sink = Collect()
        worker = rt.worker(sink, origin="discord")
        await worker.start()
        async with asyncio.timeout(120):
            while len(sink.delivered) < 2:
                sink.changed.clear()
                await sink.changed.wait()
        await worker.stop()
    by_model = {job.request.model: (job, images) for job, images in sink.delivered}
    for model in ("flux1-kontext", "flux2-klein"):
        job, images = by_model[model]
        assert job.status is JobStatus.SUCCEEDED and job.request.mode is Mode.EDIT
        assert len(images) == 1
        assert (images[0].width, images[0].height) == (96, 64)  # the input's: none was asked
        with Image.open(tmp_path / images[0].path) as image:
            assert image.size == (96, 64)
    assert len(by_model["flux2-klein"][0].request.extra_images) == 2
