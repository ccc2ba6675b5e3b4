"""Previews through each family's profile (its tiny decoder when the model has one, else its
latent-to-RGB map, else its own autoencoder), and the final tiny decode on CPU."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import numpy as np
import pytest
import torch
from PIL import Image

from engine import CancelToken, GenerationRequest, GenerationResult, Progress
from engine.local import LocalProvider
from engine.local.families import by_key
from engine.local.pipelines import ModelLoadError
from engine.registry import ProviderConfig, build_provider
from tests.engine.local.family_models import FAMILY_KEYS, FamilyModels

pytestmark = [pytest.mark.usefixtures("one_torch_thread"), pytest.mark.timeout(300)]

WITH_TINY_DECODER = [key for key in FAMILY_KEYS if by_key(key).tiny_decoder is not None]
# Each family as it is, and those with a tiny decoder once more with theirs ("KEY+tiny").
PREVIEWED = [*FAMILY_KEYS, *(f"{key}+tiny" for key in WITH_TINY_DECODER)]


@pytest.fixture(scope="module")
def engine(family_models: FamilyModels, one_torch_thread: None) -> Iterator[LocalProvider]:
    tiny = {
        f"{key}+tiny": {
            "source": str(family_models.folder(key)),
            "tiny_decoder": str(family_models.tiny_decoder(key)),
            "decoder": "tiny",
        }
        for key in WITH_TINY_DECODER
    }
    options = family_models.options(FAMILY_KEYS, models=tiny, preview_every=1)
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    yield provider
    asyncio.run(provider.close())


async def draw(
    provider: LocalProvider, name: str, reports: list[Progress] | None = None, **options: object
) -> GenerationResult:
    request = provider.prepare(GenerationRequest("a red boat", model=name, seed=7, **options))  # type: ignore[arg-type]
    progress = reports.append if reports is not None else lambda _: None
    return await provider.generate(request, progress, CancelToken())


def preview_side(provider: LocalProvider, name: str, side: int) -> int:
    """Decoded previews are the image's size; a latent-to-RGB map gives one pixel a latent."""
    model = provider.cache.get(name)
    if model.tiny_decoder is not None or model.family.rgb_factors is None:
        return side
    return side // model.text2img.vae_scale_factor


@pytest.mark.parametrize("name", PREVIEWED)
async def test_each_step_but_the_last_sends_a_preview_through_the_profile(
    engine: LocalProvider, name: str
):
    reports: list[Progress] = []
    await draw(engine, name, reports, steps=3)
    assert [(p.step, p.total) for p in reports] == [(1, 3), (2, 3), (3, 3)]
    assert reports[-1].preview is None  # the image itself follows
    shown = [p.preview for p in reports[:-1]]
    side = preview_side(engine, name, 64)
    for preview in shown:
        assert preview is not None and preview.mode == "RGB"
        assert preview.size == (side, side)
    first, second = (np.asarray(p, dtype=np.int16) for p in shown)  # type: ignore[arg-type]
    assert not np.array_equal(first, second)  # the latents moved between the steps


@pytest.mark.parametrize("name", ["sana", "flux1+tiny"])
async def test_a_preview_is_at_most_256_pixels_a_side(engine: LocalProvider, name: str):
    reports: list[Progress] = []
    await draw(engine, name, reports, steps=2, width=512, height=384)
    preview = reports[0].preview
    assert preview is not None and preview.size == (256, 192)


@pytest.mark.parametrize("key", WITH_TINY_DECODER)
async def test_the_tiny_decoder_draws_the_final_image_when_told(engine: LocalProvider, key: str):
    full = await draw(engine, key, count=2)
    tiny = await draw(engine, f"{key}+tiny", count=2)
    for image in tiny.images:
        assert image.image.size == (64, 64) and image.image.mode == "RGB"
        assert np.asarray(image.image, dtype=np.int16).std() > 1  # a picture, not a flat colour
    pictures = [np.asarray(image.image, dtype=np.int16) for image in tiny.images]
    assert not np.array_equal(*pictures)  # each image decoded from its own latents
    assert not np.array_equal(pictures[0], np.asarray(full.images[0].image, dtype=np.int16))


async def test_a_tiny_decoder_on_a_family_without_one_stops_start_up(
    family_models: FamilyModels,
):
    options = family_models.options(
        ["sana"], models={"sana": {"tiny_decoder": str(family_models.tiny_decoder("flux1"))}}
    )
    provider = build_provider("local", ProviderConfig("local", options))
    with pytest.raises(ModelLoadError, match="Sana has no TAESD-style decoder"):
        await provider.start()
    await provider.close()


@pytest.mark.parametrize("key", [key for key in FAMILY_KEYS if by_key(key).decode is not None])
def test_a_familys_own_decode_of_the_last_step_is_the_pipelines_image(
    engine: LocalProvider, key: str
):
    """The profile's unpack and decode follow the pipeline's own path from latents to pixels
    (FLUX.2's ids, batch-norm statistics and patches; Sana's scaling; Sprint's TrigFlow)."""
    family, pipe = by_key(key), engine.cache.get(key).text2img
    last: list[torch.Tensor] = []

    def keep(pipe: object, index: int, timestep: object, tensors: dict) -> dict:
        last[:] = [tensors["latents"].clone()]
        return tensors

    image = pipe(
        prompt="a red boat",
        width=64,
        height=64,
        num_inference_steps=2,
        generator=torch.Generator().manual_seed(7),
        output_type="np",
        callback_on_step_end=keep,
        callback_on_step_end_tensor_inputs=["latents"],
        **family.arguments(2),
    ).images
    with torch.no_grad():
        pixels = family.decode(pipe, family.unpack(pipe, last[0], 64, 64))
    ours = pipe.image_processor.postprocess(pixels, output_type="np")
    assert np.abs(ours - image).max() < 1e-5


@pytest.mark.parametrize("key", [key for key in FAMILY_KEYS if by_key(key).decode is None])
def test_unpack_lays_the_step_latents_out_as_the_rgb_map_and_tiny_decoder_take_them(
    engine: LocalProvider, key: str
):
    family, pipe = by_key(key), engine.cache.get(key).text2img
    shapes: list[tuple[int, ...]] = []

    def keep(pipe: object, index: int, timestep: object, tensors: dict) -> dict:
        shapes.append(tuple(family.unpack(pipe, tensors["latents"], 64, 64).shape))
        return tensors

    extra = dict(family.size_arguments(64, 64))
    if family.masked_whole:  # an inpainting model draws as an inpaint of a blank canvas
        extra.update(
            image=Image.new("RGB", (64, 64)),
            mask_image=Image.new("L", (64, 64), 255),
            strength=1.0,  # as the engine gives it (SDXL's inpaint defaults to 0.9999)
        )
    pipe(
        prompt="a red boat",
        width=64,
        height=64,
        num_inference_steps=2,
        output_type="latent",
        callback_on_step_end=keep,
        callback_on_step_end_tensor_inputs=["latents"],
        **extra,
    )
    side = 64 // pipe.vae_scale_factor
    assert shapes == [(1, family.latent_channels, side, side)] * 2
    assert family.rgb_factors is not None and len(family.rgb_factors) == family.latent_channels
