"""/imagine with inline parameters, permutations, --repeat and wildcards, through the fake
Discord: what is stored, what is said, and nothing charged before a confirmation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from engine.types import Reference, ReferenceKind
from tests.cogs.conftest import ALICE, GENERAL, World, open_world
from tests.cogs.test_imagine import labels, result_fields, result_of, result_prompt
from tests.fakes.discord import FakeInteraction, FakeMessage


async def imagine(world: World, prompt: str, **options: Any) -> FakeInteraction:
    return await world.fake.invoke(
        "imagine", {"prompt": prompt, **options}, user=ALICE, channel=GENERAL
    )


async def said(interaction: FakeInteraction, words: str) -> str:
    await interaction.wait(lambda i: any(words in (m.content or "") for m in i.messages), 15)
    return "\n".join(m.content or "" for m in interaction.messages)


def button(message: FakeMessage, label: str) -> str:
    for row in message.components:
        for component in row.get("components", []):
            if component.get("label", "").startswith(label):
                return str(component["custom_id"])
    raise AssertionError(f"no {label!r} button in {labels(message)}")


async def test_inline_parameters_set_the_request_and_stay_out_of_the_prompt(world: World):
    asked = await imagine(world, "a castle --ar 16:9 --no people, text --seed 7 --steps 9")
    result = await result_of(world, asked)
    job = await world.runtime.store.get(1)
    assert job is not None
    request = job.request
    assert request.prompt == "a castle"
    assert request.negative_prompt.endswith("people, text")
    assert request.seed == 7 and request.steps == 9
    assert request.size == (704, 384)  # as the aspect option's 16:9 makes it
    assert result_prompt(result) == "a castle"
    fields = result_fields(result)
    # the ratio of the size drawn (704:384), to copy into another prompt
    assert fields["Parameters"] == "--ar 11:6 --seed 7 --steps 9"


async def test_a_command_option_wins_and_the_reply_says_so(world: World):
    asked = await imagine(world, "a fox --seed 7 --cfg 4", seed=11)
    text = await said(asked, "ignored")
    assert "--seed 7 ignored: the seed option was given" in text
    job = await world.runtime.store.get(1)
    assert job is not None and job.request.seed == 11 and job.request.guidance == 4


async def test_an_unknown_parameter_is_refused_with_close_matches(world: World):
    asked = await imagine(world, "a fox --sed 7")
    text = await said(asked, "--sed")
    assert "--seed" in text
    assert await world.jobs() == [] and await world.used(ALICE) == 0


async def test_a_quoted_dash_stays_in_the_prompt(world: World):
    await result_of(world, await imagine(world, 'a sign saying "--no entry" --seed 3'))
    job = await world.runtime.store.get(1)
    assert job is not None
    assert job.request.prompt == 'a sign saying "--no entry"' and job.request.seed == 3


async def test_permutations_ask_first_and_charge_nothing_until_confirmed(world: World):
    asked = await imagine(world, "a {red, blue} bird --repeat 2")
    text = await said(asked, "Queue them?")
    assert "4 jobs" in text and "a red bird" in text and "a blue bird" in text
    assert await world.jobs() == [] and await world.used(ALICE) == 0
    assert asked.original is not None
    queue = button(asked.original, "Queue 4 jobs")
    clicked = await world.fake.click(asked.original.id, queue, user=ALICE)
    await clicked.wait(lambda i: len(i.followups) == 3, 15)
    rows = await world.jobs()
    assert [row["job_id"] for row in rows] == [1, 2, 3, 4]
    jobs = [await world.runtime.store.get(row["job_id"]) for row in rows]
    prompts = [job.request.prompt for job in jobs if job is not None]
    assert prompts == ["a red bird", "a red bird", "a blue bird", "a blue bird"]
    assert await world.used(ALICE) == sum(row["cost"] for row in rows) > 0


async def test_cancel_queues_nothing(world: World):
    asked = await imagine(world, "a {red, blue} bird")
    await said(asked, "Queue them?")
    assert asked.original is not None
    clicked = await world.fake.click(
        asked.original.id, button(asked.original, "Cancel"), user=ALICE
    )
    await clicked.response()
    await asked.wait(lambda i: "Nothing was queued" in (i.original.content or ""))  # type: ignore[union-attr]
    assert await world.jobs() == [] and await world.used(ALICE) == 0


async def test_more_jobs_than_the_queue_limit_are_refused_before_asking(
    tmp_path: Path, redirect: None
):
    async with open_world(tmp_path, queue={"max_queued_per_user": 3}) as world:
        asked = await imagine(world, "a {red, blue} bird --repeat 2")
        text = await said(asked, "at most")
        assert "4 jobs" in text and "3" in text
        asked = await imagine(world, "{a, b, c, d} bird")
        assert "more than 3 prompts" in await said(asked, "more than")
        assert await world.jobs() == []


async def test_a_style_that_does_not_exist_is_refused(world: World):
    asked = await imagine(world, "a fox --style moody")
    assert "There is no style `moody` here" in await said(asked, "style")
    assert await world.jobs() == []


async def test_tile_is_refused_where_the_model_cannot_and_kept_where_it_can(
    tmp_path: Path, redirect: None
):
    async with open_world(tmp_path, fake={"tile": ["fake-v2"]}) as world:
        asked = await imagine(world, "a tile of moss --tile")
        text = await said(asked, "tiles")
        assert "fake-v2" in text and await world.jobs() == []
        await result_of(world, await imagine(world, "a tile of moss --tile --model fake-v2"))
        job = await world.runtime.store.get(1)
        assert job is not None and job.request.tile and job.request.model == "fake-v2"


async def test_chaos_is_stored_with_the_job(world: World):
    await result_of(world, await imagine(world, "a fox --chaos 40", count=2))
    job = await world.runtime.store.get(1)
    assert job is not None and job.request.chaos == 40


async def test_wildcards_are_picked_by_the_seed(tmp_path: Path, redirect: None):
    lists = tmp_path / "wildcards"
    lists.mkdir()
    (lists / "animal.txt").write_text("cat\ndog\nfox\n", encoding="utf-8")
    async with open_world(tmp_path, prompts={"wildcards_dir": str(lists)}) as world:
        await result_of(world, await imagine(world, "a __animal__ --seed 5"))
        await result_of(world, await imagine(world, "a __animal__ --seed 5"))
        first, second = [await world.runtime.store.get(n) for n in (1, 2)]
        assert first is not None and second is not None
        assert first.request.prompt == second.request.prompt
        assert first.request.prompt in {"a cat", "a dog", "a fox"}
        asked = await imagine(world, "a __plant__")
        assert "__plant__" in await said(asked, "no such wildcard")


@pytest.mark.parametrize("text", ["a fox \u2014ar 3:2", "a fox --ar 3:2"])
async def test_a_phone_dash_works_as_two_hyphens(world: World, text: str):
    await result_of(world, await imagine(world, text))
    job = await world.runtime.store.get(1)
    assert job is not None and job.request.prompt == "a fox"
    assert job.request.size == (640, 448)  # as the aspect option's 3:2 makes it


async def test_sref_names_the_members_results_as_style_references(tmp_path: Path, redirect: None):
    async with open_world(tmp_path, fake={"references": ["fake-v1"]}) as world:
        await result_of(world, await imagine(world, "a fox", count=2))
        await result_of(world, await imagine(world, "a fox --sref 1:2 --sw 50"))
        job = await world.runtime.store.get(2)
        assert job is not None
        assert job.request.references == (Reference(ReferenceKind.STYLE, 0.5),)
        assert job.request.prompt == "a fox"
        asked = await imagine(world, "a fox --sref https://example.com/x.png")
        assert "attach it with the sref option" in await said(asked, "sref")


async def test_a_refusal_at_queue_time_queues_none_of_them(tmp_path: Path, redirect: None):
    async with open_world(tmp_path, quota={"daily_units": 1}) as world:
        asked = await imagine(world, "a {red, blue} bird")
        await said(asked, "Queue them?")
        assert asked.original is not None
        clicked = await world.fake.click(
            asked.original.id, button(asked.original, "Queue 2 jobs"), user=ALICE
        )
        await clicked.wait(lambda i: "quota" in (i.original.content if i.original else ""), 15)
        assert clicked.original is not None and not clicked.original.components
        assert await world.jobs() == [] and await world.used(ALICE) == 0
