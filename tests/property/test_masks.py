"""Properties of members' masks and preset regions over many sizes and contents."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops

from bot.canvas.errors import MaskError
from bot.canvas.masks import THRESHOLD, coverage, invert, normalise
from bot.canvas.regions import GRID, REGIONS, box, cell_key, region


def _noise(width: int, height: int, seed: int) -> Image.Image:
    return Image.frombytes("L", (width, height), random.Random(seed).randbytes(width * height))


@settings(deadline=None)
@given(st.integers(1, 60), st.integers(1, 60), st.integers(1, 4), st.integers(0, 2**32))
def test_a_mask_scaled_to_its_image_keeps_its_share_and_stays_binary(
    width: int, height: int, factor: int, seed: int
) -> None:
    mask = _noise(width, height, seed)
    share = sum(mask.histogram()[THRESHOLD:]) / (width * height)
    try:
        fitted = normalise(mask, (width * factor, height * factor))
    except MaskError as err:
        assert share in (0, 1), str(err)
        return
    assert fitted.mode == "L" and fitted.size == (width * factor, height * factor)
    assert set(fitted.tobytes()) <= {0, 255}
    assert coverage(fitted) == share
    assert coverage(invert(fitted)) == pytest.approx(1 - share)


@given(st.integers(1, 200), st.integers(1, 200), st.integers(1, 200), st.integers(1, 200))
def test_masks_of_another_shape_are_refused(
    width: int, height: int, image_width: int, image_height: int
) -> None:
    mask = Image.new("L", (width, height))
    mask.paste(255, (0, 0, max(1, width // 2), height))
    apart = abs(width * image_height - image_width * height) / (image_width * height)
    try:
        normalise(mask, (image_width, image_height))
    except MaskError as err:
        assert apart > 0.01 or "white all over" in str(err) or "no white" in str(err)
    else:
        assert apart <= 0.01


@given(st.integers(GRID, 500), st.integers(GRID, 500))
def test_the_presets_split_any_image_exactly(width: int, height: int) -> None:
    size = (width, height)
    cells = [box(cell_key(row, column), size) for row in range(GRID) for column in range(GRID)]
    assert sum((r - left) * (b - top) for left, top, r, b in cells) == width * height
    assert all(left < r and top < b for left, top, r, b in cells)
    for first, second in (("left", "right"), ("top", "bottom")):
        one, other = box(first, size), box(second, size)
        area = sum((r - left) * (b - top) for left, top, r, b in (one, other))
        assert area == width * height


@settings(deadline=None)
@given(st.integers(4, 120), st.integers(4, 120), st.sampled_from(list(REGIONS)))
def test_each_preset_mask_is_exactly_its_box(width: int, height: int, key: str) -> None:
    mask = region(key, (width, height))
    left, top, right, bottom = box(key, (width, height))
    assert mask.histogram()[255] == (right - left) * (bottom - top)
    expected = Image.new("L", (width, height))
    expected.paste(255, (left, top, right, bottom))
    assert ImageChops.difference(mask, expected).getbbox() is None
