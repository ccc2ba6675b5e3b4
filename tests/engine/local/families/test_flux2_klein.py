"""The tiny FLUX.2 [klein] pipeline, loaded offline through ``Flux2KleinPipeline``."""

from __future__ import annotations

from pathlib import Path

import diffusers
import numpy as np
import pytest
from diffusers import Flux2KleinPipeline

from tests.engine.local.families import pipeline_checks as checks
from tests.engine.local.families.flux2_klein import (
    build_flux2_klein,
    build_flux2_klein_lora,
    vae_input,
)


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_flux2_klein(tmp_path_factory.mktemp("flux2-klein"))


@pytest.fixture(scope="module")
def pipe(folder: Path) -> Flux2KleinPipeline:
    return checks.load(Flux2KleinPipeline, folder)


def test_loads_offline(pipe: Flux2KleinPipeline) -> None:
    checks.check_loaded(
        pipe,
        Flux2KleinPipeline,
        {
            "tokenizer": "Qwen2Tokenizer",
            "text_encoder": "Qwen3ForCausalLM",
            "vae": "AutoencoderKLFlux2",
            "transformer": "Flux2Transformer2DModel",
            "scheduler": "FlowMatchEulerDiscreteScheduler",
        },
    )
    assert pipe.config.is_distilled is True
    assert pipe.vae.config.latent_channels == 32 and pipe.vae_scale_factor == 8


def test_no_img2img_pipeline() -> None:
    assert not hasattr(diffusers, "Flux2KleinImg2ImgPipeline")


def test_txt2img(pipe: Flux2KleinPipeline) -> None:
    checks.check_txt2img(pipe, (1, 16, 128), vae_input)


def test_same_seed_same_pixels(pipe: Flux2KleinPipeline) -> None:
    checks.check_same_seed(pipe)


def test_batch_matches_solo(pipe: Flux2KleinPipeline) -> None:
    checks.check_batch_matches_solo(pipe)


def test_distilled_ignores_guidance(pipe: Flux2KleinPipeline) -> None:
    one = checks.generate(pipe, checks.PROMPTS[0], 1, guidance_scale=1.0)
    assert np.array_equal(one, checks.generate(pipe, checks.PROMPTS[0], 1, guidance_scale=4.0))


def test_base_variant_does_cfg(tmp_path: Path) -> None:
    base = checks.load(Flux2KleinPipeline, build_flux2_klein(tmp_path / "base", distilled=False))
    assert base.config.is_distilled is False
    one = checks.generate(base, checks.PROMPTS[0], 1, guidance_scale=1.0)
    assert not np.array_equal(one, checks.generate(base, checks.PROMPTS[0], 1, guidance_scale=4.0))


def test_lora_round_trip(folder: Path, tmp_path: Path) -> None:
    lora = build_flux2_klein_lora(folder, tmp_path / "lora")
    checks.check_lora_round_trip(Flux2KleinPipeline, folder, lora)
