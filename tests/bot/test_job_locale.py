"""The language of a job's requester is stored with the job, so the results and failures
posted later (with no interaction to ask) are written in it."""

from __future__ import annotations

from bot.jobs import JobStatus, Requester
from bot.runtime import Runtime
from cogs import render
from engine import GenerationRequest
from tests.bot.helpers import claim_all


async def submit(rt: Runtime, locale: str | None, prompt: str = "a lighthouse"):
    request = GenerationRequest(prompt=prompt, width=64, height=64)
    return await rt.service.submit(
        request, Requester(7, None, 1000, locale=locale), target={"channel_id": 1000}
    )


async def test_a_jobs_locale_is_stored_and_read_back(runtime: Runtime):
    job = await submit(runtime, "de")
    assert job.locale == "de"
    stored = await runtime.store.get(job.job_id)
    assert stored is not None and stored.locale == "de"


async def test_a_job_without_a_locale_reads_as_english(runtime: Runtime):
    job = await submit(runtime, None)
    assert job.locale is None
    assert render.ended_line(job).startswith("Job #")


async def test_a_claimed_job_keeps_its_locale_for_the_worker(runtime: Runtime):
    await submit(runtime, "es")
    [claimed] = await claim_all(runtime)
    assert claimed.locale == "es"
    finished = await runtime.store.get(claimed.job_id)
    assert finished is not None and finished.status is JobStatus.SUCCEEDED
    assert render.ended_line(finished) == f"El trabajo #{finished.job_id} está listo."
