"""The geometry of Zoom Out, Pan and Make Square: a padded canvas with the image placed in it,
the mask of the padding, at a size the model takes.

The padding starts as the image's edges stretched outwards and blurred. Models that see the
padding (ordinary checkpoints through an inpaint pipeline, img2img fallbacks, A1111's
"original" fill, any strength below 1) then continue the image's colours and light instead of
a grey or black band that shows as a seam; dedicated inpainting models (SD inpainting,
FLUX.1 Fill) blank the masked area themselves, so the fill costs them nothing."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter

from bot.canvas.errors import CanvasError
from bot.canvas.masks import BLACK, WHITE

__all__ = [
    "DIRECTIONS",
    "MAX_ZOOM",
    "MIN_ZOOM",
    "OVERLAP",
    "PAN_FRACTION",
    "Canvas",
    "Limits",
    "make_square",
    "pan",
    "zoom_factor",
    "zoom_out",
]

MIN_ZOOM, MAX_ZOOM = 1.0, 2.0
PAN_FRACTION = 0.5
OVERLAP = 8
"""How far (output pixels) the mask reaches from the padding into the kept image: one latent
cell of an 8× VAE, so the seam lies inside what the model repaints and it blends the two
instead of meeting a hard edge. Never more than a quarter of the kept image's shorter side."""

DIRECTIONS = {"l": (1.0, 0.5), "r": (0.0, 0.5), "u": (0.5, 1.0), "d": (0.5, 0.0)}
"""Pan directions (as in the button's option) and where the kept image sits on the widened
canvas, as a fraction across and down: panning left adds canvas on the left, so the image
sits at the right."""


@dataclass(frozen=True, slots=True)
class Limits:
    """A model's size rules: each side a multiple of ``multiple`` from ``min_side`` to
    ``max_side``, and ``max_pixels`` in all."""

    max_pixels: int
    min_side: int = 64
    max_side: int = 2048
    multiple: int = 8

    def __post_init__(self) -> None:
        if self.multiple < 1 or self.min_side < 1:
            raise ValueError("the size multiple and the smallest side are at least 1")
        if not self.low <= self.high or self.low * self.low > self.max_pixels:
            raise ValueError(f"no size fits {self}")

    @property
    def low(self) -> int:
        """The smallest side allowed, a multiple."""
        return -(-self.min_side // self.multiple) * self.multiple

    @property
    def high(self) -> int:
        """The largest side allowed, a multiple."""
        return self.max_side // self.multiple * self.multiple

    def fits(self, width: int, height: int) -> bool:
        return (
            width * height <= self.max_pixels
            and all(self.low <= side <= self.high for side in (width, height))
            and not (width % self.multiple or height % self.multiple)
        )


@dataclass(frozen=True, slots=True)
class Canvas:
    """The image to outpaint and its mask (mode L, white over the padding and ``overlap``
    pixels into the kept image along each padded side). ``box`` is where the kept image lies
    (left, top, right, bottom; right and bottom exclusive); ``scale`` is its size over the
    original's, 1.0 when placed pixel for pixel."""

    image: Image.Image
    mask: Image.Image
    box: tuple[int, int, int, int]
    scale: float
    overlap: int

    @property
    def size(self) -> tuple[int, int]:
        return self.image.size


def zoom_factor(value: str | float) -> float:
    """A Zoom Out factor from a button's option or a member's text ("1.5", "2x")."""
    try:
        factor = float(str(value).strip().lower().removesuffix("×").removesuffix("x"))
    except ValueError:
        factor = math.nan
    if not MIN_ZOOM <= factor <= MAX_ZOOM:  # NaN fails this too
        raise CanvasError(f"zoom out by {MIN_ZOOM:g} to {MAX_ZOOM:g} times, for example 1.5")
    return factor


def zoom_out(image: Image.Image, factor: float, limits: Limits) -> Canvas:
    """The image centred on a canvas ``factor`` times its size on each side, as near as the
    model's sizes allow; over the model's largest size, the image is scaled down with it."""
    factor = zoom_factor(factor)
    width, height = image.size
    return _outpaint(image, (width * factor, height * factor), (0.5, 0.5), limits)


def pan(
    image: Image.Image, direction: str, limits: Limits, fraction: float = PAN_FRACTION
) -> Canvas:
    """The canvas extended by ``fraction`` of the image's side in ``direction`` (l, r, u, d)."""
    if direction not in DIRECTIONS:
        raise CanvasError("pan left, right, up or down")
    if not 0 < fraction <= 1:
        raise CanvasError("pan by more than nothing and at most the image's own size")
    width, height = image.size
    grown = (
        (width * (1 + fraction), float(height))
        if direction in "lr"
        else (float(width), height * (1 + fraction))
    )
    return _outpaint(image, grown, DIRECTIONS[direction], limits)


def make_square(image: Image.Image, limits: Limits) -> Canvas:
    """The image centred on a square canvas as wide as its longer side."""
    width, height = image.size
    if width == height:
        raise CanvasError("the image is already square")
    side = float(max(width, height))
    return _outpaint(image, (side, side), (0.5, 0.5), limits)


def _outpaint(
    image: Image.Image,
    grown: tuple[float, float],
    anchor: tuple[float, float],
    limits: Limits,
) -> Canvas:
    size, box, scale = _layout(image.size, grown, anchor, limits)
    kept = image.convert("RGB")
    if kept.size != (box[2] - box[0], box[3] - box[1]):
        kept = kept.resize((box[2] - box[0], box[3] - box[1]), Image.Resampling.LANCZOS)
    canvas = _stretched(kept, size, box)
    mask, overlap = _mask(size, box)
    return Canvas(canvas, mask, box, scale, overlap)


def _layout(
    size: tuple[int, int],
    grown: tuple[float, float],
    anchor: tuple[float, float],
    limits: Limits,
) -> tuple[tuple[int, int], tuple[int, int, int, int], float]:
    """The canvas size, where the kept image lies on it, and the kept image's scale."""
    width, height = size
    grown_width, grown_height = grown
    scale = min(
        1.0,
        math.sqrt(limits.max_pixels / (grown_width * grown_height)),
        limits.high / grown_width,
        limits.high / grown_height,
    )
    if min(grown_width, grown_height) * scale < limits.low:  # too small: scale up
        scale = limits.low / min(grown_width, grown_height)
    canvas = (
        _side(grown_width * scale, limits, math.ceil),
        _side(grown_height * scale, limits, math.ceil),
    )
    if not limits.fits(*canvas):
        canvas = (
            _side(grown_width * scale, limits, math.floor),
            _side(grown_height * scale, limits, math.floor),
        )
    if not limits.fits(*canvas):
        raise CanvasError(
            f"a {width}×{height} image is too long and thin for this model's sizes; "
            "crop it or pick another model"
        )
    canvas_width, canvas_height = canvas
    # Rounded up, the canvas holds the image at ``scale``; rounded down, the image shrinks
    # with it, so the padding keeps its share of the canvas.
    scale = min(scale, canvas_width / grown_width, canvas_height / grown_height)
    kept_width = width if scale == 1 else max(1, min(canvas_width, round(width * scale)))
    kept_height = height if scale == 1 else max(1, min(canvas_height, round(height * scale)))
    left = round(anchor[0] * (canvas_width - kept_width))
    top = round(anchor[1] * (canvas_height - kept_height))
    if (kept_width, kept_height) == canvas:
        raise CanvasError("at this size there is nothing to paint past the edges; zoom out further")
    return canvas, (left, top, left + kept_width, top + kept_height), scale


def _side(length: float, limits: Limits, rounding: Callable[[float], int]) -> int:
    # A hair over a whole multiple is that multiple: float error, not a request for more.
    steps = rounding(round(length / limits.multiple, 6))
    return min(limits.high, max(limits.low, steps * limits.multiple))


def _stretched(
    kept: Image.Image, size: tuple[int, int], box: tuple[int, int, int, int]
) -> Image.Image:
    """``kept`` at ``box`` on a canvas of ``size`` whose padding is its edge pixels stretched
    outwards, blurred so the stretch leaves colour fields rather than streaks."""
    width, height = size
    left, top, right, bottom = box
    kept_width, kept_height = kept.size
    band = Image.new("RGB", (width, kept_height))
    band.paste(kept, (left, 0))
    if left:
        band.paste(kept.crop((0, 0, 1, kept_height)).resize((left, kept_height)), (0, 0))
    if right < width:
        edge = kept.crop((kept_width - 1, 0, kept_width, kept_height))
        band.paste(edge.resize((width - right, kept_height)), (right, 0))
    canvas = Image.new("RGB", size)
    canvas.paste(band, (0, top))
    if top:
        canvas.paste(band.crop((0, 0, width, 1)).resize((width, top)), (0, 0))
    if bottom < height:
        edge = band.crop((0, kept_height - 1, width, kept_height))
        canvas.paste(edge.resize((width, height - bottom)), (0, bottom))
    canvas = canvas.filter(ImageFilter.GaussianBlur(max(width, height) / 32))
    canvas.paste(kept, (left, top))
    return canvas


def _mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> tuple[Image.Image, int]:
    width, height = size
    left, top, right, bottom = box
    overlap = min(OVERLAP, (right - left) // 4, (bottom - top) // 4)
    kept = (
        left + overlap if left else 0,
        top + overlap if top else 0,
        right - overlap if right < width else width,
        bottom - overlap if bottom < height else height,
    )
    mask = Image.new("L", size, WHITE)
    if kept[0] < kept[2] and kept[1] < kept[3]:
        ImageDraw.Draw(mask).rectangle((kept[:2], (kept[2] - 1, kept[3] - 1)), fill=BLACK)
    return mask, overlap
