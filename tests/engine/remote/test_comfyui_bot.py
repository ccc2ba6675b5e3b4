"""The ComfyUI provider end to end: ``python -m bot generate`` and ``/imagine`` in the fake
Discord, against the fake ComfyUI server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from pydantic import SecretStr

from bot.jobs import JobStatus
from bot.settings import Secrets
from engine.types import RunId
from tests.cli import start_bot
from tests.cogs.conftest import ALICE, GENERAL, open_world
from tests.cogs.test_imagine import result_job, result_of
from tests.engine.remote.comfyui_setup import BINDING, KEY, txt2img
from tests.engine.remote.fake_comfyui import FakeComfyUI
from tests.engine.remote.test_queue import finished


def toml_workflow(tmp_path: Path, table: str) -> str:
    path = tmp_path / "sd15.json"
    path.write_text(json.dumps(txt2img()))
    binding = "".join(f"{field} = '{target}'\n" for field, target in BINDING.items())
    return f"[{table}.workflows.sd15]\npath = '{path}'\n[{table}.workflows.sd15.binding]\n{binding}"


async def test_generate_runs_a_workflow(tmp_path: Path):
    comfy = FakeComfyUI(auth=f"Bearer {KEY}")
    await comfy.start()
    config = (
        f"[storage]\ndata_dir = '{tmp_path / 'data'}'\n"
        f"[providers.remote]\nkind = 'comfyui'\nbase_url = '{comfy.base}'\n"
        + toml_workflow(tmp_path, "providers.remote")
    )
    try:
        process = await start_bot(
            tmp_path,
            "generate",
            "a quiet harbour",
            "--out",
            str(tmp_path / "out"),
            "--seed",
            "4",
            "--width",
            "64",
            "--height",
            "64",
            config=config,
            REMOTE_API_KEY=KEY,
        )
        out, err = await asyncio.wait_for(process.communicate(), 120)
    finally:
        await comfy.stop()
    assert process.returncode == 0, err.decode()[-2000:]
    assert "wrote " in out.decode()
    assert list((tmp_path / "out").glob("*.png"))
    assert KEY not in out.decode() + err.decode()
    assert comfy.prompts[0]["prompt"]["6"]["inputs"]["text"] == "a quiet harbour"


async def test_imagine_runs_a_workflow_keyed_by_its_job_and_attempt(tmp_path: Path, redirect: None):
    comfy = FakeComfyUI(auth=f"Bearer {KEY}")
    await comfy.start()
    path = tmp_path / "sd15.json"
    path.write_text(json.dumps(txt2img()))
    remote = {
        "kind": "comfyui",
        "base_url": comfy.base,
        "workflows": {"sd15": {"path": str(path), "binding": BINDING}},
    }
    secrets = Secrets(provider_keys={"comfy": SecretStr(KEY)})
    try:
        async with open_world(tmp_path, secrets=secrets, providers={"comfy": remote}) as world:
            interaction = await world.fake.invoke(
                "imagine",
                {"prompt": "a lighthouse", "model": "comfy:sd15", "seed": 11},
                user=ALICE,
                channel=GENERAL,
            )
            message = await result_of(world, interaction)
            provider = world.runtime.providers.get("comfy").provider
            job_id = result_job(message)
            assert job_id is not None
            expected = provider._prompt_id(RunId(job_id, 1), 0)  # type: ignore[attr-defined]
    finally:
        await comfy.stop()
    assert message.files
    assert comfy.prompts[0]["prompt_id"] == expected
    assert comfy.prompts[0]["prompt"]["3"]["inputs"]["seed"] == 11


async def test_a_job_running_on_comfyui_at_a_restart_is_followed_not_run_again(
    tmp_path: Path, redirect: None
):
    comfy = FakeComfyUI(auth=f"Bearer {KEY}")
    await comfy.start()
    comfy.hold.clear()  # the workflow runs until the test lets it go
    path = tmp_path / "sd15.json"
    path.write_text(json.dumps(txt2img()))
    remote = {
        "kind": "comfyui",
        "base_url": comfy.base,
        "poll_seconds": 0.2,
        "workflows": {"sd15": {"path": str(path), "binding": BINDING}},
    }
    secrets = Secrets(provider_keys={"comfy": SecretStr(KEY)})
    try:
        async with open_world(
            tmp_path,
            secrets=secrets,
            providers={"comfy": remote},
            queue={"shutdown_grace_seconds": 0.1},
        ) as world:
            await world.fake.invoke(
                "imagine",
                {"prompt": "a lighthouse", "model": "comfy:sd15", "seed": 5},
                user=ALICE,
                channel=GENERAL,
            )
            await world.fake.wait_for(lambda: comfy.running is not None, 15)
            await world.bot.close()  # the job goes back to the queue; ComfyUI keeps running it
            async with world.restart() as (_, runtime):
                comfy.hold.set()
                done = await finished(runtime, 1)
                images = await runtime.store.images(1)
    finally:
        await comfy.stop()
    assert done.status is JobStatus.SUCCEEDED, done
    assert len(comfy.prompts) == 1  # followed after the restart, not submitted again
    assert [image.seed for image in images] == [5]
