"""The local engine's captioner behind the bot: a description is a job that takes its turn on
the one GPU thread, after the generation queued before it."""

from __future__ import annotations

import asyncio
import io
import threading
from pathlib import Path

from PIL import Image

from bot.jobs import JobStatus, Requester
from bot.runtime import open_runtime
from bot.settings import LoadedSettings, Secrets, Settings
from engine import GenerationRequest, Mode
from engine.local import LocalProvider
from tests.engine.local.conftest import TinyModels, local_options
from tests.engine.local.test_local_in_bot import Collect
from tests.engine.local.tiny import build_captioner


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (48, 32), (200, 40, 10)).save(buffer, "PNG")
    return buffer.getvalue()


async def test_a_description_runs_on_the_gpu_thread_in_its_turn(tmp_path: Path, tiny: TinyModels):
    captioner = str(build_captioner(tmp_path / "blip"))
    settings = Settings.model_validate(
        {
            "storage": {"data_dir": str(tmp_path / "data")},
            "queue": {"poll_seconds": 0.05},
            "providers": {"local": {"kind": "local", **local_options(tiny, captioner=captioner)}},
        }
    )
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as rt:
        provider = rt.providers.get("local").provider
        assert isinstance(provider, LocalProvider) and provider._captioner is not None
        order: list[tuple[str, str]] = []
        run, caption = provider._run, provider._captioner.caption

        def running(requests, *args):  # type: ignore[no-untyped-def]
            order.append(("generate", threading.current_thread().name))
            return run(requests, *args)

        def captioning(image):  # type: ignore[no-untyped-def]
            order.append(("describe", threading.current_thread().name))
            return caption(image)

        provider._run = running  # type: ignore[method-assign]
        provider._captioner.caption = captioning  # type: ignore[method-assign]
        generation = await rt.service.submit(GenerationRequest("a boat"), Requester(1))
        described = await rt.service.submit_describe(png(), Requester(2))
        assert described.request.mode is Mode.DESCRIBE and described.provider == "local"
        assert order == []  # queued, not run on the spot
        sink = Collect()
        worker = rt.worker(sink, origin="discord")
        await worker.start()
        async with asyncio.timeout(60):
            while len(sink.jobs) < 2:
                sink.changed.clear()
                await sink.changed.wait()
        await worker.stop()
    assert [job.job_id for job in sink.jobs] == [generation.job_id, described.job_id]
    assert all(job.status is JobStatus.SUCCEEDED for job in sink.jobs)
    assert sink.jobs[1].result_text
    assert [what for what, _ in order] == ["generate", "describe"]
    assert all(thread.startswith("local-gpu") for _, thread in order)
