"""Control on the local engine's tiny Stable Diffusion, as a member meets it: /imagine with a
control image and the "Use as pose" menu, through the queue and a tiny ControlNet loaded by the
real loader, to a result showing the map it followed."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from engine.types import Control, ControlKind
from tests.cogs.conftest import ALICE, GENERAL, World, open_local_world
from tests.cogs.test_imagine import result_of, result_thumbnail
from tests.cogs.test_tools import picture
from tests.engine.local.control.tiny_maps import build_pose
from tests.engine.local.control.tiny_nets import build_controlnet
from tests.engine.local.family_models import FamilyModels

pytestmark = [pytest.mark.timeout(300), pytest.mark.usefixtures("one_torch_thread")]


@pytest.fixture
async def world(
    tmp_path: Path, redirect: None, family_models: FamilyModels
) -> AsyncIterator[World]:
    nets = tmp_path / "nets"
    net = build_controlnet(family_models.folder("sd"), nets / "sd-net")
    local = family_models.options(
        ["sd"],
        controlnets={"sd-net": {"source": str(net), "family": "sd", "kinds": ["canny", "pose"]}},
        pose_model=str(build_pose(nets / "pose")),
    )
    async with open_local_world(tmp_path, local) as opened:
        yield opened


def drawing() -> bytes:
    image = Image.new("RGB", (96, 96), (220, 220, 220))
    pen = ImageDraw.Draw(image)
    pen.rectangle([20, 20, 70, 60], fill=(30, 30, 120))
    pen.ellipse([40, 50, 90, 90], fill=(200, 40, 40))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


async def test_imagine_follows_edges_and_the_result_shows_the_map(world: World):
    interaction = await world.fake.invoke(
        "imagine",
        {
            "prompt": "a lighthouse",
            "model": "local:sd",
            "control": world.fake.add_attachment(drawing()),
            "control_type": "canny",
            "control_end": 0.5,
        },
        user=ALICE,
        channel=GENERAL,
    )
    result = await result_of(world, interaction)
    job = await world.runtime.store.get(1)
    assert job is not None and job.request.control == Control(ControlKind.CANNY, end=0.5)
    assert result_thumbnail(result) == "1-map.png"
    shown = picture(result.files["1-map.png"])
    assert shown.size == job.request.size  # the tiny model draws below the preview's 256 px
    assert len(set(shown.convert("L").getdata())) > 1  # edges, not a blank map


async def test_use_as_pose_on_a_result_runs_the_pose_estimator_and_controlnet(world: World):
    first = await result_of(
        world,
        await world.fake.invoke(
            "imagine", {"prompt": "a dancer", "model": "local:sd"}, user=ALICE, channel=GENERAL
        ),
    )
    menu = await world.fake.message_command("Use as pose", first.id, user=ALICE, channel=GENERAL)
    await menu.response()
    result = await result_of(world, await world.fake.submit_modal(menu, {"prompt": "a robot"}))
    job = await world.runtime.store.get(2)
    assert job is not None and job.request.control == Control(ControlKind.POSE)
    assert "2-map.png" in result.files
    assert not world.fake.violations
