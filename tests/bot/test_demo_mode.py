"""``--demo``: the bot and ``generate`` with only the built-in demo provider, no torch, no
download, every result saying it is a demo."""

from __future__ import annotations

import asyncio
import io
import os
import re
import signal
from pathlib import Path

from PIL import Image

from engine.demo import BANNER, DEMO_MODEL
from tests.cli import ROOT, run_bot, start_bot
from tests.cogs.conftest import ALICE, GENERAL, build_fake
from tests.fakes.discord import TOKEN, FakeMessage


def no_torch(tmp_path: Path) -> str:
    """A PYTHONPATH on which importing torch (or diffusers, which imports it) fails loudly."""
    blocker = tmp_path / "blocker" / "torch"
    blocker.mkdir(parents=True)
    (blocker / "__init__.py").write_text("raise RuntimeError('the demo must not import torch')\n")
    return f"{blocker.parent}{os.pathsep}{ROOT}"


def config_with_a_local_model(tmp_path: Path, discord_section: str = "") -> str:
    return (
        f"{discord_section}[storage]\ndata_dir = '{tmp_path / 'data'}'\n"
        "[providers.local]\nkind = 'local'\n"
        "models = { sdxl = { source = 'stabilityai/stable-diffusion-xl-base-1.0' } }\n"
    )


def test_generate_demo_writes_labelled_images_without_torch(tmp_path: Path):
    out = tmp_path / "out"
    result = run_bot(
        tmp_path,
        "generate",
        "--demo",
        "a lighthouse",
        "--out",
        str(out),
        "--seed",
        "5",
        "--count",
        "2",
        config=config_with_a_local_model(tmp_path),
        PYTHONPATH=no_torch(tmp_path),
        IMAGEBOT__STORAGE__MIN_FREE_MB="0",
    )
    assert result.returncode == 0, result.stderr
    assert "Demo mode" in result.stderr and DEMO_MODEL in result.stderr
    written = re.findall(r"wrote (\S+) \(seed (\d+), 512x512\)", result.stdout)
    assert [int(seed) for _, seed in written] == [5, 6]
    for path, _ in written:
        with Image.open(path) as image:
            assert image.convert("RGB").getpixel((1, 1)) == BANNER
            assert f"Model: {DEMO_MODEL}" in image.info["parameters"]
    # Demo jobs and quotas stay out of the real database.
    assert (tmp_path / "data" / "demo" / "imagebot.sqlite3").is_file()
    assert not (tmp_path / "data" / "imagebot.sqlite3").exists()


def test_without_demo_the_same_config_wants_the_local_engine(tmp_path: Path):
    result = run_bot(
        tmp_path,
        "generate",
        "a lighthouse",
        "--out",
        str(tmp_path / "out"),
        config=config_with_a_local_model(tmp_path),
        PYTHONPATH=no_torch(tmp_path),
    )
    assert result.returncode != 0
    assert "must not import torch" in result.stderr  # the blocker works


async def test_python_m_bot_demo_answers_imagine_with_a_result_that_says_demo(tmp_path: Path):
    fake = build_fake()
    await fake.start()
    process = None
    try:
        section = f"[discord]\napi_base = '{fake.api_base}'\ngateway_url = '{fake.gateway_url}'\n"
        process = await start_bot(
            tmp_path,
            "--demo",
            config=config_with_a_local_model(tmp_path, section),
            DISCORD_TOKEN=TOKEN,
            PYTHONPATH=no_torch(tmp_path),
            IMAGEBOT__STORAGE__MIN_FREE_MB="0",
        )
        await fake.wait_for(lambda: fake.identified.is_set() and bool(fake.synced), 60)
        interaction = await fake.invoke(
            "imagine", {"prompt": "a lighthouse at dusk"}, user=ALICE, channel=GENERAL
        )

        def posted(job: int) -> FakeMessage | None:
            """The result's card (results are cards by default)."""
            head = f"**Job #{job}**"
            for message in fake._messages.values():
                if message.gallery and any(text.startswith(head) for text in message.texts):
                    return message
            return None

        await fake.wait_for(lambda: posted(1) is not None, 60)
        result = posted(1)
        assert result is not None
        parameters = result.texts[-1]
        assert f"**Model** {DEMO_MODEL}" in parameters and "**Provider** demo" in parameters
        (data,) = result.files.values()
        with Image.open(io.BytesIO(data)) as image:
            assert image.convert("RGB").getpixel((1, 1)) == BANNER
        await interaction.wait(lambda i: "done" in (i.original.content if i.original else ""))
        status = interaction.original
        assert status is not None  # queued and running, it named the demo model too
        assert any(DEMO_MODEL in edit.get("content", "") for edit in status.edits)

        await fake.click(result.id, "img:u:1:0", user=ALICE)  # the whole flow: U1 works too
        await fake.wait_for(lambda: posted(2) is not None, 60)
        larger = posted(2)
        assert larger is not None and f"**Model** {DEMO_MODEL}" in larger.texts[-1]
        (data,) = larger.files.values()
        with Image.open(io.BytesIO(data)) as image:
            assert image.size == (1024, 1024)
            assert image.convert("RGB").getpixel((1, 1)) == BANNER
        assert not fake.violations
        process.send_signal(signal.SIGTERM)
        assert await asyncio.wait_for(process.wait(), 30) == 0
    finally:
        if process is not None and process.returncode is None:
            process.kill()
            await process.wait()
        await fake.stop()
