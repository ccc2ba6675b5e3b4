"""Describe jobs in the queue, below Discord: the caption is kept with the job, fenced by its
attempt, survives a restart before delivery, and the scaled mode refuses them."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest
from PIL import Image

from bot.errors import InvalidTransition, Refusal
from bot.jobs import JobStatus, Requester
from bot.runtime import Runtime, open_runtime
from bot.service import JobService
from bot.settings import LoadedSettings, ScaleSettings, Secrets
from engine import Capabilities, GenerationRequest, InvalidRequest, Mode
from tests.bot.helpers import submit
from tests.bot.test_worker import RecordingSink, working
from tests.conftest import FAKE_KIND, make_settings


def png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(buffer, "PNG")
    return buffer.getvalue()


def describing(tmp_path: Path) -> LoadedSettings:
    settings = make_settings(tmp_path, providers={"fake": {"kind": FAKE_KIND, "describe": True}})
    return LoadedSettings(settings, Secrets(), None)


async def test_the_caption_is_stored_and_survives_a_restart_before_delivery(tmp_path: Path):
    loaded = describing(tmp_path)
    async with open_runtime(loaded) as rt:
        sink = RecordingSink(fail_first=10**6)  # the process dies before any delivery lands
        worker = rt.worker(sink, origin="discord")
        await worker.start()
        job = await rt.service.submit_describe(png(), Requester(7))
        for _ in range(200):
            stored = await rt.store.get(job.job_id)
            if stored is not None and stored.status is JobStatus.SUCCEEDED:
                break
            await asyncio.sleep(0.02)
        await worker.stop()
    async with open_runtime(loaded) as rt, working(rt) as sink:
        await sink.wait_for(1)
    [(delivered, images)] = sink.delivered
    assert delivered.job_id == job.job_id and images == []
    assert delivered.result_text == "a fake caption of a 40x30 picture"


async def test_a_stale_attempt_cannot_store_its_caption(runtime: Runtime):
    job = await submit(runtime, 7)
    capacity = runtime.providers.capacity(*await runtime.store.running_counts(), 1)
    [first] = await runtime.store.claim("discord", capacity)
    await runtime.store.fail(first, "try again", retry_after=0)
    [second] = await runtime.store.claim("discord", capacity)
    assert (first.attempt, second.attempt) == (1, 2)
    with pytest.raises(InvalidTransition):
        await runtime.store.keep_text(first, "too late")
    await runtime.store.keep_text(second, "in time")
    stored = await runtime.store.get(job.job_id)
    assert stored is not None and stored.result_text == "in time"


async def test_the_scaled_mode_refuses_descriptions_instead_of_bypassing_the_queue(
    tmp_path: Path,
):
    async with open_runtime(describing(tmp_path)) as rt:
        scaled = rt.settings.model_copy(update={"scale": ScaleSettings(enabled=True)})
        service = JobService(
            rt.store,
            rt.providers,
            rt.service.policy,
            scaled,
            rt.events,
            policies=rt.policies,
            moderation=rt.moderation,
        )
        with pytest.raises(Refusal, match="isn't available"):
            await service.submit_describe(png(), Requester(7))
        assert await rt.db.fetchall("SELECT * FROM jobs") == []


async def test_a_provider_without_a_captioner_is_refused_by_name(runtime: Runtime):
    with pytest.raises(InvalidRequest, match="captioner"):
        await runtime.service.submit_describe(png(), Requester(7))
    with pytest.raises(InvalidRequest, match="captioner"):
        await runtime.service.submit_describe(png(), Requester(7), provider="fake")


def test_describing_is_a_mode_exactly_when_a_provider_has_a_captioner():
    assert Mode.DESCRIBE in Capabilities(describe=True).modes
    assert Mode.DESCRIBE not in Capabilities(modes=frozenset(Mode)).modes


async def test_a_describe_request_never_enters_as_a_generation(runtime: Runtime):
    request = GenerationRequest("x", mode=Mode.DESCRIBE, width=64, height=64)
    with pytest.raises(InvalidRequest, match="/describe"):
        await runtime.service.submit(request, Requester(7))
    assert await runtime.db.fetchall("SELECT * FROM jobs") == []
