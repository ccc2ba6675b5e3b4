"""The tiny FLUX.2 [klein] edits from reference images (``Flux2KleinPipeline(image=[...])``)
and repaints by a mask (``Flux2KleinInpaintPipeline``)."""

from __future__ import annotations

import pytest
from diffusers import Flux2KleinInpaintPipeline, Flux2KleinPipeline

from tests.engine.local.families import pipeline_checks as checks
from tests.engine.local.families.edit_checks import (
    HEIGHT,
    WIDTH,
    call,
    differ,
    left_half_mask,
    picture,
)
from tests.engine.local.families.flux2_klein import build_flux2_klein


@pytest.fixture(scope="module")
def klein(tmp_path_factory: pytest.TempPathFactory) -> Flux2KleinPipeline:
    return checks.load(Flux2KleinPipeline, build_flux2_klein(tmp_path_factory.mktemp("klein")))


def test_klein_edits_from_each_reference_it_is_given(klein: Flux2KleinPipeline):
    one = call(klein, image=[picture(0)])
    assert one.shape == (1, HEIGHT, WIDTH, 3)
    assert not differ(one, call(klein, image=[picture(0)]))
    assert differ(one, call(klein))  # the reference counts
    two = call(klein, image=[picture(0), picture(1, (64, 80))])
    assert two.shape == (1, HEIGHT, WIDTH, 3) and differ(one, two)


def test_klein_refuses_a_reference_under_64_pixels(klein: Flux2KleinPipeline):
    with pytest.raises(ValueError, match="at least 64px"):
        call(klein, image=[picture(0, (48, 48))])


def test_klein_inpaint_runs_over_the_same_modules(klein: Flux2KleinPipeline):
    inpaint = Flux2KleinInpaintPipeline(**klein.components)
    inpaint.set_progress_bar_config(disable=True)
    first = call(inpaint, image=picture(0), mask_image=left_half_mask(), strength=1.0)
    assert first.shape == (1, HEIGHT, WIDTH, 3)
    assert not differ(first, call(inpaint, image=picture(0), mask_image=left_half_mask()))
    batch = call(
        inpaint,
        prompt=["a cat", "a dog"],
        image=picture(0),
        mask_image=left_half_mask(),
        generator=[checks.generator(1), checks.generator(2)],
    )
    assert batch.shape == (2, HEIGHT, WIDTH, 3)
