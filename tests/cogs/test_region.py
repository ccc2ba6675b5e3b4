"""Vary (Region) in the fake Discord: upload a mask, pick a preset or name the part, see the
preview, then Repaint (charged) or Cancel (not); refusals; a restart between preview and
confirm."""

from __future__ import annotations

import asyncio
import io
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.canvas import masks, regions
from cogs.results.region.previews import PREVIEW_NAME, REGION_GROW
from engine import Mode
from tests.cogs.conftest import ALICE, BOB, GENERAL, World, open_world
from tests.cogs.test_imagine import buttons, result_of
from tests.fakes.discord import FakeInteraction, FakeMessage

SIZE = 512  # the fake's result images are 512×512
# Patched in sys.modules once the bot is up: closing a bot unloads its extensions' modules, and
# the next one imports them afresh (the package attributes still name the old ones).
SEGMENTING = "cogs.results.region.segmenting"


@pytest.fixture
async def world(tmp_path: Path, redirect: None) -> AsyncIterator[World]:
    async with open_world(tmp_path, fake={"inpaint": True, "segment": True}) as opened:
        yield opened


def png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def pixels(data: bytes | None) -> tuple[str, tuple[int, int], bytes]:
    """An image's mode, size and pixels: the service re-encodes what it stores."""
    assert data is not None
    with Image.open(io.BytesIO(data)) as image:
        return image.mode, image.size, image.tobytes()


def drawn(
    size: tuple[int, int] = (SIZE, SIZE), box: tuple[int, int, int, int] = (0, 0, 64, 64)
) -> Image.Image:
    """A member's mask as painted in any editor: RGB, near-white where to repaint, dark grey
    elsewhere."""
    image = Image.new("RGB", size, (30, 30, 30))
    image.paste((250, 250, 250), box)
    return image


async def first_result(world: World, prompt: str = "a fox", user: int = ALICE) -> FakeMessage:
    interaction = await world.fake.invoke("imagine", {"prompt": prompt}, user=user, channel=GENERAL)
    return await result_of(world, interaction)


async def region_choice(
    world: World, result: FakeMessage, user: int = ALICE, job: int = 1
) -> FakeInteraction:
    clicked = await world.fake.click(result.id, f"img:g:{job}:0", user=user)
    await clicked.wait(lambda i: bool(i.original and i.original.content))
    return clicked


async def preview_of(interaction: FakeInteraction) -> FakeMessage:
    """The preview message an acknowledged interaction ends in."""
    await interaction.wait(lambda i: bool(i.original and PREVIEW_NAME in i.original.files), 15)
    assert interaction.original is not None
    return interaction.original


def answer_of(interaction: FakeInteraction) -> str:
    assert interaction.original is not None
    return interaction.original.content


async def refused(interaction: FakeInteraction) -> str:
    """The answer an interaction ends in (past "Repainting that region…", which a Repaint
    click shows at once)."""
    await interaction.wait(
        lambda i: bool(i.original and i.original.content and "…" not in i.original.content), 15
    )
    return answer_of(interaction)


def option(message: FakeMessage, step: str) -> str:
    [custom_id] = [c for c in buttons(message) if c.startswith("img:g:1:0:" + step + ".")]
    return custom_id


async def repaint(world: World, preview: FakeMessage) -> Any:
    clicked = await world.fake.click(preview.id, option(preview, "y"), user=ALICE)
    await result_of(world, clicked)
    job = await world.runtime.store.get(2)
    assert job is not None
    return job


async def upload(
    world: World, choice: FakeInteraction, data: bytes, prompt: str = "", **attachment: Any
) -> FakeInteraction:
    assert choice.original is not None
    opened = await world.fake.click(choice.original.id, "img:g:1:0:up", user=ALICE)
    await opened.response()
    assert opened.modal is not None
    file = world.fake.add_attachment(data, "mask.png", **attachment)
    return await world.fake.submit_modal(opened, {"mask": [file], "prompt": prompt})


def pending_files(world: World) -> list[Path]:
    return sorted((world.settings.storage.data_dir / "pending-masks").glob("*.json"))


async def test_a_preset_region_is_previewed_then_repainted_once_confirmed(world: World):
    result = await first_result(world)
    source = await asyncio.to_thread(Path((await world.runtime.store.images(1))[0].path).read_bytes)
    choice = await region_choice(world, result)
    assert choice.ephemeral and "img:g:1:0:up" in buttons(choice.original)  # type: ignore[arg-type]
    picked = await world.fake.select(choice.original.id, "region:1:0", ["left"], user=ALICE)  # type: ignore[union-attr]
    preview = await preview_of(picked)
    assert preview.ephemeral and "Nothing is charged" in preview.content
    assert await world.used(ALICE) == 1 and len(await world.jobs()) == 1

    job = await repaint(world, preview)
    expected = pixels(masks.encode(regions.region("left", (SIZE, SIZE), grow=REGION_GROW)))
    assert job.request.mode is Mode.INPAINT and pixels(job.request.mask_image) == expected
    assert pixels(job.request.init_image) == pixels(source) and job.request.prompt == "a fox"
    first = await world.runtime.store.get(1)
    assert first is not None and job.model == first.model and job.request.seed != first.request.seed
    assert await world.used(ALICE) == 2
    assert pixels(world.provider.calls[-1].mask_image) == expected
    assert not world.fake.violations


async def test_an_uploaded_mask_is_normalised_previewed_and_repainted_with_its_prompt(
    world: World,
):
    choice = await region_choice(world, await first_result(world))
    submitted = await upload(world, choice, png(drawn()), prompt="a red hat")
    preview = await preview_of(submitted)
    assert "a red hat" in preview.content and await world.used(ALICE) == 1
    job = await repaint(world, preview)
    assert job.request.prompt == "a red hat" and job.request.mode is Mode.INPAINT
    with Image.open(io.BytesIO(job.request.mask_image or b"")) as mask:
        assert mask.mode == "L" and mask.size == (SIZE, SIZE)
        assert mask.getpixel((10, 10)) == 255 and mask.getpixel((100, 100)) == 0
        assert set(mask.tobytes()) == {0, 255}
    assert pending_files(world) == []  # used once, then forgotten
    assert not world.fake.violations


async def test_a_named_region_is_segmented_previewed_and_repainted_with_a_new_prompt(
    world: World,
):
    choice = await region_choice(world, await first_result(world))
    preview = await preview_of(await name_it(world, choice, "the sky"))
    assert "the sky" in preview.content and await world.used(ALICE) == 1

    asked = await world.fake.click(preview.id, option(preview, "w"), user=ALICE)
    await asked.response()
    submitted = await world.fake.submit_modal(asked, {"prompt": "a stormy sky"})
    await result_of(world, submitted)
    job = await world.runtime.store.get(2)
    assert job is not None and job.request.prompt == "a stormy sky"
    with Image.open(io.BytesIO(job.request.mask_image or b"")) as mask:
        assert mask.getpixel((SIZE // 2, 10)) == 255 and mask.getpixel((SIZE // 2, SIZE - 10)) == 0
    assert world.provider.segmented == [((SIZE, SIZE), "the sky")]
    assert await world.used(ALICE) == 2


async def test_cancel_forgets_the_preview_and_charges_nothing(world: World):
    choice = await region_choice(world, await first_result(world))
    preview = await preview_of(await upload(world, choice, png(drawn())))
    assert len(pending_files(world)) == 1
    cancelled = await world.fake.click(preview.id, option(preview, "x"), user=ALICE)
    await cancelled.response()
    assert "nothing was charged" in preview.content and preview.components == []
    assert pending_files(world) == [] and len(await world.jobs()) == 1
    assert await world.used(ALICE) == 1


@pytest.mark.parametrize(
    ("data", "content_type", "says"),
    [
        (png(drawn(size=(SIZE, SIZE // 2))), "image/png", "draw the mask at the image's size"),
        (png(Image.new("L", (SIZE, SIZE), 0)), "image/png", "nothing to repaint"),
        (png(Image.new("L", (SIZE, SIZE), 255)), "image/png", "whole image"),
        (b"not a picture at all", "image/png", "not an image"),
        (b"%PDF-1.7", "application/pdf", "not an image"),
    ],
    ids=["wrong shape", "empty", "full", "garbage", "a document"],
)
async def test_an_unusable_mask_is_refused_and_nothing_is_kept_or_charged(
    world: World, data: bytes, content_type: str, says: str
):
    choice = await region_choice(world, await first_result(world))
    submitted = await upload(world, choice, data, content_type=content_type)
    assert says in await refused(submitted)
    assert PREVIEW_NAME not in submitted.original.files  # type: ignore[union-attr]
    assert pending_files(world) == [] and len(await world.jobs()) == 1


async def test_a_mask_file_over_the_size_limit_is_not_even_downloaded(
    tmp_path: Path, redirect: None
):
    async with open_world(
        tmp_path, fake={"inpaint": True}, limits={"max_input_image_bytes": 20_000}
    ) as world:
        choice = await region_choice(world, await first_result(world))
        noisy = Image.effect_noise((SIZE, SIZE), 100)
        submitted = await upload(world, choice, png(noisy))
        assert "at most" in await refused(submitted)
        assert not any("/attachments/" in r.path for r in world.fake.requests)
        assert pending_files(world) == []


async def test_a_name_that_matches_nothing_is_refused(world: World):
    choice = await region_choice(world, await first_result(world))
    named = await name_it(world, choice, "a unicorn")
    assert "couldn't find “a unicorn”" in await refused(named)
    assert pending_files(world) == [] and len(await world.jobs()) == 1


async def name_it(world: World, choice: FakeInteraction, phrase: str) -> FakeInteraction:
    assert choice.original is not None
    opened = await world.fake.click(choice.original.id, "img:g:1:0:name", user=ALICE)
    await opened.response()
    return await world.fake.submit_modal(opened, {"phrase": phrase})


async def test_naming_is_limited_per_member(world: World, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setattr(sys.modules[SEGMENTING], "SEGMENTS_PER_MINUTE", 2)
    choice = await region_choice(world, await first_result(world))
    for _ in range(2):
        await preview_of(await name_it(world, choice, "the sky"))
    assert "in the last minute" in await refused(await name_it(world, choice, "the sky"))
    bob = await region_choice(world, await first_result(world, user=BOB), job=2, user=BOB)
    assert bob.original is not None and "img:g:2:0:name" in buttons(bob.original)
    assert len(world.provider.segmented) == 2


async def test_naming_that_takes_too_long_is_given_up(
    world: World, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(sys.modules[SEGMENTING], "SEGMENT_SECONDS", 0.2)
    choice = await region_choice(world, await first_result(world))
    world.provider.release = asyncio.Event()  # the segmenter never answers
    assert "took too long" in await refused(await name_it(world, choice, "the sky"))
    assert pending_files(world) == [] and len(await world.jobs()) == 1


async def test_name_it_is_absent_where_no_provider_can_segment(tmp_path: Path, redirect: None):
    async with open_world(tmp_path, fake={"inpaint": True}) as world:
        choice = await region_choice(world, await first_result(world))
        assert "img:g:1:0:name" not in buttons(choice.original)  # type: ignore[arg-type]
        assert "Name it" not in answer_of(choice)


async def test_someone_else_cannot_repaint_my_image(world: World):
    result = await first_result(world)
    choice = await region_choice(world, result, user=BOB)
    assert "Only the member" in answer_of(choice) and choice.original.components == []  # type: ignore[union-attr]


async def test_a_model_that_cannot_inpaint_is_refused_naming_those_that_can(world: World):
    result = await first_result(world)
    world.provider.model_modes["fake-v1"] = frozenset()  # the owner's models changed since
    choice = await region_choice(world, result)
    assert "can't" in answer_of(choice) and "fake:fake-v2" in answer_of(choice)
    assert choice.original.components == []  # type: ignore[union-attr]


async def test_a_preview_survives_a_restart(world: World):
    choice = await region_choice(world, await first_result(world))
    uploaded = await preview_of(await upload(world, choice, png(drawn()), prompt="a lantern"))
    picked = await world.fake.select(choice.original.id, "region:1:0", ["c11"], user=ALICE)  # type: ignore[union-attr]
    preset = await preview_of(picked)
    await world.bot.close()
    async with world.restart() as (_, runtime):
        clicked = await world.fake.click(uploaded.id, option(uploaded, "y"), user=ALICE)
        await result_of(world, clicked)
        clicked = await world.fake.click(preset.id, option(preset, "y"), user=ALICE)
        await result_of(world, clicked)
        first, second = await runtime.store.get(2), await runtime.store.get(3)
        assert first is not None and first.request.prompt == "a lantern"
        assert first.request.mask_image is not None
        assert second is not None and pixels(second.request.mask_image) == pixels(
            masks.encode(regions.region("c11", (SIZE, SIZE), grow=REGION_GROW))
        )


async def test_an_expired_preview_is_refused_in_words(world: World):
    choice = await region_choice(world, await first_result(world))
    preview = await preview_of(await upload(world, choice, png(drawn())))
    for path in pending_files(world):
        path.unlink()  # as the expiry sweep (or a lost data folder) leaves it
    clicked = await world.fake.click(preview.id, option(preview, "y"), user=ALICE)
    assert "expired" in await refused(clicked)
    assert len(await world.jobs()) == 1 and await world.used(ALICE) == 1
