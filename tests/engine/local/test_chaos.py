"""--chaos on the tiny SD: each image at its own guidance, drawn from its seed, as that image
would be drawn alone; the same request gives the same images."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from engine import GenerationRequest
from engine.chaos import guidance_of, spread
from engine.local import LocalProvider
from engine.types import MAX_SEED
from tests.engine.local.test_local_engine import local_unstarted, pixels, request, run

__all__ = ["local_unstarted"]  # a fixture, shared


async def test_each_image_is_drawn_at_the_guidance_its_seed_gives(local: LocalProvider):
    asked = request(local, count=2, chaos=60)
    result = await run(local, asked)
    assert asked.guidance == 5.0 and [image.seed for image in result.images] == [7, 8]
    guidances = result.info["guidance"]
    assert guidances == [guidance_of(5.0, 60, 7), guidance_of(5.0, 60, 8)]
    assert guidances[0] != guidances[1] and all(2.0 <= g <= 8.0 for g in guidances)
    for index, (seed, guidance) in enumerate(zip((7, 8), guidances, strict=True)):
        alone = await run(local, asked.replace(count=1, seed=seed, guidance=guidance, chaos=0))
        assert np.array_equal(pixels(result, index), pixels(alone))
    again = await run(local, asked)
    assert np.array_equal(pixels(result, 1), pixels(again, 1))


def test_chaos_jobs_never_batch(local_unstarted: LocalProvider):
    assert local_unstarted.batch_key(request(local_unstarted, chaos=10)) == ""


@given(st.floats(0, 30), st.integers(0, 100), st.integers(0, MAX_SEED), st.integers(1, 4))
def test_the_spread_stays_within_chaos_percent_and_the_range(
    guidance: float, chaos: int, seed: int, count: int
):
    asked = GenerationRequest("x", guidance=guidance, chaos=chaos, seed=seed, count=count)
    parts = spread(asked)
    if not chaos:
        assert parts == [asked]
        return
    assert [part.seed for part in parts] == asked.seeds
    for part in parts:
        assert part.count == 1 and part.chaos == 0 and part.guidance is not None
        assert 0 <= part.guidance <= 30
        assert abs(part.guidance - guidance) <= guidance * chaos / 100 + 1e-3


def test_without_guidance_only_the_seeds_spread():
    asked = GenerationRequest("x", chaos=50, seed=1, count=3)
    assert spread(asked) == [asked]
