"""The tools on the local engine's tiny pipelines, as a member meets them: Zoom Out, Pan and
Vary (Subtle) on Stable Diffusion, /edit and the Edit button on FLUX.1 Kontext, each through
the queue to a delivered result."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.jobs import Job, JobStatus
from engine import Mode
from tests.cogs.conftest import ALICE, GENERAL, World, open_local_world
from tests.cogs.test_imagine import buttons, result_of
from tests.cogs.test_tools import png
from tests.engine.local.family_models import FamilyModels

pytestmark = [pytest.mark.timeout(300), pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture
async def world(
    tmp_path: Path, redirect: None, family_models: FamilyModels
) -> AsyncIterator[World]:
    async with open_local_world(tmp_path, family_models.options(["sd", "flux1-kontext"])) as opened:
        yield opened


async def done(world: World, job_id: int) -> Job:
    job = await world.runtime.store.get(job_id)
    assert job is not None and job.status is JobStatus.SUCCEEDED, job and job.error
    return job


async def test_zoom_out_pan_and_vary_on_stable_diffusion(world: World):
    interaction = await world.fake.invoke(
        "imagine", {"prompt": "a lighthouse", "model": "local:sd"}, user=ALICE, channel=GENERAL
    )
    result = await result_of(world, interaction)
    offered = buttons(result)
    assert {"img:s:1:0", "img:z:1:0:2", "img:n:1:0:l"} <= set(offered)
    assert "img:e:1:0" not in offered  # Stable Diffusion takes no instruction

    zoomed = await result_of(world, await world.fake.click(result.id, "img:z:1:0:2", user=ALICE))
    job = await done(world, 2)
    assert job.request.mode is Mode.OUTPAINT and zoomed.files
    [image] = await world.runtime.store.images(2)
    assert (image.width, image.height) == job.request.size

    pan = await world.fake.click(result.id, "img:n:1:0:l", user=ALICE)
    await result_of(world, pan)
    panned = await done(world, 3)
    width, height = panned.request.size
    assert width > height

    await result_of(world, await world.fake.click(result.id, "img:s:1:0", user=ALICE))
    assert (await done(world, 4)).request.mode is Mode.IMG2IMG
    assert not world.fake.violations


async def test_edit_and_the_edit_button_on_flux_kontext(world: World):
    photo = world.fake.add_attachment(png(96, 64))
    interaction = await world.fake.invoke(
        "edit", {"image": photo, "instruction": "make it night"}, user=ALICE, channel=GENERAL
    )
    result = await result_of(world, interaction)
    first = await done(world, 1)
    assert first.model == "flux1-kontext" and first.request.mode is Mode.EDIT

    clicked = await world.fake.click(result.id, "img:e:1:0", user=ALICE)
    await clicked.response()
    again = await world.fake.submit_modal(clicked, {"instruction": "add snow"})
    assert (await result_of(world, again)).files
    second = await done(world, 2)
    assert second.request.mode is Mode.EDIT and second.request.prompt == "add snow"
    assert not world.fake.violations
