"""Inline parameters typed into the result buttons' prompt boxes (Remix, Vary (Region)'s new
prompt, Edit's instruction), through the fake Discord: the job they make, and refusals that
charge nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.jobs import Job
from tests.cogs.conftest import ALICE, GENERAL, World, open_world
from tests.cogs.test_imagine import result_of
from tests.fakes.discord import FakeInteraction, FakeMessage


@pytest.fixture
async def tools(tmp_path: Path, redirect: None) -> AsyncIterator[World]:
    fake = {"edit": ["fake-v1"], "inpaint": True, "segment": True}
    async with open_world(tmp_path, fake=fake) as opened:
        yield opened


async def first_result(world: World, prompt: str = "a fox", **options: object) -> FakeMessage:
    asked = await world.fake.invoke(
        "imagine", {"prompt": prompt, **options}, user=ALICE, channel=GENERAL
    )
    return await result_of(world, asked)


async def remix(world: World, result: FakeMessage, fields: dict[str, str]) -> FakeInteraction:
    clicked = await world.fake.click(result.id, "img:m:1:0", user=ALICE)
    await clicked.response()
    assert clicked.modal is not None
    return await world.fake.submit_modal(clicked, fields)


async def job(world: World, job_id: int) -> Job:
    found = await world.runtime.store.get(job_id)
    assert found is not None
    return found


async def said(interaction: FakeInteraction, words: str) -> str:
    await interaction.wait(lambda i: any(words in (m.content or "") for m in i.messages), 15)
    return "\n".join(m.content or "" for m in interaction.messages)


async def test_remix_parameters_shape_the_job_and_stay_out_of_the_prompt(world: World):
    result = await first_result(world, "a fox --steps 9", negative="blur")
    submitted = await remix(
        world, result, {"prompt": "a fox in snow --ar 16:9 --no text --seed 7", "negative": "blur"}
    )
    await result_of(world, submitted)
    remixed = (await job(world, 2)).request
    assert remixed.prompt == "a fox in snow"
    assert remixed.negative_prompt == "blur, text"
    assert remixed.size == (704, 384)  # as /imagine's --ar 16:9 makes it
    assert remixed.seed == 7 and remixed.steps == 9  # the job's own settings are kept


async def test_remix_refuses_an_unknown_parameter_with_close_matches_and_charges_nothing(
    world: World,
):
    result = await first_result(world)
    used = await world.used(ALICE)
    submitted = await remix(world, result, {"prompt": "a fox --sed 7"})
    text = await said(submitted, "--sed")
    assert "--seed" in text
    assert len(await world.jobs()) == 1 and await world.used(ALICE) == used


@pytest.mark.parametrize(
    ("prompt", "named"),
    [
        ("a fox --repeat 3", "/imagine"),
        ("a {red, blue} fox", "/imagine"),
        ("a fox --model other", "--model"),
        ("--seed 4", "write some text"),
    ],
)
async def test_remix_queues_one_job_and_says_where_the_rest_is_done(
    world: World, prompt: str, named: str
):
    result = await first_result(world)
    used = await world.used(ALICE)
    text = await said(await remix(world, result, {"prompt": prompt}), named)
    assert named in text
    assert len(await world.jobs()) == 1 and await world.used(ALICE) == used


async def test_a_quoted_dash_stays_in_the_remixed_prompt(world: World):
    result = await first_result(world)
    await result_of(world, await remix(world, result, {"prompt": 'a sign "--no entry" --seed 3'}))
    remixed = (await job(world, 2)).request
    assert remixed.prompt == 'a sign "--no entry"' and remixed.seed == 3
