"""References end to end on the local engine: /blend and the "Use as reference" menu on a
tiny SD model with a tiny IP-Adapter, through the fake Discord, the queue and the engine."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from bot.jobs import JobStatus
from engine.types import Reference, ReferenceKind
from tests.cogs.conftest import ALICE, GENERAL, open_world
from tests.cogs.test_imagine import result_of
from tests.cogs.test_tools import png
from tests.engine.local.family_models import FamilyModels
from tests.engine.local.tiny_adapter import build_ip_adapter

pytestmark = pytest.mark.timeout(300)


async def test_blend_and_the_reference_menu_run_on_the_local_engine(
    tmp_path: Path, redirect: None
) -> None:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        models = FamilyModels(tmp_path / "models")
        folder = build_ip_adapter(models.folder("sd"), tmp_path / "adapter")
        adapters = {
            "sd-style": {
                "family": "sd",
                "source": str(folder),
                "subfolder": "models",
                "weight_name": "ip-adapter.safetensors",
            }
        }
        local = {"kind": "local", **models.options(["sd"], adapters=adapters)}
        async with open_world(
            tmp_path,
            fake={"upscale": False, "img2img": False},
            providers={"local": local},
            defaults={"provider": "local"},
        ) as world:
            blend = await world.fake.invoke(
                "blend",
                {
                    "image1": world.fake.add_attachment(png(64, 64)),
                    "image2": world.fake.add_attachment(png(80, 64, (0, 0, 200))),
                },
                user=ALICE,
                channel=GENERAL,
            )
            result = await result_of(world, blend)
            assert result.files
            job = await world.runtime.store.get(1)
            assert job is not None and job.status is JobStatus.SUCCEEDED
            assert job.provider == "local"
            assert job.request.references == (Reference(ReferenceKind.STYLE, 1.0),) * 2
            assert len(job.request.reference_images) == 2

            menu = await world.fake.message_command(
                "Use as reference", result.id, user=ALICE, channel=GENERAL
            )
            await menu.response()
            submitted = await world.fake.submit_modal(menu, {"prompt": "a cat", "weight": "0.5"})
            again = await result_of(world, submitted)
            assert again.files
            job = await world.runtime.store.get(2)
            assert job is not None and job.status is JobStatus.SUCCEEDED
            assert job.request.prompt == "a cat"
            assert [ref.weight for ref in job.request.references] == [0.5]
            assert job.request.nsfw_allowed is False
    finally:
        torch.set_num_threads(threads)
