"""Properties of an edit's size: the input's shape at the model's usual pixel count, in the
sizes the model takes, whatever shape a member uploads."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from cogs.edit import fit_shape

SIDES = st.integers(1, 20_000)
MULTIPLES = st.sampled_from([8, 16, 32, 64])


@given(SIDES, SIDES, st.integers(64 * 64, 2048 * 2048), MULTIPLES, st.integers(512, 4096))
def test_an_edit_size_is_one_the_model_takes(
    width: int, height: int, area: int, multiple: int, largest: int
):
    across, down = fit_shape(width, height, area, multiple, largest)
    for side in (across, down):
        assert side % multiple == 0 and 64 <= side <= largest


@given(
    st.integers(256, 8000),
    st.floats(0.25, 4.0),
    st.integers(512 * 512, 1024 * 1024),
    MULTIPLES,
)
def test_an_edit_keeps_the_shape_and_about_the_pixel_count(
    width: int, aspect: float, area: int, multiple: int
):
    height = max(1, round(width / aspect))
    across, down = fit_shape(width, height, area, multiple, 4096)
    assert abs(across / down - width / height) <= 0.15 * (width / height)
    assert 0.6 * area <= across * down <= 1.5 * area
