"""The tiny Sana and Sana Sprint pipelines, loaded offline through their pipeline classes."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from diffusers import SanaPipeline, SanaSprintImg2ImgPipeline, SanaSprintPipeline

from tests.engine.local.families import pipeline_checks as checks
from tests.engine.local.families.sana import (
    build_sana,
    build_sana_lora,
    build_sana_sprint,
    build_sana_sprint_lora,
    vae_input,
)

AT_SIZE = {"use_resolution_binning": False}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sana(tmp_path_factory.mktemp("sana"))


@pytest.fixture(scope="module")
def pipe(folder: Path) -> SanaPipeline:
    return checks.load(SanaPipeline, folder)


@pytest.fixture(scope="module")
def sprint_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sana_sprint(tmp_path_factory.mktemp("sana-sprint"))


@pytest.fixture(scope="module")
def sprint(sprint_folder: Path) -> SanaSprintPipeline:
    return checks.load(SanaSprintPipeline, sprint_folder)


COMPONENTS = {
    "tokenizer": "GemmaTokenizer",
    "text_encoder": "Gemma2Model",
    "vae": "AutoencoderDC",
    "transformer": "SanaTransformer2DModel",
}


def test_loads_offline(pipe: SanaPipeline, sprint: SanaSprintPipeline) -> None:
    checks.check_loaded(
        pipe, SanaPipeline, {**COMPONENTS, "scheduler": "DPMSolverMultistepScheduler"}
    )
    checks.check_loaded(sprint, SanaSprintPipeline, {**COMPONENTS, "scheduler": "SCMScheduler"})
    for loaded in (pipe, sprint):
        assert loaded.vae.config.latent_channels == 32 and loaded.vae_scale_factor == 32


def test_txt2img(pipe: SanaPipeline, sprint: SanaSprintPipeline) -> None:
    checks.check_txt2img(pipe, (1, 32, 2, 2), vae_input, **AT_SIZE)
    checks.check_txt2img(sprint, (1, 32, 2, 2), vae_input, **AT_SIZE)


def test_resolution_binning_gives_the_asked_size(
    pipe: SanaPipeline, sprint: SanaSprintPipeline
) -> None:
    for loaded in (pipe, sprint):
        images = checks.generate(loaded, checks.PROMPTS[0], 1)
        assert images.shape == (1, checks.SIZE, checks.SIZE, 3)


def test_same_seed_same_pixels(pipe: SanaPipeline, sprint: SanaSprintPipeline) -> None:
    checks.check_same_seed(pipe, **AT_SIZE)
    checks.check_same_seed(sprint, **AT_SIZE)


def test_batch_matches_solo(pipe: SanaPipeline, sprint: SanaSprintPipeline) -> None:
    checks.check_batch_matches_solo(pipe, **AT_SIZE)
    checks.check_batch_matches_solo(sprint, **AT_SIZE)


def test_sana_guidance_is_cfg_with_the_negative_prompt(pipe: SanaPipeline) -> None:
    def run(**kwargs: object) -> np.ndarray:
        return checks.generate(pipe, checks.PROMPTS[0], 1, **AT_SIZE, **kwargs)

    off = run(guidance_scale=1.0)
    assert np.array_equal(off, run(guidance_scale=1.0, negative_prompt="blurry"))
    on = run(guidance_scale=4.5)
    assert not np.array_equal(on, off)
    assert not np.array_equal(on, run(guidance_scale=4.5, negative_prompt="blurry"))


def test_sprint_guidance_is_embedded(sprint: SanaSprintPipeline) -> None:
    low = checks.generate(sprint, checks.PROMPTS[0], 1, guidance_scale=1.0, **AT_SIZE)
    high = checks.generate(sprint, checks.PROMPTS[0], 1, guidance_scale=4.5, **AT_SIZE)
    assert not np.array_equal(low, high)


def test_sprint_img2img(sprint: SanaSprintPipeline) -> None:
    checks.check_img2img(SanaSprintImg2ImgPipeline, sprint, **AT_SIZE)


def test_lora_round_trip(folder: Path, sprint_folder: Path, tmp_path: Path) -> None:
    lora = build_sana_lora(folder, tmp_path / "lora")
    checks.check_lora_round_trip(SanaPipeline, folder, lora, **AT_SIZE)
    lora = build_sana_sprint_lora(sprint_folder, tmp_path / "sprint-lora")
    checks.check_lora_round_trip(SanaSprintPipeline, sprint_folder, lora, **AT_SIZE)
