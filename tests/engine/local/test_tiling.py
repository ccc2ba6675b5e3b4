"""--tile on the tiny SD: circular padding on the convolutions for that run only, output
that wraps at its edges, and every layer put back after."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from engine import GenerationRequest, InvalidRequest
from engine.local import LocalProvider
from engine.local.families import by_key
from engine.local.tiling import convolutions, tiled, tiling_modules
from engine.registry import ProviderConfig, build_provider
from tests.engine.local.family_models import FAMILY_KEYS, FamilyModels
from tests.engine.local.test_local_engine import local_unstarted, pixels, request, run

__all__ = ["local_unstarted"]  # a fixture, shared


async def test_a_tiled_run_pads_circularly_and_puts_the_layers_back(local: LocalProvider):
    await run(local, request(local))  # loads the model
    pipe = local.cache.get("tiny").text2img
    layers = convolutions(tiling_modules(pipe))
    assert layers and all(layer.padding_mode == "zeros" for layer in layers)
    seen: list[str] = []

    def record(layer: nn.Module, _inputs: object) -> None:
        seen.append(layer.padding_mode)  # type: ignore[arg-type]

    hooks = [pipe.unet.conv_in.register_forward_pre_hook(record)]
    hooks.append(pipe.vae.decoder.conv_in.register_forward_pre_hook(record))
    try:
        await run(local, request(local, tile=True))
        assert seen and set(seen) == {"circular"}
        seen.clear()
        await run(local, request(local))
        assert seen and set(seen) == {"zeros"}
    finally:
        for hook in hooks:
            hook.remove()
    assert all(layer.padding_mode == "zeros" for layer in layers)


async def test_tiled_images_wrap_around(local: LocalProvider):
    """Shifting the starting noise round the edge shifts the picture the same way, exactly,
    only when the run pads circularly: the left and right edges then join."""
    await run(local, request(local))  # loads the model
    pipe = local.cache.get("tiny").text2img
    latents = torch.randn(
        (1, 4, 64 // pipe.vae_scale_factor, 64 // pipe.vae_scale_factor),
        generator=torch.Generator().manual_seed(3),
    ).to(pipe.unet.dtype)
    shift = 4  # latent columns: a multiple of the UNet's downsampling

    def draw(start: torch.Tensor) -> np.ndarray:
        return pipe("a red boat", latents=start, num_inference_steps=2, output_type="np").images[0]

    def gap(tile: bool) -> float:
        with tiled(tile, *tiling_modules(pipe)):
            plain, moved = draw(latents), draw(torch.roll(latents, shift, dims=3))
        return float(np.abs(np.roll(plain, shift * pipe.vae_scale_factor, axis=1) - moved).max())

    # bfloat16 on the CPU: equal to a few of its steps (1/128) where the run wraps, far apart
    # where it pads with zeros
    assert gap(True) < 0.06
    assert gap(False) > 0.25


async def test_a_plain_job_after_a_tiled_one_is_unchanged(local: LocalProvider):
    before = pixels(await run(local, request(local)))
    await run(local, request(local, tile=True))
    assert np.array_equal(before, pixels(await run(local, request(local))))


def test_tiled_and_plain_jobs_do_not_batch(local_unstarted: LocalProvider):
    plain = request(local_unstarted)
    assert local_unstarted.batch_key(plain) != local_unstarted.batch_key(plain.replace(tile=True))


def test_the_models_say_they_tile(local_unstarted: LocalProvider):
    assert local_unstarted.model_info("tiny").tile
    assert local_unstarted.model_info("tiny-xl").tile


def test_only_unet_families_tile():
    assert {key for key in FAMILY_KEYS if by_key(key).unet} >= {"sd", "sdxl"}
    assert not by_key("sd3").unet and not by_key("flux1").unet


def test_a_transformer_family_refuses_tiles_naming_those_that_can(
    family_models: FamilyModels, one_torch_thread: None
):
    options = family_models.options(["sd3"])
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    assert not provider.model_info("sd3").tile
    with pytest.raises(InvalidRequest, match="seamless tiles") as refused:
        provider.prepare(GenerationRequest("a wall", model="sd3", tile=True))
    assert "SDXL" in str(refused.value)
