"""The tiny Chroma pipeline loads offline and generates, seeded."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.engine.local.families import checks


@pytest.fixture(scope="module")
def chroma(chroma_folder: Path) -> Any:
    return checks.load("ChromaPipeline", chroma_folder)


def test_chroma_loads_offline_with_a_16_channel_x8_vae(chroma: Any):
    assert chroma.vae.config.latent_channels == 16 and chroma.vae_scale_factor == 8
    assert type(chroma.scheduler).__name__ == "FlowMatchEulerDiscreteScheduler"
    assert type(chroma.tokenizer).__name__ == "T5Tokenizer"
    assert chroma.tokenizer.model_max_length == 512


def test_chroma_txt2img_is_seeded(chroma: Any):
    checks.check_txt2img(chroma)


def test_chroma_batch_image_k_matches_its_seed_alone(chroma: Any):
    checks.check_batch_matches_solo_runs(chroma)


def test_chroma_step_latents_are_packed_and_unpack_to_the_vae_input(chroma: Any):
    assert checks.step_latent_shapes(chroma) == [(1, 16, 64)] * 2
    latents = torch.as_tensor(checks.run(chroma, output_type="latent"))
    latents = chroma._unpack_latents(latents, 64, 64, chroma.vae_scale_factor)
    assert latents.shape == (1, 16, 8, 8)
    config = chroma.vae.config
    with torch.no_grad():
        decoded = chroma.vae.decode(latents / config.scaling_factor + config.shift_factor).sample
    image = chroma.image_processor.postprocess(decoded, output_type="np")
    assert np.abs(image - checks.run(chroma)).max() < 1e-5


def test_chroma_size_multiple_is_16(chroma: Any):
    assert checks.run(chroma, height=72, width=40).shape == (1, 64, 32, 3)


def test_chroma_guidance_scale_is_real_cfg_with_the_negative_prompt(chroma: Any):
    assert np.array_equal(
        checks.run(chroma, guidance_scale=1.0, negative_prompt="blurry"),
        checks.run(chroma, guidance_scale=1.0),
    )
    with_negative = checks.run(chroma, guidance_scale=5.0, negative_prompt="blurry")
    assert not np.array_equal(with_negative, checks.run(chroma, guidance_scale=5.0))


def test_chroma_img2img(chroma: Any):
    checks.check_img2img(chroma, "ChromaImg2ImgPipeline")


def test_chroma_lora_loads_scales_and_unloads(chroma_folder: Path, chroma_lora: Path):
    checks.check_lora_round_trip("ChromaPipeline", chroma_folder, chroma_lora)
