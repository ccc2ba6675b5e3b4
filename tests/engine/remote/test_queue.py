"""What the queue does with a remote provider's outcomes, end to end through the bot."""

from __future__ import annotations

import asyncio
from pathlib import Path

from pydantic import SecretStr

from bot.jobs import TERMINAL, Job, JobStatus, Requester
from bot.runtime import Runtime
from bot.settings import Secrets
from engine import GenerationRequest, Mode
from tests.cogs.conftest import ALICE, GENERAL, World, open_world
from tests.cogs.test_imagine import result_of
from tests.engine.remote.test_a1111 import PASSWORD as A1111_PASSWORD
from tests.engine.remote.test_a1111 import Forge, left_half_mask, levels
from tests.engine.remote.test_openai_compatible import serve
from tests.engine.remote.test_openai_edits import KEY as EDITS_KEY
from tests.engine.remote.test_openai_edits import EditServer
from tests.fakes.http_api import FakeApi, Fault, png

PATH = "/v1/images/generations"


async def imagine_and_wait(world: World, prompt: str) -> str:
    interaction = await world.fake.invoke(
        "imagine", {"prompt": prompt, "model": "remote:sd-turbo-cpp"}, user=ALICE, channel=GENERAL
    )
    await interaction.wait(lambda i: "failed" in (i.original.content if i.original else ""), 30)
    return str(interaction.original.content)


async def test_a_submit_whose_answer_was_lost_is_failed_and_refunded_not_sent_again(
    tmp_path: Path, redirect: None, api: FakeApi
):
    serve(api)
    api.fail(Fault(PATH, times=10, delay=1.0))
    remote = {"kind": "openai", "base_url": api.base, "models": ["sd-turbo-cpp"]}
    async with open_world(
        tmp_path,
        providers={"remote": remote | {"read_timeout": 0.2}},
        queue={"retry_backoff_seconds": 0.0, "max_attempts": 3},
    ) as world:
        text = await imagine_and_wait(world, "a lighthouse")
        assert await world.used(ALICE) == 0  # refunded
    assert "not sent again" in text
    assert len(api.calls(PATH)) == 1  # one charge at most, not three


async def test_a_long_retry_after_is_waited_out_within_the_jobs_time_limit(
    tmp_path: Path, redirect: None, api: FakeApi, waits: list[float]
):
    serve(api)
    api.fail(Fault(PATH, status=429, headers={"Retry-After": "100"}))
    remote = {"kind": "openai", "base_url": api.base, "models": ["sd-turbo-cpp"]}
    async with open_world(
        tmp_path, providers={"remote": remote}, queue={"job_timeout_seconds": 600}
    ) as world:
        interaction = await world.fake.invoke(
            "imagine",
            {"prompt": "a harbour", "model": "remote:sd-turbo-cpp"},
            user=ALICE,
            channel=GENERAL,
        )
        assert (await result_of(world, interaction)).files
    assert waits == [100.0]  # the worker told the policy how long the job may run
    assert len(api.calls(PATH)) == 2


async def finished(runtime: Runtime, job_id: int) -> Job:
    for _ in range(600):  # a guard against a hang, not a measure
        job = await runtime.store.get(job_id)
        assert job is not None
        if job.status in TERMINAL:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} did not finish")


async def test_an_a1111_inpaint_runs_through_the_queue_with_its_stored_mask(
    tmp_path: Path, redirect: None, api: FakeApi
):
    forge = Forge(api)
    remote = {"kind": "a1111", "base_url": api.base, "username": "owner"}
    secrets = Secrets(provider_keys={"forge": SecretStr(A1111_PASSWORD)})
    async with open_world(tmp_path, secrets=secrets, providers={"forge": remote}) as world:
        request = GenerationRequest(
            "a red door",
            mode=Mode.INPAINT,
            init_image=png((0, 0, 250), (64, 64)),
            mask_image=left_half_mask((64, 64)),
            width=64,
            height=64,
        )
        job = await world.runtime.service.submit(request, Requester(ALICE), provider="forge")
        done = await finished(world.runtime, job.job_id)
        images = await world.runtime.store.images(job.job_id)
    assert done.status is JobStatus.SUCCEEDED, done
    body = api.calls("/sdapi/v1/img2img")[0].body
    assert body["inpainting_fill"] == 1 and body["inpainting_mask_invert"] == 0
    assert levels(forge.masks[0]) == {0, 255}
    assert [(image.width, image.height) for image in images] == [(64, 64)]


async def test_an_openai_edit_of_several_images_runs_through_the_queue(
    tmp_path: Path, redirect: None, api: FakeApi
):
    server = EditServer(api)
    remote = {
        "kind": "openai",
        "base_url": api.base,
        "models": ["gpt-image-1"],
        "edits": True,
        "max_input_images": 2,
        "models_path": "",
    }
    secrets = Secrets(provider_keys={"oai": SecretStr(EDITS_KEY)})
    async with open_world(tmp_path, secrets=secrets, providers={"oai": remote}) as world:
        request = GenerationRequest(
            "put this logo on the mug",
            mode=Mode.EDIT,
            init_image=png((0, 0, 250), (64, 64)),
            extra_images=(png((9, 9, 9), (64, 64)),),
        )
        job = await world.runtime.service.submit(request, Requester(ALICE), provider="oai")
        done = await finished(world.runtime, job.job_id)
    assert done.status is JobStatus.SUCCEEDED, done
    assert len(server.forms[0]["image[]"]) == 2
