"""The tiny FLUX.1 [dev] and [schnell] pipelines load offline and generate, seeded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.engine.local.families import checks
from tests.engine.local.families.flux1 import SCALING_FACTOR, SHIFT_FACTOR


@pytest.fixture(scope="module")
def flux1(flux1_folder: Path) -> Any:
    return checks.load("FluxPipeline", flux1_folder)


def test_flux1_loads_offline_with_a_16_channel_x8_vae(flux1: Any, flux1_folder: Path):
    schnell = flux1_folder.name.endswith("schnell")
    assert flux1.transformer.config.guidance_embeds is not schnell
    assert flux1.vae.config.latent_channels == 16 and flux1.vae_scale_factor == 8
    assert (flux1.vae.config.scaling_factor, flux1.vae.config.shift_factor) == (
        SCALING_FACTOR,
        SHIFT_FACTOR,
    )
    assert type(flux1.scheduler).__name__ == "FlowMatchEulerDiscreteScheduler"
    assert flux1.scheduler.config.use_dynamic_shifting is not schnell
    assert type(flux1.tokenizer).__name__ == "CLIPTokenizer"
    assert type(flux1.tokenizer_2).__name__ == "T5Tokenizer"  # T5TokenizerFast's class
    assert flux1.tokenizer_2("a cat").input_ids[-1] == flux1.tokenizer_2.eos_token_id == 1


def test_flux1_txt2img_is_seeded(flux1: Any):
    checks.check_txt2img(flux1)


def test_flux1_batch_image_k_matches_its_seed_alone(flux1: Any):
    checks.check_batch_matches_solo_runs(flux1)


def test_flux1_step_latents_are_packed_and_unpack_to_the_vae_input(flux1: Any):
    assert checks.step_latent_shapes(flux1) == [(1, 16, 64)] * 2  # (8/2 * 8/2) tokens, 16 * 2 * 2
    packed = checks.run(flux1, output_type="latent")
    latents = torch.as_tensor(packed)
    assert latents.shape == (1, 16, 64)
    latents = flux1._unpack_latents(latents, 64, 64, flux1.vae_scale_factor)
    assert latents.shape == (1, 16, 8, 8)
    with torch.no_grad():
        decoded = flux1.vae.decode(latents / SCALING_FACTOR + SHIFT_FACTOR).sample
    image = flux1.image_processor.postprocess(decoded, output_type="np")
    assert np.abs(image - checks.run(flux1)).max() < 1e-5


def test_flux1_size_multiple_is_16(flux1: Any):
    assert checks.run(flux1, height=72, width=40).shape == (1, 64, 32, 3)


def test_flux1_guidance_scale_is_embedded_in_dev_only_and_true_cfg_takes_the_negative(
    flux1: Any,
):
    plain = checks.run(flux1, guidance_scale=3.5)
    other_guidance = checks.run(flux1, guidance_scale=1.0)
    assert np.array_equal(plain, other_guidance) is (not flux1.transformer.config.guidance_embeds)
    # negative_prompt does nothing until true_cfg_scale > 1 (two passes a step)
    assert np.array_equal(checks.run(flux1, negative_prompt="blurry"), plain)
    true_cfg = checks.run(flux1, negative_prompt="blurry", true_cfg_scale=4.0)
    assert not np.array_equal(true_cfg, plain)


def test_flux1_img2img(flux1: Any):
    checks.check_img2img(flux1, "FluxImg2ImgPipeline")


def test_flux1_lora_loads_scales_and_unloads(flux1_dev_folder: Path, flux1_lora: Path):
    checks.check_lora_round_trip("FluxPipeline", flux1_dev_folder, flux1_lora)


async def test_engine_img2img_keeps_the_asked_size_on_flux(flux1_dev_folder: Path) -> None:
    """FLUX.1's img2img pipeline makes 1024x1024 unless told the size."""
    import io

    from PIL import Image

    from engine import CancelToken, GenerationRequest, Mode
    from engine.registry import ProviderConfig, build_provider

    spec = {"source": str(flux1_dev_folder), "width": 64, "height": 64, "steps": 2}
    provider = build_provider(
        "local", ProviderConfig("local", {"device": "cpu", "models": {"flux": spec}})
    )
    source = io.BytesIO()
    Image.new("RGB", (96, 64), "red").save(source, "PNG")
    request = GenerationRequest(
        "a red barn",
        mode=Mode.IMG2IMG,
        init_image=source.getvalue(),
        width=96,
        height=64,
        strength=0.6,
        seed=3,
    )
    result = await provider.generate(provider.prepare(request), lambda _: None, CancelToken())
    await provider.close()
    assert result.images[0].image.size == (96, 64)
