"""The tiny Z-Image pipeline, loaded offline through ``ZImagePipeline.from_pretrained``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from diffusers import ZImageImg2ImgPipeline, ZImagePipeline

from tests.engine.local.families import pipeline_checks as checks
from tests.engine.local.families.z_image import build_z_image, build_z_image_lora, vae_input


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_z_image(tmp_path_factory.mktemp("z-image"))


@pytest.fixture(scope="module")
def pipe(folder: Path) -> ZImagePipeline:
    return checks.load(ZImagePipeline, folder)


def test_loads_offline(pipe: ZImagePipeline) -> None:
    checks.check_loaded(
        pipe,
        ZImagePipeline,
        {
            "tokenizer": "Qwen2Tokenizer",
            "text_encoder": "Qwen3Model",
            "vae": "AutoencoderKL",
            "transformer": "ZImageTransformer2DModel",
            "scheduler": "FlowMatchEulerDiscreteScheduler",
        },
    )
    assert pipe.vae.config.latent_channels == 16 and pipe.vae_scale_factor == 8


def test_txt2img(pipe: ZImagePipeline) -> None:
    checks.check_txt2img(pipe, (1, 16, 8, 8), vae_input)


def test_same_seed_same_pixels(pipe: ZImagePipeline) -> None:
    checks.check_same_seed(pipe)


def test_batch_matches_solo(pipe: ZImagePipeline) -> None:
    checks.check_batch_matches_solo(pipe)


def test_guidance_above_zero_is_cfg_with_the_negative_prompt(pipe: ZImagePipeline) -> None:
    off = checks.generate(pipe, checks.PROMPTS[0], 1, guidance_scale=0.0)
    off_negative = checks.generate(
        pipe, checks.PROMPTS[0], 1, guidance_scale=0.0, negative_prompt="blurry"
    )
    low = checks.generate(pipe, checks.PROMPTS[0], 1, guidance_scale=0.5)
    low_negative = checks.generate(
        pipe, checks.PROMPTS[0], 1, guidance_scale=0.5, negative_prompt="blurry"
    )
    assert np.array_equal(off, off_negative)
    assert not np.array_equal(low, off)
    assert not np.array_equal(low, low_negative)


def test_img2img(pipe: ZImagePipeline) -> None:
    checks.check_img2img(ZImageImg2ImgPipeline, pipe, guidance_scale=0.0)


def test_lora_round_trip(folder: Path, tmp_path: Path) -> None:
    lora = build_z_image_lora(folder, tmp_path / "lora")
    checks.check_lora_round_trip(ZImagePipeline, folder, lora)
