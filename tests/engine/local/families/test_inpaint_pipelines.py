"""The inpaint pipelines diffusers 0.42.1 has for the transformer families, built over each
family's tiny text-to-image modules as the engine builds them: each repaints by its mask."""

from __future__ import annotations

import inspect

import diffusers
import pytest

from tests.engine.local.families import pipeline_checks as checks
from tests.engine.local.families.edit_checks import (
    HEIGHT,
    WIDTH,
    call,
    differ,
    left_half_mask,
    picture,
)
from tests.engine.local.family_models import FamilyModels

INPAINT = {
    "flux1": ("FluxPipeline", "FluxInpaintPipeline"),
    "flux1-schnell": ("FluxPipeline", "FluxInpaintPipeline"),
    "sd3": ("StableDiffusion3Pipeline", "StableDiffusion3InpaintPipeline"),
    "qwen-image": ("QwenImagePipeline", "QwenImageInpaintPipeline"),
    "z-image": ("ZImagePipeline", "ZImageInpaintPipeline"),
}


def inpaint_over(family_models: FamilyModels, key: str, text2img: str, inpaint: str):
    pipe = checks.load(getattr(diffusers, text2img), family_models.folder(key))
    cls = getattr(diffusers, inpaint)
    takes = inspect.signature(cls.__init__).parameters
    built = cls(**{name: part for name, part in pipe.components.items() if name in takes})
    built.set_progress_bar_config(disable=True)
    return built


@pytest.mark.parametrize("key", INPAINT)
def test_inpaint_repaints_by_the_mask(family_models: FamilyModels, key: str):
    pipe = inpaint_over(family_models, key, *INPAINT[key])
    first = call(pipe, image=picture(0), mask_image=left_half_mask(), strength=1.0)
    assert first.shape == (1, HEIGHT, WIDTH, 3) and first.std() > 1
    again = call(pipe, image=picture(0), mask_image=left_half_mask(), strength=1.0)
    assert not differ(first, again)
    other = call(pipe, seed=2, image=picture(0), mask_image=left_half_mask(), strength=1.0)
    assert differ(first, other)


def test_chroma_inpaint_is_broken_in_diffusers(family_models: FamilyModels):
    """ChromaInpaintPipeline reads ``transformer.config.guidance_embeds``, which Chroma's
    transformer has not: the Chroma profile names no inpaint class until diffusers fixes it."""
    pipe = inpaint_over(family_models, "chroma", "ChromaPipeline", "ChromaInpaintPipeline")
    with pytest.raises(AttributeError, match="guidance_embeds"):
        call(pipe, image=picture(0), mask_image=left_half_mask(), strength=1.0)
