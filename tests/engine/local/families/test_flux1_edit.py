"""The tiny FLUX.1 Kontext and FLUX.1 Fill pipelines load offline and edit or repaint, seeded."""

from __future__ import annotations

from pathlib import Path

import pytest
from diffusers import FluxFillPipeline, FluxKontextPipeline

from tests.engine.local.families import pipeline_checks as checks
from tests.engine.local.families.edit_checks import (
    HEIGHT,
    WIDTH,
    call,
    differ,
    left_half_mask,
    picture,
)
from tests.engine.local.families.flux1_edit import build_fill, build_kontext

# Kontext's own sizing: the asked area, and the input image at its own size.
AT_THE_ASKED_SIZE = {"max_area": WIDTH * HEIGHT, "_auto_resize": False}


@pytest.fixture(scope="module")
def kontext(tmp_path_factory: pytest.TempPathFactory) -> FluxKontextPipeline:
    folder = build_kontext(tmp_path_factory.mktemp("kontext"))
    return checks.load(FluxKontextPipeline, folder)


@pytest.fixture(scope="module")
def fill(tmp_path_factory: pytest.TempPathFactory) -> FluxFillPipeline:
    return checks.load(FluxFillPipeline, build_fill(tmp_path_factory.mktemp("fill")))


def test_kontext_loads_offline_with_flux1_dev_parts(kontext: FluxKontextPipeline, tmp_path: Path):
    checks.check_loaded(
        kontext,
        FluxKontextPipeline,
        {
            "text_encoder": "CLIPTextModel",
            "text_encoder_2": "T5EncoderModel",
            "transformer": "FluxTransformer2DModel",
            "vae": "AutoencoderKL",
        },
    )
    assert kontext.transformer.config.in_channels == 64
    assert kontext.transformer.config.guidance_embeds is True


def test_kontext_edit_follows_the_input_image_and_the_seed(kontext: FluxKontextPipeline):
    first = call(kontext, image=picture(0), **AT_THE_ASKED_SIZE)
    assert first.shape == (1, HEIGHT, WIDTH, 3)
    assert not differ(first, call(kontext, image=picture(0), **AT_THE_ASKED_SIZE))
    assert differ(first, call(kontext, image=picture(1), **AT_THE_ASKED_SIZE))
    assert differ(first, call(kontext, seed=2, image=picture(0), **AT_THE_ASKED_SIZE))


def test_kontext_draws_max_area_whatever_size_is_asked(kontext: FluxKontextPipeline):
    """Without max_area it draws about a megapixel at the asked aspect ratio."""
    image = call(kontext, image=picture(0), max_area=2 * WIDTH * HEIGHT, _auto_resize=False)
    assert image.shape == (1, 80, 128, 3)  # sqrt(2) times each side, floored to 16


def test_kontext_draws_from_the_prompt_alone(kontext: FluxKontextPipeline):
    assert call(kontext, **AT_THE_ASKED_SIZE).shape == (1, HEIGHT, WIDTH, 3)


def test_fill_takes_384_channels_and_gives_64(fill: FluxFillPipeline):
    config = fill.transformer.config
    assert (config.in_channels, config.out_channels) == (384, 64)


def test_fill_repaints_by_the_mask(fill: FluxFillPipeline):
    first = call(fill, image=picture(0), mask_image=left_half_mask(), guidance_scale=30.0)
    assert first.shape == (1, HEIGHT, WIDTH, 3)
    again = call(fill, image=picture(0), mask_image=left_half_mask(), guidance_scale=30.0)
    assert not differ(first, again)
    whole = call(fill, image=picture(0), mask_image=left_half_mask().point(lambda _: 255))
    assert differ(first, whole)
