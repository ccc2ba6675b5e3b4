"""Preset regions: halves, centre and grid cells as masks under short stable keys."""

from __future__ import annotations

import re

import pytest
from PIL import Image, ImageChops

from bot.canvas.errors import CanvasError, MaskError
from bot.canvas.masks import coverage
from bot.canvas.regions import REGIONS, box, cell_key, region

SIZE = (101, 67)  # odd sides: the grid lines fall between pixels


def test_keys_are_stable_and_fit_a_custom_id() -> None:
    assert list(REGIONS)[:5] == ["left", "right", "top", "bottom", "centre"]
    assert [key for key in REGIONS if key.startswith("c0")] == ["c00", "c01", "c02"]
    assert all(re.fullmatch(r"[a-z0-9]{1,6}", key) for key in REGIONS)
    assert len(set(REGIONS.values())) == len(REGIONS)


@pytest.mark.parametrize("key", list(REGIONS))
def test_each_region_is_a_binary_mask_of_the_image_size(key: str) -> None:
    mask = region(key, SIZE)
    assert mask.mode == "L" and mask.size == SIZE
    assert set(mask.tobytes()) == {0, 255}
    assert mask.getbbox() == box(key, SIZE)


@pytest.mark.parametrize(("first", "second"), [("left", "right"), ("top", "bottom")])
def test_opposite_halves_split_the_image(first: str, second: str) -> None:
    one, other = region(first, SIZE), region(second, SIZE)
    assert ImageChops.add(one, other).getextrema() == (255, 255)
    assert ImageChops.multiply(one, other).getextrema() == (0, 0)


def test_the_grid_cells_tile_the_image() -> None:
    total = Image.new("L", SIZE)
    area = 0
    for row in range(3):
        for column in range(3):
            cell = region(cell_key(row, column), SIZE)
            area += cell.histogram()[255]
            total = ImageChops.add(total, cell)
    assert total.getextrema() == (255, 255) and area == SIZE[0] * SIZE[1]


def test_cell_keys_count_rows_then_columns_from_the_top_left() -> None:
    assert box("c02", (90, 60)) == (60, 0, 90, 20)
    assert box("c20", (90, 60)) == (0, 40, 30, 60)
    with pytest.raises(CanvasError):
        cell_key(3, 0)


def test_the_centre_is_the_middle_half_of_each_side() -> None:
    assert box("centre", (100, 60)) == (25, 15, 75, 45)
    assert coverage(region("centre", (100, 60))) == pytest.approx(0.25)


def test_grow_widens_the_region_within_the_image() -> None:
    assert region("centre", (100, 60), grow=5).getbbox() == (20, 10, 80, 50)
    assert region("left", (100, 60), grow=5).getbbox() == (0, 0, 55, 60)


def test_a_region_grown_over_the_whole_image_is_refused() -> None:
    with pytest.raises(MaskError, match="whole image"):
        region("left", (100, 60), grow=100)


@pytest.mark.parametrize("key", ["", "c33", "c1", "middle", "LEFT", "c0" + "\x00", "x" * 500])
def test_unknown_keys_are_refused(key: str) -> None:
    with pytest.raises(CanvasError, match="no preset region"):
        region(key, SIZE)
