"""What members see of /imagine's options: ranges from the configured limits, and refusals
that name the option, speak in human units, and say what to do instead."""

from __future__ import annotations

import io
import os
import re
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.jobs import Requester
from engine import GenerationRequest, InvalidRequest, LoraRef, Mode
from engine.loras import check_loras
from engine.types import Capabilities
from tests.cogs.conftest import ALICE, GENERAL, World, open_world


def imagine_options(synced: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    command = next(c for c in synced if c["name"] == "imagine")
    return {option["name"]: option for option in command["options"]}


async def test_the_schema_offers_the_configured_limits(tmp_path: Path, redirect: None):
    limits = {
        "max_steps": 40,
        "max_width": 1024,
        "max_height": 768,
        "max_count": 2,
        "max_prompt_length": 500,
    }
    async with open_world(tmp_path, limits=limits) as world:
        options = imagine_options(world.fake.synced)
    assert (options["steps"]["min_value"], options["steps"]["max_value"]) == (1, 40)
    assert (options["width"]["min_value"], options["width"]["max_value"]) == (64, 1024)
    assert (options["height"]["min_value"], options["height"]["max_value"]) == (64, 768)
    assert (options["count"]["min_value"], options["count"]["max_value"]) == (1, 2)
    assert options["prompt"]["max_length"] == 500
    assert options["negative"]["max_length"] == 500


async def test_the_schema_offers_no_size_beyond_every_provider(tmp_path: Path, redirect: None):
    async with open_world(tmp_path, fake={"max_size": 1536}) as world:
        options = imagine_options(world.fake.synced)
    assert options["width"]["max_value"] == options["height"]["max_value"] == 1536
    assert options["steps"]["max_value"] == 100  # the default limit, under the provider's 150


async def refusal(world: World, options: dict[str, Any]) -> str:
    interaction = await world.fake.invoke("imagine", options, user=ALICE, channel=GENERAL)
    await interaction.wait(lambda i: bool(i.original and i.original.content))
    assert interaction.ephemeral and interaction.original is not None
    assert await world.jobs() == []
    return interaction.original.content


async def test_a_too_large_image_is_refused_in_pixels_and_megapixels(
    tmp_path: Path, redirect: None
):
    buffer = io.BytesIO()
    Image.new("RGB", (300, 300)).save(buffer, "PNG")
    async with open_world(tmp_path, limits={"max_width": 256, "max_height": 256}) as world:
        attachment = world.fake.add_attachment(buffer.getvalue(), "big.png")
        text = await refusal(world, {"prompt": "x", "image": attachment})
    assert text == ("`image`: it is 300×300 pixels; attach 256×256 pixels (0.1 MP) at most.")


async def test_an_exhausted_quota_shows_the_reset_as_a_discord_timestamp(
    tmp_path: Path, redirect: None
):
    async with open_world(tmp_path, quota={"daily_units": 1}) as world:
        text = await refusal(world, {"prompt": "two cats", "count": 2})
    assert re.search(r"your quota resets <t:\d+:R> \(<t:\d+:f>\)\.", text), text
    assert "UTC" not in text
    assert "fewer images (`count`)" in text


async def test_a_value_past_the_limit_is_refused_with_the_real_range(world: World):
    request = GenerationRequest("a cat", width=64, height=64, steps=150)
    with pytest.raises(InvalidRequest) as caught:
        await world.runtime.service.submit(request, Requester(ALICE))
    assert str(caught.value) == "`steps` can't be 150: use a value from 1 to 100."


@pytest.mark.parametrize(
    ("loras", "said"),
    [
        ((LoraRef("detail", 5.0),), "`loras` can't be 'detail:5': use a weight from -2 to 2."),
        ((LoraRef("a"), LoraRef("a")), "`loras` can't be 'a': name each LoRA once."),
        ((LoraRef("../x"),), "`loras` can't be '../x': use a LoRA's plain name"),
    ],
)
def test_lora_refusals_name_the_loras_option(loras: tuple[LoraRef, ...], said: str):
    with pytest.raises(InvalidRequest) as caught:
        check_loras(loras)
    assert caught.value.field == "loras"
    assert str(caught.value).startswith(said)


async def test_a_long_negative_prompt_is_refused_as_negative(world: World):
    request = GenerationRequest("a cat", negative_prompt="x" * 1501)
    with pytest.raises(InvalidRequest) as caught:
        await world.runtime.service.submit(request, Requester(ALICE))
    assert str(caught.value) == ("`negative`: it has 1501 characters; shorten it to at most 1500.")


async def test_an_image_for_a_model_that_cannot_take_one_is_refused_as_image(
    tmp_path: Path, redirect: None
):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64)).save(buffer, "PNG")
    async with open_world(tmp_path, fake={"img2img": False}) as world:
        attachment = world.fake.add_attachment(buffer.getvalue(), "start.png")
        text = await refusal(world, {"prompt": "x", "image": attachment})
    assert text == "`image`: this model can't start from an image; pick another or leave it out."


async def test_an_nsfw_model_outside_an_age_restricted_channel_says_where_it_runs(
    tmp_path: Path, redirect: None
):
    async with open_world(tmp_path, fake={"nsfw_models": ["spicy"]}) as world:
        text = await refusal(world, {"prompt": "x", "model": "fake:spicy"})
    assert text == (
        "`model` can't be 'spicy': it is an NSFW model, only for prompts (never images) in "
        "age-restricted server channels; pick another."
    )


async def test_a_file_that_is_not_an_image_is_refused_with_what_to_attach(world: World):
    attachment = world.fake.add_attachment(b"not an image at all", "notes.txt", "text/plain")
    text = await refusal(world, {"prompt": "x", "image": attachment})
    assert text == "`image`: that file is not an image; attach a PNG, JPEG or WebP image instead."


async def test_a_too_large_file_is_refused_in_readable_units(tmp_path: Path, redirect: None):
    data = os.urandom(3000)
    buffer = io.BytesIO()
    Image.frombytes("RGB", (40, 25), data).save(buffer, "PNG")
    async with open_world(tmp_path, limits={"max_input_image_bytes": 1000}) as world:
        attachment = world.fake.add_attachment(buffer.getvalue(), "big.png")
        text = await refusal(world, {"prompt": "x", "image": attachment})
    assert re.fullmatch(r"`image`: the file is \d\.\d\d KiB; attach 1000 bytes at most\.", text), (
        text
    )


def test_an_upscale_past_the_provider_size_is_refused_as_the_image():
    capabilities = Capabilities(modes=frozenset({Mode.UPSCALE}), max_size=1024)
    request = GenerationRequest("x", mode=Mode.UPSCALE, width=2048, height=1536)
    with pytest.raises(InvalidRequest) as caught:
        capabilities.check(request)
    assert str(caught.value) == (
        "`image`: upscaled it would be 2048 pixels wide, over this provider's 1024; "
        "attach a smaller image."
    )
