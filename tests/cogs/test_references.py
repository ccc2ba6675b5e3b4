"""/imagine's references (uploads and the member's own results) and control image: what is
queued, the refusals, and the places they work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.jobs import Job
from engine import Mode
from engine.types import Control, ControlKind, Reference, ReferenceKind
from tests.cogs.conftest import ADULT, ALICE, BOB, ELSEWHERE_CHANNEL, GENERAL, World, open_world
from tests.cogs.test_imagine import result_files, result_of, result_thumbnail
from tests.cogs.test_region import option, preview_of, region_choice
from tests.cogs.test_tools import TOOLS, picture, png, said, same_picture, stored

# fake-v1 follows references and control maps; fake-v2 neither.
STEERED = {"references": ["fake-v1"], "controls": ["fake-v1"], "max_references": 5}


@pytest.fixture
async def steered(tmp_path: Path, redirect: None) -> AsyncIterator[World]:
    async with open_world(tmp_path, fake=STEERED) as opened:
        yield opened


async def imagined(world: World, user: int = ALICE, channel: int = GENERAL, **options: Any) -> Job:
    interaction = await world.fake.invoke(
        "imagine", {"prompt": "a fox", **options}, user=user, channel=channel
    )
    await result_of(world, interaction)
    rows = await world.jobs()
    job = await world.runtime.store.get(rows[-1]["job_id"])
    assert job is not None
    return job


async def refused(world: World, user: int = ALICE, **options: Any) -> str:
    before = len(await world.jobs())
    interaction = await world.fake.invoke(
        "imagine", {"prompt": "a fox", **options}, user=user, channel=GENERAL
    )
    text = await said(interaction)
    assert len(await world.jobs()) == before  # nothing queued, nothing charged
    return text


async def test_imagine_takes_a_style_and_a_subject_reference_with_their_weights(steered: World):
    style, subject = png(64, 64, (200, 0, 0)), png(96, 64, (0, 0, 200))
    job = await imagined(
        steered,
        sref=steered.fake.add_attachment(style),
        sref_weight=0.5,
        oref=steered.fake.add_attachment(subject, "cat.png"),
    )
    assert job.request.mode is Mode.TXT2IMG
    assert job.request.references == (
        Reference(ReferenceKind.STYLE, 0.5),
        Reference(ReferenceKind.SUBJECT, 1.0),
    )
    drawn = steered.provider.calls[-1]
    assert len(drawn.reference_images) == 2
    assert same_picture(drawn.reference_images[0], style)
    assert same_picture(drawn.reference_images[1], subject)
    assert not job.target["nsfw"]  # a member's image can show a real person: SFW always


async def test_a_reference_from_the_members_own_results(steered: World):
    first = await imagined(steered, count=2)
    job = await imagined(steered, ref_job=f"{first.job_id}:2:subject:0.8")
    assert job.request.references == (Reference(ReferenceKind.SUBJECT, 0.8),)
    [reference] = steered.provider.calls[-1].reference_images
    assert same_picture(reference, await stored(steered, first.job_id, 1))


async def test_someone_elses_result_is_not_a_reference(steered: World):
    theirs = await imagined(steered)
    text = await refused(steered, user=BOB, ref_job=f"{theirs.job_id}:1")
    assert f"Job #{theirs.job_id} isn't one of your results" in text


@pytest.mark.parametrize(
    ("typed", "words"),
    [
        ("1:1:3", "use a weight from 0 to 2"),
        ("1", "write JOB:IMAGE items"),
        ("1:0", "write JOB:IMAGE items"),
        ("1:1:everything", "write JOB:IMAGE items"),
        ("1:7", "has no image 7"),
        ("99:1", "isn't one of your results"),
    ],
)
async def test_a_bad_history_reference_is_refused(steered: World, typed: str, words: str):
    await imagined(steered)
    assert words in await refused(steered, ref_job=typed)


async def test_more_references_than_imagine_takes_are_refused(steered: World):
    await imagined(steered)
    text = await refused(
        steered,
        sref=steered.fake.add_attachment(png(64, 64)),
        oref=steered.fake.add_attachment(png(64, 64)),
        ref_job="1:1, 1:1",
    )
    assert "give 3 at most" in text and "/blend" in text


async def test_more_references_than_the_model_takes_are_refused(tmp_path: Path, redirect: None):
    async with open_world(tmp_path, fake={**STEERED, "max_references": 1}) as world:
        text = await refused(
            world,
            sref=world.fake.add_attachment(png(64, 64)),
            oref=world.fake.add_attachment(png(64, 64)),
        )
        assert "'fake-v1': it can't take 2 reference images" in text


async def test_a_model_without_references_refuses_them_naming_those_that_can(steered: World):
    text = await refused(
        steered, model="fake:fake-v2", sref=steered.fake.add_attachment(png(64, 64))
    )
    assert "'fake-v2': it can't follow style references; fake-v1 can" in text


async def test_a_weight_without_its_image_is_refused(steered: World):
    assert "it only applies with sref" in await refused(steered, sref_weight=1.5)


async def test_imagine_follows_a_control_image(steered: World):
    pose = png(64, 96, (9, 9, 9))
    job = await imagined(
        steered,
        control=steered.fake.add_attachment(pose),
        control_type="pose",
        control_strength=0.7,
        control_start=0.1,
        control_end=0.8,
    )
    assert job.request.control == Control(ControlKind.POSE, 0.7, 0.1, 0.8)
    assert same_picture(steered.provider.calls[-1].control_image, pose)
    assert not job.target["nsfw"]


async def test_control_refusals(steered: World):
    image = steered.fake.add_attachment(png(64, 64))
    assert "say what to follow" in await refused(steered, control=image)
    assert "only applies with a control image" in await refused(steered, control_type="depth")
    text = await refused(
        steered,
        model="fake:fake-v2",
        control=steered.fake.add_attachment(png(64, 64)),
        control_type="depth",
    )
    assert "'fake-v2': it can't follow a depth map; fake-v1 can" in text


@pytest.mark.parametrize("where", ["dm", "user install"])
async def test_references_work_in_dms_and_as_a_user_installed_app(steered: World, where: str):
    if where == "dm":
        channel, by_user = steered.fake.dm_channel_of(ALICE), False
    else:
        channel, by_user = ELSEWHERE_CHANNEL, True
    interaction = await steered.fake.invoke(
        "imagine",
        {
            "prompt": "a fox",
            "sref": steered.fake.add_attachment(png(64, 64)),
            "control": steered.fake.add_attachment(png(64, 64)),
            "control_type": "canny",
        },
        user=ALICE,
        channel=channel,
        installed_by_user=by_user,
    )
    assert (await result_of(steered, interaction)).files
    drawn = steered.provider.calls[-1]
    assert len(drawn.reference_images) == 1 and drawn.control_image is not None
    assert not steered.fake.violations


async def test_reroll_remix_and_the_variations_keep_the_references_and_control(steered: World):
    style, pose = png(64, 64, (200, 0, 0)), png(64, 96, (9, 9, 9))
    interaction = await steered.fake.invoke(
        "imagine",
        {
            "prompt": "a fox",
            "sref": steered.fake.add_attachment(style),
            "sref_weight": 1.5,
            "control": steered.fake.add_attachment(pose),
            "control_type": "depth",
            "control_end": 0.6,
        },
        user=ALICE,
        channel=GENERAL,
    )
    result = await result_of(steered, interaction)
    first = await steered.runtime.store.get(1)
    assert first is not None
    for button in ("img:r:1:0", "img:v:1:0", "img:s:1:0"):
        await result_of(steered, await steered.fake.click(result.id, button, user=ALICE))
    remix = await steered.fake.click(result.id, "img:m:1:0", user=ALICE)
    await remix.response()
    await result_of(steered, await steered.fake.submit_modal(remix, {"prompt": "a wolf"}))
    for job_id in (2, 3, 4, 5):
        job = await steered.runtime.store.get(job_id)
        assert job is not None
        assert job.request.references == first.request.references
        assert job.request.control == Control(ControlKind.DEPTH, 1.0, 0.0, 0.6)
        [reference] = job.request.reference_images
        assert same_picture(reference, style)
        assert same_picture(job.request.control_image, pose)
    assert len(steered.provider.calls) == 5
    assert all(len(call.reference_images) == 1 for call in steered.provider.calls)


async def test_the_result_shows_the_control_map_the_model_followed(tmp_path: Path, redirect: None):
    drawn_map = png(512, 384, (255, 255, 255))
    async with open_world(tmp_path, fake={**STEERED, "control_map": drawn_map}) as world:
        interaction = await world.fake.invoke(
            "imagine",
            {
                "prompt": "a fox",
                "control": world.fake.add_attachment(png(64, 64)),
                "control_type": "canny",
            },
            user=ALICE,
            channel=GENERAL,
        )
        result = await result_of(world, interaction)
        assert result_thumbnail(result) == "1-map.png"
        shown = result.files["1-map.png"]
        assert picture(shown).size == (256, 192)  # small: a preview, not another result
        assert "1-0.png" in result.files


async def test_a_map_that_wont_decode_is_dropped_and_the_result_delivered(
    tmp_path: Path, redirect: None
):
    async with open_world(tmp_path, fake={**STEERED, "control_map": b"not a png"}) as world:
        interaction = await world.fake.invoke(
            "imagine",
            {
                "prompt": "a fox",
                "control": world.fake.add_attachment(png(64, 64)),
                "control_type": "canny",
            },
            user=ALICE,
            channel=GENERAL,
        )
        result = await result_of(world, interaction)
        assert result_thumbnail(result) is None and result_files(result) == ["1-0.png"]


async def test_references_and_control_are_sfw_even_in_an_age_restricted_channel(steered: World):
    plain = await imagined(steered, channel=ADULT)
    assert plain.target["nsfw"]  # the channel allows it for a prompt alone
    referenced = await imagined(
        steered, channel=ADULT, sref=steered.fake.add_attachment(png(64, 64))
    )
    controlled = await imagined(
        steered,
        channel=ADULT,
        control=steered.fake.add_attachment(png(64, 64)),
        control_type="as_is",
    )
    assert not referenced.target["nsfw"] and not controlled.target["nsfw"]
    assert not steered.provider.calls[-1].nsfw_allowed


async def test_tools_that_repaint_or_outpaint_leave_the_references_out(
    tmp_path: Path, redirect: None
):
    async with open_world(tmp_path, fake={**STEERED, **TOOLS}) as world:
        interaction = await world.fake.invoke(
            "imagine",
            {
                "prompt": "a fox",
                "sref": world.fake.add_attachment(png(64, 64)),
                "control": world.fake.add_attachment(png(64, 64)),
                "control_type": "pose",
            },
            user=ALICE,
            channel=GENERAL,
        )
        result = await result_of(world, interaction)
        await result_of(world, await world.fake.click(result.id, "img:z:1:0:2", user=ALICE))
        choice = await region_choice(world, result)
        assert choice.original is not None
        picked = await world.fake.select(choice.original.id, "region:1:0", ["left"], user=ALICE)
        preview = await preview_of(picked)
        await result_of(world, await world.fake.click(preview.id, option(preview, "y"), user=ALICE))
        for job_id, mode in ((2, Mode.OUTPAINT), (3, Mode.INPAINT)):
            job = await world.runtime.store.get(job_id)
            assert job is not None and job.request.mode is mode
            assert job.request.references == () and job.request.control is None
        assert [len(call.reference_images) for call in world.provider.calls] == [1, 0, 0]


async def test_reroll_after_a_restart_still_has_the_references(steered: World):
    style = png(64, 64, (200, 0, 0))
    interaction = await steered.fake.invoke(
        "imagine",
        {"prompt": "a fox", "sref": steered.fake.add_attachment(style)},
        user=ALICE,
        channel=GENERAL,
    )
    result = await result_of(steered, interaction)
    await steered.bot.close()
    async with steered.restart() as (_, runtime):
        await result_of(steered, await steered.fake.click(result.id, "img:r:1:0", user=ALICE))
        job = await runtime.store.get(2)
        assert job is not None and job.request.references == (Reference(ReferenceKind.STYLE),)
        [reference] = job.request.reference_images
        assert same_picture(reference, style)


async def test_ref_job_completes_with_the_members_own_results(steered: World):
    await imagined(steered, count=2, prompt="a red fox")
    await imagined(steered, user=BOB, prompt="bob's owl")
    await imagined(steered, prompt="a grey wolf")
    choices = await steered.fake.autocomplete(
        "imagine",
        {"prompt": "x", "ref_job": "1:1, "},
        focused="ref_job",
        user=ALICE,
        channel=GENERAL,
    )
    assert [c["value"] for c in choices] == ["1:1, 3:1", "1:1, 1:1", "1:1, 1:2"]
    assert choices[0]["name"] == "1:1, #3:1 · a grey wolf"
    wolf = await steered.fake.autocomplete(
        "imagine",
        {"prompt": "x", "ref_job": "wolf"},
        focused="ref_job",
        user=ALICE,
        channel=GENERAL,
    )
    assert [c["value"] for c in wolf] == ["3:1"]
