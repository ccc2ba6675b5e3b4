"""The local engine behind the bot: the queue batches compatible jobs into one call, and the
console command writes real images."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from bot.jobs import Job, JobStatus, Requester, StoredImage
from bot.runtime import open_runtime
from bot.settings import LoadedSettings, Secrets, Settings
from engine import GenerationRequest, Progress
from engine.local import LocalProvider
from tests.cli import run_bot
from tests.engine.local.conftest import TinyModels, local_options


class Collect:
    def __init__(self) -> None:
        self.jobs: list[Job] = []
        self.changed = asyncio.Event()

    async def progress(self, job: Job, progress: Progress) -> None:
        pass

    async def deliver(self, job: Job, images: Sequence[StoredImage]) -> str | None:
        self.jobs.append(job)
        self.changed.set()
        return None


async def test_queued_compatible_jobs_run_as_one_pipeline_call(tmp_path: Path, tiny: TinyModels):
    settings = Settings.model_validate(
        {
            "storage": {"data_dir": str(tmp_path)},
            "queue": {"max_running_per_user": 1, "poll_seconds": 0.05},
            "providers": {"local": {"kind": "local", **local_options(tiny)}},
        }
    )
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as rt:
        provider = rt.providers.get("local").provider
        assert isinstance(provider, LocalProvider)
        calls: list[int] = []
        original = provider._run

        def counting(requests, *args):  # type: ignore[no-untyped-def]
            calls.append(len(requests))
            return original(requests, *args)

        provider._run = counting  # type: ignore[method-assign]
        for user in range(3):
            await rt.service.submit(GenerationRequest(f"a boat {user}"), Requester(user))
        sink = Collect()
        worker = rt.worker(sink, origin="discord")
        await worker.start()
        async with asyncio.timeout(60):
            while len(sink.jobs) < 3:
                sink.changed.clear()
                await sink.changed.wait()
        await worker.stop()
    assert calls == [3]
    assert all(job.status is JobStatus.SUCCEEDED for job in sink.jobs)


def test_generate_writes_real_images_with_the_local_engine(tmp_path: Path, tiny: TinyModels):
    models = "\n".join(
        f"[providers.local.models.{name}]\nsource = '{spec['source']}'\n"
        + "".join(f"{key} = {value!r}\n" for key, value in spec.items() if key != "source")
        for name, spec in local_options(tiny)["models"].items()
    ).replace("'", '"')
    config = (
        f"[storage]\ndata_dir = '{tmp_path / 'data'}'\n[providers.local]\nkind = 'local'\n"
        f"device = 'cpu'\n{models}"
    )
    result = run_bot(
        tmp_path,
        "generate",
        "a lighthouse",
        "--out",
        str(tmp_path / "out"),
        "--seed",
        "5",
        "--count",
        "2",
        "--sampler",
        "DPM++ 2M Karras",
        config=config,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert "Loading pipeline components" not in result.stderr and "it/s]" not in result.stderr
    assert "INFO    engine.local.pipelines: Loaded model tiny" in result.stderr
    written = re.findall(r"wrote (\S+) \(seed (\d+), 64x64\)", result.stdout)
    assert [seed for _, seed in written] == ["5", "6"]
    with Image.open(written[0][0]) as image:
        assert "Sampler: DPM++ 2M Karras" in image.info["parameters"]
        assert "Model: tiny" in image.info["parameters"]
        assert len(image.getcolors(maxcolors=1 << 16) or []) > 50  # a picture, not a flat colour
