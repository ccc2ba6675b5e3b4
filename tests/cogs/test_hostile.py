"""Hostile attachments: each is refused clearly before any provider sees it, and costs nothing."""

from __future__ import annotations

import io
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from PIL import Image

from tests.cogs.conftest import ALICE, GENERAL, World, open_world


def encoded(image: Image.Image, kind: str, **options: Any) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, kind, **options)
    return buffer.getvalue()


def noise(width: int, height: int) -> Image.Image:
    return Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))


def animation(kind: str) -> bytes:
    frames = [Image.new("RGB", (32, 32), colour) for colour in ("red", "blue")]
    return encoded(frames[0], kind, save_all=True, append_images=frames[1:], duration=100)


async def refused(world: World, attachment: dict[str, Any]) -> str:
    interaction = await world.fake.invoke(
        "imagine", {"prompt": "x", "image": attachment}, user=ALICE, channel=GENERAL
    )
    await interaction.wait(lambda i: bool(i.original and i.original.content))
    assert interaction.ephemeral
    assert await world.jobs() == [] and world.provider.calls == []
    assert await world.used(ALICE) == 0
    assert interaction.original is not None
    return interaction.original.content


@pytest.mark.parametrize(
    ("data", "content_type", "expected"),
    [
        (b"GIF89a but really a shell script", "image/png", "a PNG, JPEG or WebP image"),
        (encoded(noise(64, 64), "PNG")[:-400], "image/png", "cut short"),
        (encoded(Image.new("L", (12_000, 12_000)), "PNG"), "image/png", "pixels"),
        (animation("GIF"), "image/gif", "GIF"),
        (animation("PNG"), "image/png", "animation"),
        (animation("WEBP"), "image/webp", "animation"),
        (encoded(noise(16, 16), "BMP"), "image/bmp", "BMP"),
    ],
    ids=["lies-about-its-type", "truncated", "decompression-bomb", "gif", "apng", "webp", "bmp"],
)
async def test_bad_images_are_refused_before_any_provider_sees_them(
    world: World, data: bytes, content_type: str, expected: str
):
    attachment = world.fake.add_attachment(data, "upload.png", content_type)
    assert expected in await refused(world, attachment)


async def test_an_attachment_over_the_limit_is_refused_without_downloading_it(
    tmp_path: Path, redirect: None
):
    async with open_world(tmp_path, limits={"max_input_image_bytes": 10_000}) as world:
        attachment = world.fake.add_attachment(encoded(noise(100, 100), "PNG"), "big.png")
        assert "at most" in await refused(world, attachment)
        assert not any(r.path.startswith("/attachments") for r in world.fake.requests)


async def test_a_file_larger_than_it_claims_is_cut_off(tmp_path: Path, redirect: None):
    async with open_world(tmp_path, limits={"max_input_image_bytes": 10_000}) as world:
        attachment = world.fake.add_attachment(encoded(noise(100, 100), "PNG"), "liar.png")
        attachment["size"] = 500
        assert "larger file than it said" in await refused(world, attachment)


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",
        "http://127.0.0.1:1/admin",
        "https://cdn.discordapp.com.evil.example/attachments/1/a.png",
        "file:///etc/passwd",
    ],
)
async def test_only_discords_attachment_urls_are_fetched(world: World, url: str):
    attachment = world.fake.add_attachment(encoded(noise(8, 8), "PNG"), "a.png")
    attachment["url"] = attachment["proxy_url"] = url
    assert "an image uploaded to Discord" in await refused(world, attachment)


@pytest.fixture
async def redirector() -> AsyncIterator[str]:
    """A server at an allowed origin that answers every download with a redirect inwards."""

    async def moved(request: web.Request) -> web.Response:
        raise web.HTTPFound("http://169.254.169.254/latest/meta-data/")

    app = web.Application()
    app.router.add_get("/attachments/{tail:.*}", moved)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    yield f"http://127.0.0.1:{port}/attachments/"
    await runner.cleanup()


async def test_a_redirect_is_not_followed(tmp_path: Path, redirect: None, redirector: str):
    async with open_world(tmp_path) as world:
        imagine = world.bot.get_cog("Imagine")
        imagine.attachments._origins += (redirector,)  # type: ignore[union-attr]
        attachment = world.fake.add_attachment(encoded(noise(8, 8), "PNG"), "a.png")
        attachment["url"] = attachment["proxy_url"] = f"{redirector}1/a.png"
        assert "couldn't download" in await refused(world, attachment)
