"""Every family end to end through the local engine, on its tiny pipeline: txt2img at the asked
size, the same seed giving the same image, batches equal to solo runs, img2img where the family
has it and a refusal naming the model where it has not."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image

from engine import CancelToken, GenerationRequest, GenerationResult, InvalidRequest, Mode
from engine.local import LocalProvider
from engine.local.families import by_key
from engine.registry import ProviderConfig, build_provider
from tests.engine.local.family_models import FAMILY_KEYS, FamilyModels
from tests.engine.local.precision import assert_same_picture

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.timeout(300)]

WITH_IMG2IMG = [key for key in FAMILY_KEYS if by_key(key).image2img is not None]
WITHOUT_IMG2IMG = [key for key in FAMILY_KEYS if by_key(key).image2img is None]


@pytest.fixture(scope="module")
def engine(family_models: FamilyModels, one_torch_thread: None) -> Iterator[LocalProvider]:
    """One engine holding every family's tiny model, each named after its family key."""
    options = family_models.options(FAMILY_KEYS)
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    yield provider
    asyncio.run(provider.close())


def ask(provider: LocalProvider, key: str, prompt: str = "a red boat", **options: object):
    request = GenerationRequest(prompt, model=key, seed=7, **options)  # type: ignore[arg-type]
    return provider.prepare(request)


async def draw(provider: LocalProvider, request: GenerationRequest) -> GenerationResult:
    return await provider.generate(request, lambda _: None, CancelToken())


def pixels(result: GenerationResult, index: int = 0) -> np.ndarray:
    return np.asarray(result.images[index].image, dtype=np.int16)


def png(size: tuple[int, int], colour: tuple[int, int, int]) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("key", FAMILY_KEYS)
async def test_txt2img_draws_the_asked_size_and_the_same_seed_repeats(
    engine: LocalProvider, key: str
):
    request = ask(engine, key)
    assert engine.family(key).key == key  # recognised from the folder's model_index.json
    first, again = await draw(engine, request), await draw(engine, request)
    other = await draw(engine, request.replace(seed=8))
    image = first.images[0]
    assert image.image.size == (64, 64) and image.image.mode == "RGB"
    assert image.seed == 7 and first.model == key
    assert pixels(first).std() > 5  # a picture, not a flat colour
    assert np.array_equal(pixels(first), pixels(again))
    assert not np.array_equal(pixels(first), pixels(other))


@pytest.mark.parametrize("key", FAMILY_KEYS)
async def test_a_batch_gives_each_job_the_images_it_gets_alone(engine: LocalProvider, key: str):
    negative = "blurry" if engine.family(key).negative_prompt else ""
    a = ask(engine, key, "a red boat", count=2, negative_prompt=negative)
    b = ask(engine, key, "a green hill").replace(seed=100)
    assert engine.batch_key(a) == engine.batch_key(b) != ""
    alone = [await draw(engine, a), await draw(engine, b)]
    together = await engine.generate_batch(
        [a, b], [lambda _: None] * 2, [CancelToken(), CancelToken()]
    )
    for batched, solo in zip(together, alone, strict=True):
        assert isinstance(batched, GenerationResult)
        assert [i.seed for i in batched.images] == [i.seed for i in solo.images]
        for k in range(len(solo.images)):
            assert_same_picture(pixels(batched, k), pixels(solo, k), engine.dtype)


@pytest.mark.parametrize("key", WITH_IMG2IMG)
async def test_img2img_starts_from_the_image_with_its_strength(engine: LocalProvider, key: str):
    red = png((80, 48), (200, 40, 40))
    request = ask(engine, key, mode=Mode.IMG2IMG, init_image=red, strength=0.5, steps=4)
    assert request.size == (64, 64)
    result = await draw(engine, request)
    stronger = await draw(engine, request.replace(strength=0.9))
    blue = await draw(engine, request.replace(init_image=png((80, 48), (20, 20, 220))))
    assert result.images[0].image.size == (64, 64)
    assert np.array_equal(pixels(result), pixels(await draw(engine, request)))
    assert not np.array_equal(pixels(result), pixels(stronger))
    assert not np.array_equal(pixels(result), pixels(blue))


@pytest.mark.parametrize("key", WITHOUT_IMG2IMG)
def test_a_family_without_img2img_refuses_an_image_naming_the_model(
    engine: LocalProvider, key: str
):
    red = png((64, 64), (200, 40, 40))
    with pytest.raises(InvalidRequest) as image:
        ask(engine, key, mode=Mode.IMG2IMG, init_image=red, strength=0.5)
    with pytest.raises(InvalidRequest) as upscale:
        ask(engine, key, mode=Mode.UPSCALE, init_image=red)
    assert image.value.field == "image" and upscale.value.field == "mode"
    for refused in (image.value, upscale.value):
        assert f"{key} ({by_key(key).label})" in str(refused)
    assert not engine.model_info(key).img2img
