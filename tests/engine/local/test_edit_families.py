"""The DiT edit and inpaint families end to end through the local engine, on their tiny
pipelines: FLUX.1 Kontext edits an image, FLUX.2 [klein] edits from several, FLUX.1 Fill and
the transformer families' inpaint pipelines repaint by a mask and keep the rest; a family
refuses, by name, a mode it has not and more input images than it takes."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from engine import (
    CancelToken,
    GenerationRequest,
    GenerationResult,
    InvalidRequest,
    Mode,
    Progress,
)
from engine.local import LocalProvider
from engine.local.families import by_key
from engine.local.inputs import draw_size
from engine.local.options import ModelSpec
from engine.registry import ProviderConfig, build_provider
from tests.engine.local.family_models import FamilyModels
from tests.engine.local.precision import assert_same_picture

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.timeout(300)]

WIDTH, HEIGHT = 96, 64  # not square, so a swapped width and height shows
INPAINTERS = ["flux1-fill", "flux1", "flux1-kontext", "sd3", "qwen-image", "z-image", "flux2-klein"]
MODELS = [*INPAINTERS, "chroma"]


@pytest.fixture(scope="module")
def engine(family_models: FamilyModels, one_torch_thread: None) -> Iterator[LocalProvider]:
    small = {"width": WIDTH, "height": HEIGHT}
    options = family_models.options(MODELS, models={key: small for key in MODELS})
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    yield provider
    asyncio.run(provider.close())


def png(seed: int, size: tuple[int, int] = (WIDTH, HEIGHT)) -> bytes:
    values = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(values).save(buffer, "PNG")
    return buffer.getvalue()


def left_half_mask() -> bytes:
    mask = Image.new("L", (WIDTH, HEIGHT), 0)
    mask.paste(255, (0, 0, WIDTH // 2, HEIGHT))
    buffer = io.BytesIO()
    mask.save(buffer, "PNG")
    return buffer.getvalue()


def ask(provider: LocalProvider, key: str, prompt: str = "make it night", **options: object):
    request = GenerationRequest(prompt, model=key, seed=7, **options)  # type: ignore[arg-type]
    return provider.prepare(request)


async def draw(provider: LocalProvider, request: GenerationRequest) -> GenerationResult:
    return await provider.generate(request, lambda _: None, CancelToken())


def pixels(result: GenerationResult, index: int = 0) -> np.ndarray:
    return np.asarray(result.images[index].image, dtype=np.int16)


def source(seed: int) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png(seed))).convert("RGB"), dtype=np.int16)


async def test_kontext_edits_the_image_it_is_given_at_the_asked_size(engine: LocalProvider):
    edit = ask(engine, "flux1-kontext", mode=Mode.EDIT, init_image=png(0))
    first, again = await draw(engine, edit), await draw(engine, edit)
    assert first.images[0].image.size == (WIDTH, HEIGHT)
    assert np.array_equal(pixels(first), pixels(again))
    other_image = await draw(engine, edit.replace(init_image=png(1)))
    assert not np.array_equal(pixels(first), pixels(other_image))
    plain = await draw(engine, ask(engine, "flux1-kontext"))
    assert plain.images[0].image.size == (WIDTH, HEIGHT)
    assert not np.array_equal(pixels(first), pixels(plain))


def test_an_edit_draws_the_input_at_most_at_the_models_pixel_count(engine: LocalProvider):
    """The model is set to draw 96x64: a larger input is edited at that many pixels."""
    large = ask(engine, "flux1-kontext", mode=Mode.EDIT, init_image=png(0, (192, 144)))
    assert large.size == (80, 64)  # 6144 pixels at most, 4:3, multiples of 16
    assert ask(engine, "flux1-kontext", mode=Mode.EDIT, init_image=png(0)).size == (96, 64)
    asked = ask(engine, "flux1-kontext", mode=Mode.EDIT, init_image=png(0), width=128, height=96)
    assert asked.size == (128, 96)


def test_a_photo_is_edited_near_a_megapixel():
    spec = ModelSpec(source="black-forest-labs/FLUX.1-Kontext-dev")
    kontext = by_key("flux1-kontext")

    def edit(size: tuple[int, int], mode: Mode = Mode.EDIT) -> tuple[int, int]:
        photo = io.BytesIO()
        Image.new("RGB", size, "teal").save(photo, "PNG")
        request = GenerationRequest("make it night", mode=mode, init_image=photo.getvalue())
        return draw_size(request, spec, kontext, None)

    assert edit((4000, 3000)) == (1168, 880)  # 1024x1024 at most, 4:3
    assert edit((800, 600)) == (800, 592)
    assert edit((4000, 3000), Mode.INPAINT) == (2048, 1536)  # a repaint keeps the detail


@pytest.mark.parametrize("key", ["flux1-kontext", "flux2-klein"])
async def test_an_edit_batch_gives_each_image_its_seed(engine: LocalProvider, key: str):
    edit = ask(engine, key, mode=Mode.EDIT, init_image=png(0), count=2)
    batch = await draw(engine, edit)
    alone = await draw(engine, edit.replace(count=1, seed=edit.seeds[1]))
    assert len(batch.images) == 2
    assert_same_picture(pixels(batch, 1), pixels(alone), engine.dtype)


async def test_klein_edits_from_several_images(engine: LocalProvider):
    one = ask(engine, "flux2-klein", mode=Mode.EDIT, init_image=png(0))
    two = one.replace(extra_images=(png(1, (80, 64)),))
    four = one.replace(extra_images=(png(1), png(2), png(3)))
    results = [await draw(engine, request) for request in (one, two, four)]
    assert all(result.images[0].image.size == (WIDTH, HEIGHT) for result in results)
    assert not np.array_equal(pixels(results[0]), pixels(results[1]))
    assert not np.array_equal(pixels(results[1]), pixels(results[2]))


@pytest.mark.parametrize("key", INPAINTERS)
async def test_inpaint_repaints_the_mask_and_keeps_the_rest(engine: LocalProvider, key: str):
    request = ask(engine, key, mode=Mode.INPAINT, init_image=png(0), mask_image=left_half_mask())
    result = await draw(engine, request)
    assert result.images[0].image.size == (WIDTH, HEIGHT)
    painted, original = pixels(result), source(0)
    assert np.array_equal(painted[:, WIDTH // 2 :], original[:, WIDTH // 2 :])
    assert np.abs(painted[:, : WIDTH // 3] - original[:, : WIDTH // 3]).mean() > 10
    assert np.array_equal(painted, pixels(await draw(engine, request)))


@pytest.mark.parametrize("key", ["flux1-fill", "flux1"])
async def test_an_inpaint_batch_gives_each_image_its_seed(engine: LocalProvider, key: str):
    request = ask(engine, key, mode=Mode.INPAINT, init_image=png(0), mask_image=left_half_mask())
    batch = await draw(engine, request.replace(count=2))
    alone = await draw(engine, request.replace(seed=batch.images[1].seed))
    assert_same_picture(pixels(batch, 1), pixels(alone), engine.dtype)


@pytest.mark.parametrize("key", ["flux1-fill", "flux2-klein", "flux1-kontext", "qwen-image"])
async def test_outpaint_paints_the_padding(engine: LocalProvider, key: str):
    request = ask(engine, key, mode=Mode.OUTPAINT, init_image=png(0), mask_image=left_half_mask())
    assert request.strength == 1.0
    result = await draw(engine, request)
    assert np.array_equal(pixels(result)[:, WIDTH // 2 :], source(0)[:, WIDTH // 2 :])


async def test_fill_draws_from_the_prompt_alone_as_a_whole_picture_inpaint(
    engine: LocalProvider,
):
    request = ask(engine, "flux1-fill", "a red boat")
    first = await draw(engine, request)
    assert first.images[0].image.size == (WIDTH, HEIGHT) and pixels(first).std() > 5
    assert not np.array_equal(pixels(first), pixels(await draw(engine, request.replace(seed=8))))


def test_models_say_which_edit_and_canvas_modes_they_take(engine: LocalProvider):
    def modes(key: str) -> tuple[bool, bool, bool, int]:
        info = engine.model_info(key)
        return info.edit, info.inpaint, info.outpaint, info.max_input_images

    assert modes("flux1-kontext") == (True, True, True, 1)
    assert modes("flux2-klein") == (True, True, True, 4)
    assert modes("flux1-fill") == (False, True, True, 1)
    assert modes("chroma") == (False, False, False, 1)
    assert {Mode.EDIT, Mode.INPAINT, Mode.OUTPAINT} <= engine.capabilities.modes


REFUSALS = [
    ("flux1", Mode.EDIT, {}, "can't edit an image by instruction; flux1-kontext, flux2-klein can"),
    ("flux1-fill", Mode.EDIT, {}, "can't edit an image by instruction"),
    ("chroma", Mode.INPAINT, {"mask_image": left_half_mask()}, "can't repaint a region"),
    ("chroma", Mode.OUTPAINT, {"mask_image": left_half_mask()}, "can't paint past"),
    ("flux1-kontext", Mode.EDIT, {"extra_images": (png(1),)}, "from 1 image at most; 2 were"),
    (
        "flux2-klein",
        Mode.EDIT,
        {"extra_images": (png(1, (48, 64)),)},
        "of at least 64 px a side; image 2 is 48×64",
    ),
    (
        "flux2-klein",
        Mode.EDIT,
        {"extra_images": (png(1), png(2, (640, 64)))},
        "at most 8 times as wide as high or high as wide; image 3 is 640×64",
    ),
]


@pytest.mark.parametrize(("key", "mode", "options", "words"), REFUSALS)
def test_a_mode_or_images_the_family_cannot_take_are_refused_by_name(
    engine: LocalProvider, key: str, mode: Mode, options: dict[str, object], words: str
):
    with pytest.raises(InvalidRequest) as refused:
        ask(engine, key, mode=mode, init_image=png(0), **options)
    assert words in str(refused.value) and key in str(refused.value)


def test_more_than_four_images_are_refused_even_where_the_family_takes_several(
    engine: LocalProvider,
):
    with pytest.raises(InvalidRequest, match="4 input images at most"):
        ask(engine, "flux2-klein", mode=Mode.EDIT, init_image=png(0), extra_images=(png(1),) * 4)


PREVIEWED = [
    ("flux1-kontext", Mode.EDIT),
    ("flux2-klein", Mode.EDIT),
    ("flux1-fill", Mode.INPAINT),
    ("qwen-image", Mode.INPAINT),
    ("flux2-klein", Mode.OUTPAINT),
]


@pytest.mark.parametrize(("key", "mode"), PREVIEWED)
async def test_edits_and_repaints_report_each_step_with_a_preview(
    family_models: FamilyModels, key: str, mode: Mode
):
    small = {"width": WIDTH, "height": HEIGHT, "steps": 3}
    options = family_models.options([key], models={key: small}, preview_every=1)
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    mask = {} if mode is Mode.EDIT else {"mask_image": left_half_mask()}
    request = ask(provider, key, mode=mode, init_image=png(0), **mask)
    reports: list[Progress] = []
    await provider.generate(request, reports.append, CancelToken())
    await provider.close()
    assert [report.step for report in reports] == list(range(1, len(reports) + 1))
    previews = [report.preview for report in reports if report.preview is not None]
    # the picture of the latents, at their size or the decoder's, the asked way up
    assert previews and all(p.width * HEIGHT == p.height * WIDTH for p in previews)
