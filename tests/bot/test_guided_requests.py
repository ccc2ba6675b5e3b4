"""References and control through the service: counts, weights, strength and range checked,
every image header-checked then re-encoded, refused on models that can't follow them (naming
those that can), priced as text-to-image, and never NSFW; all before anything is queued or
charged."""

from __future__ import annotations

import io
import math
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.jobs import Requester
from bot.runtime import Runtime, open_runtime
from bot.settings import LoadedSettings, Secrets
from engine import Control, ControlKind, GenerationRequest, InvalidRequest, Mode, Reference
from engine import ReferenceKind as Kind
from engine.types import MAX_BLEND
from tests.bot.test_canvas_requests import bot, decoded, png, refused, submit
from tests.conftest import FAKE_KIND, make_settings

STEERING = {
    "references": ["fake-v2", "fake-hot"],
    "reference_kinds": ["style"],
    "max_references": MAX_BLEND,
    "controls": ["fake-v2", "fake-hot"],
    "control_kinds": ["canny", "pose"],
    "nsfw_models": ["fake-hot"],
}


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    async with bot(tmp_path, STEERING) as runtime:
        yield runtime


def guided(*weights: float, **options: Any) -> GenerationRequest:
    """A fake-v2 txt2img with a style reference per weight and, unless told, a canny control."""
    colours = ("red", "blue", "green", "yellow", "purple", "orange", "white")
    values: dict[str, Any] = {
        "prompt": "a lighthouse",
        "model": "fake-v2",
        "width": 64,
        "height": 64,
        "references": tuple(Reference(Kind.STYLE, weight) for weight in weights),
        "reference_images": tuple(png(colour=colours[i]) for i in range(len(weights))),
        "control": Control(ControlKind.CANNY, 0.8, 0.1, 0.9),
        "control_image": png(colour="black"),
    }
    return GenerationRequest(**(values | options))


# Stored


async def test_references_and_control_are_stored_re_encoded_in_order(rt: Runtime):
    photo = Image.new("RGB", (40, 20), "red")
    exif = photo.getexif()
    exif[0x0112] = 6  # shown turned a quarter clockwise
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", exif=exif.tobytes())
    grey = io.BytesIO()
    Image.new("L", (32, 32), 200).save(grey, "WEBP")
    request = guided(
        0.5,
        2.0,
        reference_images=(buffer.getvalue(), png(colour="blue")),
        control_image=grey.getvalue(),
    )
    job = await submit(rt, request)
    stored = await rt.store.get(job.job_id)
    assert stored is not None
    assert stored.request.references == request.references
    assert stored.request.control == request.control
    images = [*stored.request.reference_images, stored.request.control_image]
    assert all(data is not None and data.startswith(b"\x89PNG") for data in images)
    first, second = (decoded(data) for data in stored.request.reference_images)
    assert first.size == (20, 40) and not first.getexif()  # upright, without its metadata
    assert second.getpixel((0, 0)) == (0, 0, 255)
    control = decoded(stored.request.control_image)
    assert control.mode == "RGB" and control.getpixel((0, 0)) == (200, 200, 200)


async def test_a_blend_needs_no_prompt(rt: Runtime):
    job = await submit(rt, guided(*[1.0] * MAX_BLEND, prompt="", control=None, control_image=None))
    assert len(job.request.reference_images) == MAX_BLEND and job.request.prompt == ""


async def test_one_reference_without_a_prompt_is_refused(rt: Runtime):
    await refused(rt, guided(1.0, prompt="  ", control=None, control_image=None), "write some text")


async def test_references_and_control_on_img2img_are_taken(rt: Runtime):
    job = await submit(rt, guided(1.0, mode=Mode.IMG2IMG, init_image=png(), strength=0.5))
    assert job.request.mode is Mode.IMG2IMG and len(job.request.reference_images) == 1
    assert job.request.control_image is not None


# What doesn't fit together


@pytest.mark.parametrize(
    ("changes", "field", "match"),
    [
        ({"reference_images": (png(),)}, "references", "2 references came with 1 images"),
        ({"reference_images": (png(), png(), png())}, "references", "one image for each"),
        ({"control_image": None}, "control_image", "needs a control image"),
        ({"control": None}, "control_type", "say what to follow"),
    ],
)
async def test_images_that_dont_match_their_options_are_refused(
    rt: Runtime, changes: dict[str, Any], field: str, match: str
):
    error = await refused(rt, guided(1.0, 1.0, **changes), match)
    assert error.field == field


async def test_more_references_than_a_blend_takes_are_refused(rt: Runtime):
    error = await refused(rt, guided(*[1.0] * (MAX_BLEND + 1)), "give 3 at most")
    assert error.field == "references" and error.value == MAX_BLEND + 1


@pytest.mark.parametrize("weight", [-0.1, 2.01, math.nan, math.inf])
async def test_a_weight_outside_0_to_2_is_refused(rt: Runtime, weight: float):
    error = await refused(rt, guided(1.0, weight), "from 0 to 2")
    assert error.field == "reference_weight"


@pytest.mark.parametrize("weight", [0.0, 2.0])
async def test_the_ends_of_the_weight_range_are_taken(rt: Runtime, weight: float):
    job = await submit(rt, guided(weight))
    assert job.request.references[0].weight == weight


@pytest.mark.parametrize(
    ("control", "field", "match"),
    [
        (Control(ControlKind.CANNY, 2.5), "control_strength", "from 0 to 2"),
        (Control(ControlKind.CANNY, -0.5), "control_strength", "from 0 to 2"),
        (Control(ControlKind.CANNY, math.nan), "control_strength", "from 0 to 2"),
        (Control(ControlKind.CANNY, 1.0, -0.1, 1.0), "control_start", "from 0 to 1"),
        (Control(ControlKind.CANNY, 1.0, 0.0, 1.5), "control_end", "from 0 to 1"),
        (Control(ControlKind.CANNY, 1.0, 0.5, 0.5), "control_end", "after control_start"),
        (Control(ControlKind.CANNY, 1.0, 0.8, 0.2), "control_end", "after control_start"),
    ],
)
async def test_a_control_out_of_range_is_refused(
    rt: Runtime, control: Control, field: str, match: str
):
    error = await refused(rt, guided(control=control), match)
    assert error.field == field


async def test_the_ends_of_the_control_ranges_are_taken(rt: Runtime):
    for control in (Control(ControlKind.POSE, 0.0, 0.0, 1.0), Control(ControlKind.POSE, 2.0)):
        job = await submit(rt, guided(control=control))
        assert job.request.control == control


@pytest.mark.parametrize("mode", [Mode.INPAINT, Mode.UPSCALE, Mode.EDIT])
async def test_modes_other_than_txt2img_and_img2img_take_none(rt: Runtime, mode: Mode):
    await refused(rt, guided(1.0, mode=mode, init_image=png()), f"{mode.value} takes no references")


@pytest.mark.parametrize("where", ["reference", "control"])
async def test_a_damaged_or_foreign_image_is_refused_by_its_field(rt: Runtime, where: str):
    gif = io.BytesIO()
    Image.new("RGB", (8, 8)).save(gif, "GIF")
    for bad, match in ((png()[:60], "damaged|not an image"), (gif.getvalue(), "GIF files")):
        if where == "reference":
            error = await refused(rt, guided(1.0, reference_images=(bad,)), match)
            assert error.field == "references"
        else:
            error = await refused(rt, guided(control_image=bad), match)
            assert error.field == "control_image"


async def test_a_reference_larger_than_the_bot_draws_is_refused(tmp_path: Path):
    async with bot(tmp_path, STEERING, limits={"max_width": 256, "max_height": 256}) as runtime:
        big = png((300, 300))
        await refused(runtime, guided(1.0, reference_images=(big,)), "300×300 pixels")


# Models that can't


async def test_a_model_without_references_is_refused_naming_those_that_follow_them(rt: Runtime):
    error = await refused(
        rt, guided(1.0, model="fake-v1", control=None, control_image=None), "style"
    )
    assert error.field == "model"
    assert "can't follow style references; fake-v2 and fake-hot can; pick one" in str(error)


async def test_a_reference_kind_no_model_follows_is_refused(rt: Runtime):
    request = guided(references=(Reference(Kind.SUBJECT, 1.0),), reference_images=(png(),))
    await refused(rt, request, "can't follow subject references; no model here can")


async def test_a_control_the_model_cant_follow_is_refused(rt: Runtime):
    await refused(rt, guided(model="fake-v1"), "can't follow edges \\(canny\\); fake-v2 and")
    depth = Control(ControlKind.DEPTH)
    await refused(rt, guided(control=depth), "can't follow a depth map; no model here can")


async def test_more_references_than_the_model_takes_names_those_that_take_them(tmp_path: Path):
    providers = {
        "small": {"kind": FAKE_KIND, **STEERING, "max_references": 2},
        "large": {"kind": FAKE_KIND, **STEERING, "references": ["fake-v1"]},
    }
    settings = make_settings(tmp_path, providers=providers, defaults={"provider": "small"})
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as runtime:
        assert runtime.providers.able(Mode.TXT2IMG, lambda info: info.max_references >= 3) == [
            ("large", "fake-v1")
        ]
        error = await refused(
            runtime, guided(1.0, 1.0, 1.0, control=None, control_image=None), "3 reference"
        )
        assert "can't take 3 reference images; fake-v1 (large) can; pick it" in str(error)


# Price and safety


async def test_references_and_control_cost_what_text_to_image_costs(rt: Runtime):
    plain = await submit(
        rt, GenerationRequest("a lighthouse", model="fake-v2", width=64, height=64)
    )
    steered = await submit(rt, guided(1.0, 2.0))
    assert steered.cost == plain.cost


@pytest.mark.parametrize(
    "changes",
    [{"control": None, "control_image": None}, {"references": (), "reference_images": ()}],
)
async def test_a_job_with_a_reference_or_control_is_never_nsfw(
    rt: Runtime, changes: dict[str, Any]
):
    request = guided(1.0, nsfw_allowed=True, **changes)
    job = await rt.service.submit(request, Requester(7), target={"nsfw": True})
    assert not job.request.nsfw_allowed and job.target["nsfw"] is False
    with pytest.raises(InvalidRequest, match="NSFW model"):
        await rt.service.submit(request.replace(model="fake-hot"), Requester(7))


async def test_a_server_without_member_images_refuses_references_and_control(rt: Runtime):
    await rt.policies.set_content(10, {"img2img": False})
    for request in (guided(1.0, control=None, control_image=None), guided()):
        with pytest.raises(InvalidRequest, match=r"members' images .* are off here"):
            await rt.service.submit(request, Requester(7, 10, 1000))


async def test_a_guided_result_is_never_shown_again_as_nsfw(rt: Runtime):
    """/show in an NSFW place: a job drawn from text alone on an NSFW model may be shown
    there; one steered by a member's images may not."""
    plain = await submit(
        rt, GenerationRequest("a lighthouse", model="fake-v2", width=64, height=64)
    )
    steered = await submit(rt, guided(1.0))
    await rt.service.readmit(replace(plain, model="fake-hot"), Requester(7), nsfw_place=True)
    with pytest.raises(InvalidRequest, match="NSFW model"):
        await rt.service.readmit(replace(steered, model="fake-hot"), Requester(7), nsfw_place=True)
