"""Edits and repaints through the service: their images and masks checked and re-encoded
before anything is queued or charged, refused on models that can't (naming those that can),
the owner's edit->img2img fallback, their price, and never NSFW."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from PIL import Image

from bot.jobs import Job, Requester
from bot.quota import QuotaPolicy
from bot.runtime import Runtime, open_runtime
from bot.settings import LoadedSettings, QueueSettings, QuotaSettings, Secrets
from cogs.render import result_embed
from engine import GenerationRequest, InvalidRequest, Mode
from tests.bot.test_store import usage
from tests.conftest import FAKE_KIND, make_settings

CANVAS = {"edit": ["fake-v2"], "inpaint": ["fake-v2"], "outpaint": ["fake-v2"]}


def png(size: tuple[int, int] = (64, 64), colour: Any = "teal", mode: str = "RGB") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size, colour).save(buffer, "PNG")
    return buffer.getvalue()


def mask(size: tuple[int, int] = (64, 64), share: float = 0.5, **kw: Any) -> bytes:
    """White over the left ``share`` of the width, black elsewhere (or ``kw``'s colours)."""
    white, black = kw.get("white", 255), kw.get("black", 0)
    image = Image.new(kw.get("mode", "L"), size, black)
    image.paste(white, (0, 0, round(size[0] * share), size[1]))
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def decoded(data: bytes | None) -> Image.Image:
    assert data is not None
    with Image.open(io.BytesIO(data)) as image:
        image.load()
        return image.copy()


def repaint(**options: Any) -> GenerationRequest:
    values: dict[str, Any] = {
        "mode": Mode.INPAINT,
        "model": "fake-v2",
        "width": 64,
        "height": 64,
        "init_image": png(),
        "mask_image": mask(),
    }
    return GenerationRequest("a red door", **(values | options))


@asynccontextmanager
async def bot(tmp_path: Path, fake: dict[str, Any] | None = None, **sections: Any):  # type: ignore[no-untyped-def]
    providers = {"fake": {"kind": FAKE_KIND, **CANVAS, **(fake or {})}}
    settings = make_settings(tmp_path, providers=providers, **sections)
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as rt:
        yield rt


@pytest.fixture
async def rt(tmp_path: Path) -> AsyncIterator[Runtime]:
    hot = {mode: [*models, "fake-hot"] for mode, models in CANVAS.items()}
    options = {"max_input_images": 3, "nsfw_models": ["fake-hot"], **hot}
    async with bot(tmp_path, options) as runtime:
        yield runtime


async def submit(rt: Runtime, request: GenerationRequest, **kw: Any) -> Job:
    return await rt.service.submit(request, Requester(7), target={"channel_id": 1}, **kw)


async def refused(rt: Runtime, request: GenerationRequest, match: str) -> InvalidRequest:
    with pytest.raises(InvalidRequest, match=match) as caught:
        await submit(rt, request)
    row = await rt.db.fetchone("SELECT COUNT(*) FROM jobs")
    assert row is not None and row[0] == 0, "a refusal queued a job"
    assert await usage(rt, 7) == 0, "a refusal charged"
    return caught.value


# The mask


async def test_a_repaint_stores_its_mask_black_and_white(rt: Runtime):
    strokes = mask(share=0.25, mode="RGBA", white=(255, 255, 255, 255), black=(255, 255, 255, 0))
    job = await submit(rt, repaint(mask_image=strokes))
    stored = await rt.store.get(job.job_id)
    assert stored is not None
    kept = decoded(stored.request.mask_image)
    assert kept.mode == "L" and kept.size == (64, 64)
    assert kept.getextrema() == (0, 255)
    assert kept.histogram()[255] == 16 * 64  # the opaque white strokes only


@pytest.mark.parametrize(("grey", "paints"), [(200, True), (128, True), (127, False)])
async def test_a_grey_mask_splits_at_the_middle(rt: Runtime, grey: int, paints: bool):
    rgb = mask(share=0.5, mode="RGB", white=(grey, grey, grey), black=(0, 0, 0))
    if paints:
        job = await submit(rt, repaint(mask_image=rgb))
        assert decoded(job.request.mask_image).histogram()[255] == 32 * 64
    else:
        await refused(rt, repaint(mask_image=rgb), "nothing to repaint")


async def test_a_mask_of_another_size_is_refused(rt: Runtime):
    error = await refused(rt, repaint(mask_image=mask((64, 32))), "64×32 pixels")
    assert error.field == "mask" and "64×64" in str(error)


@pytest.mark.parametrize("mode", [Mode.INPAINT, Mode.OUTPAINT])
async def test_a_mask_that_repaints_nothing_is_refused(rt: Runtime, mode: Mode):
    await refused(rt, repaint(mode=mode, mask_image=mask(share=0)), "nothing to repaint")


async def test_an_inpaint_of_everything_is_refused(rt: Runtime):
    await refused(rt, repaint(mask_image=mask(share=1)), "whole image")


async def test_a_mask_that_is_not_an_image_is_refused(rt: Runtime):
    error = await refused(rt, repaint(mask_image=b"not a png"), "not an image")
    assert error.field == "mask"


@pytest.mark.parametrize(
    ("changes", "match"),
    [
        ({"mask_image": None}, "give a mask"),
        ({"mode": Mode.IMG2IMG, "strength": 0.5}, "only inpaint and outpaint take one"),
        ({"init_image": None}, "needs an input image"),
        ({"mode": Mode.EDIT, "mask_image": None, "init_image": None}, "needs an input image"),
        ({"extra_images": (png(),)}, "only an edit takes several"),
        ({"strength": 1.5}, "above 0, at most 1"),
    ],
)
async def test_a_request_missing_or_misusing_an_image_is_refused(
    rt: Runtime, changes: dict[str, Any], match: str
):
    await refused(rt, repaint(**changes), match)


# An edit's images


def edit(*extras: bytes, **options: Any) -> GenerationRequest:
    return repaint(mode=Mode.EDIT, mask_image=None, extra_images=extras, **options)


async def test_an_edit_stores_its_images_re_encoded_in_order(rt: Runtime):
    photo = io.BytesIO()
    Image.new("RGB", (40, 30), "red").save(photo, "JPEG", quality=95)
    job = await submit(rt, edit(photo.getvalue(), png((32, 32), "blue")))
    stored = await rt.store.get(job.job_id)
    assert stored is not None and len(stored.request.extra_images) == 2
    assert all(data.startswith(b"\x89PNG") for data in stored.request.extra_images)
    first, second = (decoded(data) for data in stored.request.extra_images)
    assert first.size == (40, 30) and second.size == (32, 32)
    assert second.getpixel((0, 0)) == (0, 0, 255)


async def test_an_edit_takes_at_most_four_images(rt: Runtime):
    error = await refused(rt, edit(*[png()] * 4), "4 images at most")
    assert error.field == "images"


async def test_an_edit_takes_no_more_images_than_its_model(tmp_path: Path):
    async with bot(tmp_path, {"max_input_images": 2}) as runtime:
        await refused(runtime, edit(png(), png()), "fake-v2 takes 2 at most")


async def test_a_damaged_extra_image_is_refused(rt: Runtime):
    cut = png()[:60]
    error = await refused(rt, edit(cut), "damaged|not an image")
    assert error.field == "images"


# Models that can't


async def test_a_mode_the_model_cant_do_is_refused_naming_the_models_that_can(rt: Runtime):
    error = await refused(rt, edit(model="fake-v1"), "can't edit an image by instruction")
    assert error.field == "model" and "fake-v2 and fake-hot can; pick one" in str(error)
    await refused(rt, repaint(model="fake-v1"), "can't repaint a region; fake-v2 and fake-hot")


async def test_a_refusal_names_models_across_providers(tmp_path: Path):
    providers = {
        "fake": {"kind": FAKE_KIND},
        "other": {"kind": FAKE_KIND, "edit": ["fake-v1", "fake-v2"]},
    }
    settings = make_settings(tmp_path, providers=providers)
    async with open_runtime(LoadedSettings(settings, Secrets(), None)) as runtime:
        assert runtime.providers.able(Mode.EDIT) == [("other", "fake-v1"), ("other", "fake-v2")]
        assert runtime.providers.able(Mode.INPAINT) == []
        error = await refused(runtime, edit(model="fake-v1"), "can't edit")
        assert "fake-v1 (other) and fake-v2 (other) can; pick one" in str(error)
        await refused(runtime, repaint(model="fake-v1"), "no model here can")


# The owner's fallback


async def test_an_edit_on_a_model_without_one_becomes_a_marked_variation(tmp_path: Path):
    limits = {"edit_falls_back_to_img2img": True, "edit_fallback_strength": 0.45}
    async with bot(tmp_path, limits=limits) as runtime:
        job = await submit(runtime, edit(model="fake-v1"))
        assert job.request.mode is Mode.IMG2IMG and job.request.strength == 0.45
        assert job.target["edit_fallback"] is True
        fields = {field.name: field.value for field in result_embed(job, []).fields}
        assert "fake-v1 has no edit mode" in fields["Edited as a variation"]
        assert "strength 0.45" in fields["Edited as a variation"]
        on_an_editor = await submit(runtime, edit(model="fake-v2"))
        assert on_an_editor.request.mode is Mode.EDIT and "edit_fallback" not in (
            on_an_editor.target
        )
        await refused_again(runtime, edit(png(), model="fake-v1"), "takes one image")


async def refused_again(rt: Runtime, request: GenerationRequest, match: str) -> None:
    before = await usage(rt, 7)
    with pytest.raises(InvalidRequest, match=match):
        await submit(rt, request)
    assert await usage(rt, 7) == before


async def test_without_the_owners_leave_an_edit_is_not_turned_into_a_variation(rt: Runtime):
    await refused(rt, edit(model="fake-v1"), "can't edit")


# Price


def cost_of(request: GenerationRequest, painted: float = 1.0) -> int:
    return QuotaPolicy(QuotaSettings(), QueueSettings()).cost(request, painted=painted)


@pytest.mark.parametrize(
    ("mode", "painted", "units"),
    [
        (Mode.IMG2IMG, 0.1, 8),
        (Mode.EDIT, 1.0, 8),
        (Mode.OUTPAINT, 0.25, 8),
        (Mode.INPAINT, 1.0, 8),
        (Mode.INPAINT, 0.75, 6),
        (Mode.INPAINT, 0.3, 4),  # never below half
        (Mode.INPAINT, 0.01, 4),
    ],
)
def test_a_small_repaint_costs_less_down_to_half(mode: Mode, painted: float, units: int):
    request = GenerationRequest("x", mode=mode, width=1024, height=1024, count=2)
    assert cost_of(request, painted) == units


async def test_a_repaint_is_charged_by_its_masked_share(rt: Runtime):
    size = (1024, 1024)
    request = repaint(
        width=1024, height=1024, init_image=png(size), mask_image=mask(size, share=0.75)
    )
    job = await submit(rt, request)
    assert job.cost == 3 and await usage(rt, 7) == 3
    whole = await submit(rt, request.replace(mode=Mode.EDIT, mask_image=None))
    assert whole.cost == 4


# NSFW


Make = Callable[..., GenerationRequest]


@pytest.mark.parametrize(
    "make",
    [repaint, edit, lambda **kw: repaint(mode=Mode.IMG2IMG, mask_image=None, strength=0.5, **kw)],
)
async def test_a_job_from_an_image_is_never_nsfw(rt: Runtime, make: Make):
    job = await rt.service.submit(
        make(nsfw_allowed=True), Requester(7), target={"channel_id": 1, "nsfw": True}
    )
    assert not job.request.nsfw_allowed and job.target["nsfw"] is False
    with pytest.raises(InvalidRequest, match="NSFW model"):
        await rt.service.submit(make(nsfw_allowed=True, model="fake-hot"), Requester(7))


async def test_a_server_without_img2img_refuses_edits_and_repaints(rt: Runtime):
    await rt.policies.set_content(10, {"img2img": False})
    for request in (edit(), repaint()):
        with pytest.raises(InvalidRequest, match="starting from an image is off here"):
            await rt.service.submit(request, Requester(7, 10, 1000))


async def test_an_input_photo_is_stored_upright_without_its_metadata(rt: Runtime):
    photo = Image.new("RGB", (40, 20), "red")
    exif = photo.getexif()
    exif[0x0112] = 6  # shown turned a quarter clockwise
    exif[0x010F] = "a camera maker"
    buffer = io.BytesIO()
    photo.save(buffer, "JPEG", exif=exif.tobytes())
    job = await submit(rt, edit(init_image=buffer.getvalue()))
    stored = decoded(job.request.init_image)
    assert stored.size == (20, 40)
    assert not stored.getexif() and "exif" not in stored.info
