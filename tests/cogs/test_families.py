"""Today's model families as members meet them, on the local engine's tiny pipelines: /imagine
draws with them, autocomplete offers each model's own samplers, /models says what each model
is, takes and is licensed under, and a default negative prompt never blocks a model that takes
none (nor do the result's buttons)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.jobs import JobStatus
from bot.members import Preferences
from engine.local.samplers import FLOW_SAMPLERS, SAMPLERS
from tests.cogs.conftest import ALICE, GENERAL, World, open_local_world
from tests.cogs.test_imagine import labels, result_fields, result_of
from tests.cogs.test_member import reply_of
from tests.engine.local.family_models import FamilyModels
from tests.fakes.discord.rules import walk

pytestmark = [pytest.mark.timeout(180), pytest.mark.usefixtures("one_torch_thread")]

KEYS = ["flux1-schnell", "z-image", "flux2-klein", "chroma", "sd", "sana-sprint"]
LICENCES = {"flux1-schnell": "Apache-2.0", "chroma": "Apache-2.0"}
SERVER_NEGATIVE = "blurry, low quality"


@pytest.fixture
async def world(
    tmp_path: Path, redirect: None, family_models: FamilyModels
) -> AsyncIterator[World]:
    """The bot with a local engine of six families, the default provider, under a default
    negative prompt; the fake provider only draws."""
    licences = {key: {"licence": licence} for key, licence in LICENCES.items()}
    local = family_models.options(KEYS, models=licences)
    async with open_local_world(
        tmp_path, local, defaults={"negative_prompt": SERVER_NEGATIVE}
    ) as opened:
        yield opened


async def imagine(world: World, model: str, **options: object):
    return await world.fake.invoke(
        "imagine",
        {"prompt": "a lighthouse", "model": f"local:{model}", **options},
        user=ALICE,
        channel=GENERAL,
    )


async def job(world: World, job_id: int):
    found = await world.runtime.store.get(job_id)
    assert found is not None
    return found


@pytest.mark.parametrize("model", ["flux1-schnell", "z-image", "flux2-klein"])
async def test_a_member_gets_an_image_from_each_family(world: World, model: str):
    result = await result_of(world, await imagine(world, model, count=2))
    assert sorted(result.files) == ["1-0.png", "1-1.png"]
    fields = result_fields(result)
    assert fields["Model"] == model and fields["Provider"] == "local"
    assert fields["Size"] == "64×64"
    done = await job(world, 1)
    assert done.status is JobStatus.SUCCEEDED
    takes_negative = world.runtime.providers.get("local").provider.model_info(model)
    assert done.request.negative_prompt == (
        SERVER_NEGATIVE if takes_negative.negative_prompt else ""
    )
    assert not world.fake.violations


async def test_sampler_autocomplete_offers_the_chosen_models_own_samplers(world: World):
    async def samplers(model: str | None, typed: str = "") -> list[str]:
        options = {"prompt": "x", "sampler": typed} | ({"model": model} if model else {})
        choices = await world.fake.autocomplete(
            "imagine", options, focused="sampler", user=ALICE, channel=GENERAL
        )
        return [choice["value"] for choice in choices]

    assert await samplers("local:flux1-schnell") == list(FLOW_SAMPLERS)
    assert await samplers("local:sd") == list(SAMPLERS)
    assert await samplers("local:sd", "karras") == [s for s in SAMPLERS if "Karras" in s]
    assert await samplers("local:sana-sprint") == []  # only its own
    assert await samplers(None) == list(FLOW_SAMPLERS)  # the default model: flux1-schnell
    assert await samplers("fake:fake-v1") == ["Euler", "Euler a"]
    models = await world.fake.autocomplete(
        "imagine", {"prompt": "x", "model": "klein"}, focused="model", user=ALICE, channel=GENERAL
    )
    assert models == [{"name": "flux2-klein (local: FLUX.2 [klein])", "value": "local:flux2-klein"}]


async def test_models_shows_each_models_family_what_it_takes_and_its_licence(world: World):
    text = await reply_of(world, "models")
    lines = {line.split(":")[0]: line for line in text.splitlines() if line.startswith("`")}
    assert lines["`flux1-schnell` (default)"] == (
        "`flux1-schnell` (default): FLUX.1 [schnell]; takes samplers, img2img, inpainting, "
        "outpainting; Apache-2.0"
    )
    assert lines["`flux2-klein`"] == (
        "`flux2-klein`: FLUX.2 [klein]; takes samplers, edits, inpainting, outpainting, "
        "references (style, subject)"
    )
    assert lines["`chroma`"] == (
        "`chroma`: Chroma; takes negative prompt, guidance, samplers, img2img; Apache-2.0"
    )
    assert lines["`sana-sprint`"] == "`sana-sprint`: Sana-Sprint; takes guidance, img2img"
    assert any(line.startswith("`fake-v1`") for line in lines)  # a provider without families


async def test_a_default_negative_applies_only_where_the_model_takes_one(world: World):
    await world.runtime.members.save_preferences(ALICE, Preferences(negative_prompt="text"))
    await result_of(world, await imagine(world, "flux1-schnell"))
    await result_of(world, await imagine(world, "chroma"))
    assert (await job(world, 1)).request.negative_prompt == ""
    assert (await job(world, 2)).request.negative_prompt == "text"  # the member's, then
    typed = await imagine(world, "flux1-schnell", negative="fog")
    await typed.wait(lambda i: bool(i.original and i.original.content))
    refusal = typed.original.content  # type: ignore[union-attr]
    assert "negative" in refusal and "flux1-schnell (FLUX.1 [schnell])" in refusal
    assert len(await world.jobs()) == 2
    assert not world.fake.violations


async def test_the_buttons_work_on_a_model_without_a_negative_prompt(world: World):
    result = await result_of(world, await imagine(world, "flux1-schnell"))
    assert labels(result)[:2] == ["U1", "V1"]
    for button, job_id in (("img:r:1:0", 2), ("img:v:1:0", 3), ("img:u:1:0", 4)):
        await result_of(world, await world.fake.click(result.id, button, user=ALICE))
        again = await job(world, job_id)
        assert again.status is JobStatus.SUCCEEDED and again.request.negative_prompt == ""
    remix = await world.fake.click(result.id, "img:m:1:0", user=ALICE)
    await remix.response()
    assert remix.modal is not None
    inputs = [c["custom_id"] for c in walk(remix.modal["components"]) if "custom_id" in c]
    assert inputs == ["prompt"]  # no negative prompt to fill in
    await result_of(world, await world.fake.submit_modal(remix, {"prompt": "a lighthouse, snow"}))
    remixed = await job(world, 5)
    assert remixed.status is JobStatus.SUCCEEDED and remixed.request.prompt == "a lighthouse, snow"
    assert not world.fake.violations


async def test_a_model_without_img2img_offers_no_upscale_or_variation(world: World):
    result = await result_of(world, await imagine(world, "flux2-klein"))
    assert "U1" not in labels(result) and "V1" not in labels(result)
    await result_of(world, await world.fake.click(result.id, "img:r:1:0", user=ALICE))
    assert (await job(world, 2)).status is JobStatus.SUCCEEDED


async def test_an_aspect_ratio_rounds_to_the_models_size_multiple(world: World):
    await result_of(world, await imagine(world, "flux1-schnell", width=128, aspect="3:2"))
    assert (await job(world, 1)).request.size == (128, 80)  # 85 px rounded to a multiple of 16
