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
from tests.cogs.test_region import (
    drawn,
    option,
    pending_files,
    png,
    preview_of,
    refused,
    region_choice,
    upload,
)
from tests.cogs.test_tools import png as png_bytes
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


async def edit_form(world: World) -> FakeInteraction:
    """Edit's form on a single image's result (its panel is on the result itself)."""
    result = await first_result(world)
    clicked = await world.fake.click(result.id, "img:e:1:0", user=ALICE)
    await clicked.response()
    assert clicked.modal is not None
    return clicked


async def test_the_edit_instruction_takes_a_seed_and_things_to_keep_out(tools: World):
    clicked = await edit_form(tools)
    submitted = await tools.fake.submit_modal(
        clicked, {"instruction": "make it night --seed 5 --no moon"}
    )
    await result_of(tools, submitted)
    edited = (await job(tools, 2)).request
    assert edited.prompt == "make it night" and edited.seed == 5
    assert edited.negative_prompt.endswith("moon")


async def test_the_edit_instruction_refuses_other_parameters_naming_those_it_takes(
    tools: World,
):
    clicked = await edit_form(tools)
    used = await tools.used(ALICE)
    submitted = await tools.fake.submit_modal(clicked, {"instruction": "make it night --ar 2:1"})
    text = await said(submitted, "--ar")
    assert "--no, --seed" in text
    assert len(await tools.jobs()) == 1 and await tools.used(ALICE) == used


async def test_a_repaints_new_prompt_takes_parameters_that_fit_a_repaint(tools: World):
    choice = await region_choice(tools, await first_result(tools))
    assert choice.original is not None
    picked = await tools.fake.select(choice.original.id, "region:1:0", ["left"], user=ALICE)
    preview = await preview_of(picked)
    asked = await tools.fake.click(preview.id, option(preview, "w"), user=ALICE)
    await asked.response()
    submitted = await tools.fake.submit_modal(
        asked, {"prompt": "a stormy sky --seed 9 --no birds --steps 12"}
    )
    await result_of(tools, submitted)
    repainted = (await job(tools, 2)).request
    assert repainted.prompt == "a stormy sky" and repainted.seed == 9 and repainted.steps == 12
    assert repainted.negative_prompt.endswith("birds")


async def test_parameters_alone_keep_the_jobs_prompt(tools: World):
    choice = await region_choice(tools, await first_result(tools))
    assert choice.original is not None
    picked = await tools.fake.select(choice.original.id, "region:1:0", ["left"], user=ALICE)
    preview = await preview_of(picked)
    asked = await tools.fake.click(preview.id, option(preview, "w"), user=ALICE)
    await asked.response()
    await result_of(tools, await tools.fake.submit_modal(asked, {"prompt": "--seed 4"}))
    repainted = (await job(tools, 2)).request
    assert repainted.prompt == "a fox" and repainted.seed == 4


async def test_a_mask_with_an_unusable_parameter_is_refused_before_any_preview(tools: World):
    choice = await region_choice(tools, await first_result(tools))
    used = await tools.used(ALICE)
    submitted = await upload(tools, choice, png(drawn()), prompt="a red hat --ar 2:1")
    text = await refused(submitted)
    assert "--ar" in text and "Vary (Region)" in text
    assert pending_files(tools) == [] and await tools.used(ALICE) == used
    assert len(await tools.jobs()) == 1


async def test_remix_replaces_wildcards_by_the_seed_as_imagine_does(tmp_path: Path, redirect: None):
    lists = tmp_path / "wildcards"
    lists.mkdir()
    (lists / "animal.txt").write_text("cat\ndog\nfox\n", encoding="utf-8")
    async with open_world(tmp_path, prompts={"wildcards_dir": str(lists)}) as world:
        result = await first_result(world, "a __animal__ --seed 5")
        await result_of(world, await remix(world, result, {"prompt": "a __animal__ --seed 5"}))
        imagined, remixed = [(await job(world, n)).request for n in (1, 2)]
        assert remixed.prompt == imagined.prompt and remixed.prompt in {"a cat", "a dog", "a fox"}
        used = await world.used(ALICE)
        asked = await remix(world, result, {"prompt": "a __plant__"})
        assert "__plant__" in await said(asked, "no such wildcard")
        assert len(await world.jobs()) == 2 and await world.used(ALICE) == used


async def test_the_edit_command_reads_its_instruction_the_same_way(tools: World):
    photo = tools.fake.add_attachment(png_bytes(300, 200))
    asked = await tools.fake.invoke(
        "edit",
        {"image": photo, "instruction": "make it night --seed 3 --no stars"},
        user=ALICE,
        channel=GENERAL,
    )
    await result_of(tools, asked)
    request = (await job(tools, 1)).request
    assert request.prompt == "make it night" and request.seed == 3
    assert request.negative_prompt.endswith("stars")
    refused = await tools.fake.invoke(
        "edit",
        {"image": photo, "instruction": "make it night --steps 4"},
        user=ALICE,
        channel=GENERAL,
    )
    assert "--steps" in await said(refused, "Edit doesn't take it")
    assert len(await tools.jobs()) == 1
