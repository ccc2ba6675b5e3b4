"""What the queue does with a remote provider's outcomes, end to end through the bot."""

from __future__ import annotations

from pathlib import Path

from tests.cogs.conftest import ALICE, GENERAL, World, open_world
from tests.cogs.test_imagine import result_of
from tests.engine.remote.test_openai_compatible import serve
from tests.fakes.http_api import FakeApi, Fault

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
