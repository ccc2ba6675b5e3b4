"""/edit on an OpenAI-compatible server with edits turned on, in the fake Discord: the member's
images reach /v1/images/edits as image[], at a size the server takes."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from bot.jobs import JobStatus
from bot.settings import Secrets
from engine import Mode
from tests.cogs.conftest import ALICE, GENERAL, open_world
from tests.cogs.test_imagine import result_of
from tests.cogs.test_tools import png
from tests.engine.remote.test_openai_edits import KEY, EditServer, opened, text_fields
from tests.fakes.http_api import FakeApi


async def test_edit_sends_the_members_images_to_the_edits_endpoint(
    tmp_path: Path, redirect: None, api: FakeApi
):
    server = EditServer(api)
    oai = {
        "kind": "openai",
        "base_url": api.base,
        "models": ["gpt-image-1"],
        "models_path": "",
        "edits": True,
        "max_input_images": 2,
        "response_format": "",
        "sizes": ["1024x1024", "1536x1024", "1024x1536"],
    }
    secrets = Secrets(provider_keys={"oai": SecretStr(KEY)})
    async with open_world(tmp_path, secrets=secrets, providers={"oai": oai}) as world:
        mug, logo = png(300, 200), png(64, 64, (200, 0, 0))
        interaction = await world.fake.invoke(
            "edit",
            {
                "instruction": "put this logo on the mug",
                "model": "oai:gpt-image-1",
                "image": world.fake.add_attachment(mug),
                "image2": world.fake.add_attachment(logo, "logo.png"),
            },
            user=ALICE,
            channel=GENERAL,
        )
        message = await result_of(world, interaction)
        job = await world.runtime.store.get(1)
    assert job is not None and job.status is JobStatus.SUCCEEDED, job
    assert job.request.mode is Mode.EDIT and job.provider == "oai"
    form = server.forms[0]
    assert text_fields(form) == {
        "model": "gpt-image-1",
        "prompt": "put this logo on the mug",
        "n": "1",
        "size": "1536x1024",  # the photo's shape, as the server takes it
    }
    assert [opened(data).size for _, data in form["image[]"]] == [(300, 200), (64, 64)]
    assert message.attachments and not world.fake.violations
