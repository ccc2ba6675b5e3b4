"""Preset regions for Vary (Region) as masks: halves, the centre and the cells of a 3×3 grid,
under short stable keys that fit in a button's custom id."""

from __future__ import annotations

from PIL import Image, ImageDraw

from bot.canvas.errors import CanvasError
from bot.canvas.masks import BLACK, WHITE, check
from bot.i18n import N_

__all__ = ["GRID", "REGIONS", "box", "cell_key", "region"]

GRID = 3


def cell_key(row: int, column: int) -> str:
    """The key of one cell of the grid, counted from the top left: "c00" to "c22"."""
    if not (0 <= row < GRID and 0 <= column < GRID):
        raise CanvasError(f"the grid has {GRID} rows and {GRID} columns, counted from 0")
    return f"c{row}{column}"


# Labels are messages (N_): the region menu shows them in the member's language.
_CELLS = {
    (0, 0): N_("Top left cell"),
    (0, 1): N_("Top middle cell"),
    (0, 2): N_("Top right cell"),
    (1, 0): N_("Middle left cell"),
    (1, 1): N_("Middle cell"),
    (1, 2): N_("Middle right cell"),
    (2, 0): N_("Bottom left cell"),
    (2, 1): N_("Bottom middle cell"),
    (2, 2): N_("Bottom right cell"),
}

REGIONS: dict[str, str] = {
    "left": N_("Left half"),
    "right": N_("Right half"),
    "top": N_("Top half"),
    "bottom": N_("Bottom half"),
    "centre": N_("Centre"),
    **{cell_key(r, c): _CELLS[r, c] for r in range(GRID) for c in range(GRID)},
}
"""Each preset's key (stable: stored in custom ids) and its label on a button."""


def box(key: str, size: tuple[int, int]) -> tuple[int, int, int, int]:
    """The region ``key`` of an image of ``size`` as (left, top, right, bottom), right and
    bottom exclusive. The centre is the middle half of each side; grid lines fall on the
    nearest whole pixel, so the nine cells tile the image exactly."""
    width, height = size
    if width < 2 or height < 2:
        raise CanvasError(f"the image is {width}×{height} pixels, too small to split")
    halves = {
        "left": (0, 0, width // 2, height),
        "right": (width // 2, 0, width, height),
        "top": (0, 0, width, height // 2),
        "bottom": (0, height // 2, width, height),
        "centre": (
            round(width / 4),
            round(height / 4),
            round(width * 3 / 4),
            round(height * 3 / 4),
        ),
    }
    if key in halves:
        return halves[key]
    if key not in REGIONS:
        raise CanvasError(f"there is no preset region {key[:20]!r}; pick one of the buttons")
    row, column = int(key[1]), int(key[2])
    if width < GRID or height < GRID:
        raise CanvasError(
            f"the image is {width}×{height} pixels, too small for a {GRID}×{GRID} grid"
        )
    return (
        round(width * column / GRID),
        round(height * row / GRID),
        round(width * (column + 1) / GRID),
        round(height * (row + 1) / GRID),
    )


def region(key: str, size: tuple[int, int], grow: int = 0) -> Image.Image:
    """The mask (mode L, white = repaint) of the preset region ``key`` on an image of
    ``size``. ``grow`` widens it by that many pixels on every side (within the image), so an
    inpainting model repaints a little past the region's edge and blends the seam instead of
    matching it pixel-exactly. Refused (``MaskError``) if it would cover the whole image."""
    if grow < 0:
        raise CanvasError("a region can grow, not shrink")
    left, top, right, bottom = box(key, size)
    width, height = size
    mask = Image.new("L", size, BLACK)
    edges = (max(0, left - grow), max(0, top - grow))
    far = (min(width, right + grow) - 1, min(height, bottom + grow) - 1)
    ImageDraw.Draw(mask).rectangle((edges, far), fill=WHITE)
    check(mask)
    return mask
