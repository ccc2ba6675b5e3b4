"""The tiny Stable Diffusion 3 pipeline loads offline and generates, seeded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.engine.local.families import checks
from tests.engine.local.families.sd3 import SCALING_FACTOR, SHIFT_FACTOR


@pytest.fixture(scope="module")
def sd3(sd3_folder: Path) -> Any:
    return checks.load("StableDiffusion3Pipeline", sd3_folder)


def test_sd3_loads_offline_with_a_16_channel_x8_vae(sd3: Any):
    assert sd3.vae.config.latent_channels == 16 and sd3.vae_scale_factor == 8
    assert (sd3.vae.config.scaling_factor, sd3.vae.config.shift_factor) == (
        SCALING_FACTOR,
        SHIFT_FACTOR,
    )
    assert type(sd3.scheduler).__name__ == "FlowMatchEulerDiscreteScheduler"
    assert [type(sd3.text_encoder).__name__, type(sd3.text_encoder_2).__name__] == [
        "CLIPTextModelWithProjection"
    ] * 2
    assert type(sd3.tokenizer_3).__name__ == "T5Tokenizer"


def test_sd3_txt2img_is_seeded(sd3: Any):
    checks.check_txt2img(sd3)


def test_sd3_batch_image_k_matches_its_seed_alone(sd3: Any):
    checks.check_batch_matches_solo_runs(sd3)


def test_sd3_step_latents_are_not_packed(sd3: Any):
    assert checks.step_latent_shapes(sd3) == [(1, 16, 8, 8)] * 2
    latents = torch.as_tensor(checks.run(sd3, output_type="latent"))
    assert latents.shape == (1, 16, 8, 8)
    with torch.no_grad():
        decoded = sd3.vae.decode(latents / SCALING_FACTOR + SHIFT_FACTOR).sample
    image = sd3.image_processor.postprocess(decoded, output_type="np")
    assert np.abs(image - checks.run(sd3)).max() < 1e-5


def test_sd3_size_must_be_a_multiple_of_16(sd3: Any):
    assert checks.run(sd3, height=48, width=80).shape == (1, 48, 80, 3)
    with pytest.raises(ValueError, match="divisible by 16"):
        checks.run(sd3, height=72, width=64)


def test_sd3_guidance_scale_is_real_cfg_with_the_negative_prompt(sd3: Any):
    assert np.array_equal(
        checks.run(sd3, guidance_scale=1.0, negative_prompt="blurry"),
        checks.run(sd3, guidance_scale=1.0),
    )
    with_negative = checks.run(sd3, guidance_scale=5.0, negative_prompt="blurry")
    assert not np.array_equal(with_negative, checks.run(sd3, guidance_scale=5.0))


def test_sd3_img2img(sd3: Any):
    checks.check_img2img(sd3, "StableDiffusion3Img2ImgPipeline")


def test_sd3_lora_loads_scales_and_unloads(sd3_folder: Path, sd3_lora: Path):
    checks.check_lora_round_trip("StableDiffusion3Pipeline", sd3_folder, sd3_lora)
