"""The tiny Qwen-Image pipeline, loaded offline through ``QwenImagePipeline.from_pretrained``."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from diffusers import QwenImageImg2ImgPipeline, QwenImagePipeline

from tests.engine.local.families import pipeline_checks as checks
from tests.engine.local.families.qwen_image import (
    build_qwen_image,
    build_qwen_image_lora,
    vae_input,
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_qwen_image(tmp_path_factory.mktemp("qwen-image"))


@pytest.fixture(scope="module")
def pipe(folder: Path) -> QwenImagePipeline:
    return checks.load(QwenImagePipeline, folder)


def test_loads_offline(pipe: QwenImagePipeline) -> None:
    checks.check_loaded(
        pipe,
        QwenImagePipeline,
        {
            "tokenizer": "Qwen2Tokenizer",
            "text_encoder": "Qwen2_5_VLForConditionalGeneration",
            "vae": "AutoencoderKLQwenImage",
            "transformer": "QwenImageTransformer2DModel",
            "scheduler": "FlowMatchEulerDiscreteScheduler",
        },
    )
    assert pipe.vae.config.z_dim == 16 and pipe.vae_scale_factor == 8


def test_txt2img(pipe: QwenImagePipeline) -> None:
    checks.check_txt2img(pipe, (1, 16, 64), vae_input)


def test_same_seed_same_pixels(pipe: QwenImagePipeline) -> None:
    checks.check_same_seed(pipe)


def test_batch_matches_solo(pipe: QwenImagePipeline) -> None:
    checks.check_batch_matches_solo(pipe)


def test_true_cfg_needs_a_negative_prompt(pipe: QwenImagePipeline) -> None:
    plain = checks.generate(pipe, checks.PROMPTS[0], 1, true_cfg_scale=4.0)
    guided = checks.generate(
        pipe, checks.PROMPTS[0], 1, negative_prompt="blurry", true_cfg_scale=4.0
    )
    off = checks.generate(pipe, checks.PROMPTS[0], 1, negative_prompt="blurry", true_cfg_scale=1.0)
    ignored = checks.generate(pipe, checks.PROMPTS[0], 1, guidance_scale=7.0)
    assert not np.array_equal(guided, plain)
    assert np.array_equal(off, plain)
    assert np.array_equal(ignored, plain)


def test_img2img(pipe: QwenImagePipeline) -> None:
    checks.check_img2img(QwenImageImg2ImgPipeline, pipe)


def test_lora_round_trip(folder: Path, tmp_path: Path) -> None:
    lora = build_qwen_image_lora(folder, tmp_path / "lora")
    checks.check_lora_round_trip(QwenImagePipeline, folder, lora)
