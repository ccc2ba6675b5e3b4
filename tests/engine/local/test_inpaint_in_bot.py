"""Inpaint and outpaint on the local engine's UNet families through the bot's queue: validated,
stored with their image and mask, run by the worker and delivered like any other job."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from bot.check import check_local_models
from bot.cli import main
from bot.jobs import Job, JobStatus, Requester, StoredImage
from bot.runtime import open_runtime
from bot.settings import LoadedSettings, Secrets, Settings, load
from engine import GenerationRequest, InvalidRequest, Mode, Progress
from tests.engine.local.conftest import TinyModels
from tests.engine.local.tiny_inpaint import build_sd_inpaint, left_half, picture, png

pytestmark = [pytest.mark.timeout(300), pytest.mark.usefixtures("one_torch_thread")]

WIDTH, HEIGHT = 96, 64
SMALL = {"width": 64, "height": 64, "steps": 3, "guidance": 5.0, "max_size": 256}


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


def settings(tmp_path: Path, tiny: TinyModels) -> Settings:
    models = {
        "tiny": {"source": str(tiny.sd), **SMALL},
        "tiny-xl": {"source": str(tiny.sdxl), **SMALL},
        "sd-inpaint": {"source": str(build_sd_inpaint(tmp_path / "sd-inpaint")), **SMALL},
        "sana": {"source": str(tiny.sd), "family": "sana"},  # never loaded
    }
    return Settings.model_validate(
        {
            "storage": {"data_dir": str(tmp_path / "data")},
            "queue": {"poll_seconds": 0.05},
            "providers": {"local": {"kind": "local", "device": "cpu", "models": models}},
        }
    )


def masked(model: str, mode: Mode) -> GenerationRequest:
    return GenerationRequest(
        "a cat",
        model=model,
        mode=mode,
        seed=5,
        init_image=png(picture(WIDTH, HEIGHT)),
        mask_image=png(left_half(WIDTH, HEIGHT)),
    )


async def test_inpaints_and_outpaints_run_through_the_queue(tmp_path: Path, tiny: TinyModels):
    jobs = [
        ("tiny", Mode.INPAINT),
        ("tiny-xl", Mode.OUTPAINT),
        ("sd-inpaint", Mode.INPAINT),
    ]
    async with open_runtime(LoadedSettings(settings(tmp_path, tiny), Secrets(), None)) as rt:
        for user, (model, mode) in enumerate(jobs):
            await rt.service.submit(masked(model, mode), Requester(user))
        sink = Collect()
        worker = rt.worker(sink, origin="discord")
        await worker.start()
        async with asyncio.timeout(120):
            while len(sink.delivered) < len(jobs):
                sink.changed.clear()
                await sink.changed.wait()
        await worker.stop()
    source = np.asarray(picture(WIDTH, HEIGHT), dtype=np.int16)
    done = {(job.request.model, job.request.mode): images for job, images in sink.delivered}
    assert set(done) == set(jobs)
    for job, images in sink.delivered:
        assert job.status is JobStatus.SUCCEEDED
        [stored] = images
        assert (stored.width, stored.height) == (WIDTH, HEIGHT)  # the input's: none was asked
        with Image.open(tmp_path / "data" / stored.path) as image:
            pixels = np.asarray(image.convert("RGB"), dtype=np.int16)
        assert np.array_equal(pixels[:, WIDTH // 2 :], source[:, WIDTH // 2 :])


async def test_a_model_that_cannot_inpaint_is_refused_before_the_queue(
    tmp_path: Path, tiny: TinyModels
):
    async with open_runtime(LoadedSettings(settings(tmp_path, tiny), Secrets(), None)) as rt:
        with pytest.raises(InvalidRequest, match="repaint") as caught:
            await rt.service.submit(masked("sana", Mode.INPAINT), Requester(1))
        assert "tiny" in str(caught.value)
        assert await rt.store.active() == []


def test_models_list_and_check_say_which_models_inpaint(
    tmp_path: Path, tiny: TinyModels, capsys: pytest.CaptureFixture[str]
):
    inpaint = build_sd_inpaint(tmp_path / "sd-inpaint")
    config = tmp_path / "config.toml"
    config.write_text(
        f"[storage]\ndata_dir = '{tmp_path / 'data'}'\n"
        "[providers.local]\nkind = 'local'\ndevice = 'cpu'\n"
        f"[providers.local.models.tiny]\nsource = '{tiny.sd}'\n"
        f"[providers.local.models.sd-inpaint]\nsource = '{inpaint}'\n"
        f"[providers.local.models.sana]\nsource = '{tiny.sd}'\nfamily = 'sana'\n",
        encoding="utf-8",
    )
    assert main(["--config", str(config), "models", "list"]) == 0
    listed = capsys.readouterr().out
    assert "Stable Diffusion 1.x/2.x; takes negative prompt, guidance, samplers, " in listed
    assert "Stable Diffusion 1.x/2.x inpainting; takes" in listed
    assert listed.count("img2img, inpainting, outpainting") == 2
    assert "Sana; takes negative prompt, guidance, samplers\n" in listed  # no LoRA folder
    lines = {line.item: line for line in check_local_models(load(config))}
    assert "inpainting, outpainting" in lines["model local/sd-inpaint"].text
