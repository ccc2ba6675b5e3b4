"""Properties of the outpaint canvases (Zoom Out, Pan, Make Square): the kept image is where it
should be, the canvas is a size the model takes, the mask is white exactly on the padding and
the stated overlap."""

from __future__ import annotations

import math
import random

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st
from PIL import Image

from bot.canvas.errors import CanvasError
from bot.canvas.outpaint import (
    DIRECTIONS,
    OVERLAP,
    Canvas,
    Limits,
    make_square,
    pan,
    zoom_factor,
    zoom_out,
)

SIDES = st.integers(1, 400)
REFUSALS = ("too long and thin", "nothing to paint", "already square")


@st.composite
def limits(draw: st.DrawFn) -> Limits:
    multiple = draw(st.sampled_from([1, 2, 8, 16, 64]))
    min_side = draw(st.integers(1, 128))
    low = -(-min_side // multiple) * multiple
    max_side = draw(st.integers(max(low, 64), 1024))
    max_side = max(max_side // multiple * multiple, low)
    max_pixels = draw(st.integers(low * low, max_side * max_side))
    return Limits(max_pixels=max_pixels, min_side=min_side, max_side=max_side, multiple=multiple)


def _noise(width: int, height: int, seed: int) -> Image.Image:
    return Image.frombytes(
        "RGB", (width, height), random.Random(seed).randbytes(width * height * 3)
    )


IMAGES = st.builds(_noise, SIDES, SIDES, st.integers(0, 2**32))


def _check_canvas(image: Image.Image, canvas: Canvas, rules: Limits) -> None:
    width, height = canvas.size
    left, top, right, bottom = canvas.box
    assert rules.fits(width, height)
    assert canvas.image.mode == "RGB" and canvas.mask.mode == "L"
    assert canvas.mask.size == canvas.size
    assert 0 <= left < right <= width and 0 <= top < bottom <= height
    assert (right - left, bottom - top) != (width, height)
    if canvas.scale == 1:  # placed pixel for pixel
        assert (right - left, bottom - top) == image.size
        assert canvas.image.crop(canvas.box).tobytes() == image.tobytes()
    else:  # scaled as a whole: the same shape, to the pixel
        assert abs((right - left) - image.width * canvas.scale) <= 1
        assert abs((bottom - top) - image.height * canvas.scale) <= 1
    # White exactly on the padding, and ``overlap`` pixels into the kept image on padded sides.
    assert canvas.overlap == min(OVERLAP, (right - left) // 4, (bottom - top) // 4)
    kept = (
        left + canvas.overlap if left else 0,
        top + canvas.overlap if top else 0,
        right - canvas.overlap if right < width else width,
        bottom - canvas.overlap if bottom < height else height,
    )
    histogram = canvas.mask.histogram()
    kept_area = (kept[2] - kept[0]) * (kept[3] - kept[1])
    assert histogram[0] == kept_area
    assert histogram[255] == width * height - kept_area
    assert canvas.mask.crop(kept).getextrema() in ((0, 0), None)


def _centred(low: int, high: int, side: int) -> bool:
    return abs(low - (side - high)) <= 1


def _refused(err: CanvasError) -> None:
    assert any(reason in str(err) for reason in REFUSALS), str(err)


@settings(deadline=None)
@given(IMAGES, st.floats(1.0, 2.0), limits())
@example(Image.new("RGB", (512, 512)), 2.0, Limits(max_pixels=512 * 512))
@example(Image.new("RGB", (300, 201)), 1.0, Limits(max_pixels=1024 * 1024))
def test_zoom_out_centres_the_image_on_a_canvas_the_model_takes(
    image: Image.Image, factor: float, rules: Limits
) -> None:
    try:
        canvas = zoom_out(image, factor, rules)
    except CanvasError as err:
        _refused(err)
        return
    _check_canvas(image, canvas, rules)
    left, top, right, bottom = canvas.box
    assert _centred(left, right, canvas.size[0]) and _centred(top, bottom, canvas.size[1])
    if canvas.scale == 1:  # the canvas is at least the factor, rounded up to a multiple
        assert canvas.size[0] >= image.width * factor - 1e-3
        assert canvas.size[1] >= image.height * factor - 1e-3
    # Scaled or not, the image takes at most 1 / factor of each side.
    assert right - left <= canvas.size[0] / factor + 1
    assert bottom - top <= canvas.size[1] / factor + 1


@settings(deadline=None)
@given(IMAGES, st.sampled_from(sorted(DIRECTIONS)), st.floats(0.05, 1.0), limits())
def test_pan_widens_the_canvas_on_one_side(
    image: Image.Image, direction: str, fraction: float, rules: Limits
) -> None:
    try:
        canvas = pan(image, direction, rules, fraction)
    except CanvasError as err:
        _refused(err)
        return
    _check_canvas(image, canvas, rules)
    width, height = canvas.size
    left, top, right, bottom = canvas.box
    if direction == "l":
        assert right == width and _centred(top, bottom, height)
    if direction == "r":
        assert left == 0 and _centred(top, bottom, height)
    if direction == "u":
        assert bottom == height and _centred(left, right, width)
    if direction == "d":
        assert top == 0 and _centred(left, right, width)
    if canvas.scale == 1 and direction in "lr":
        assert width >= image.width * (1 + fraction) - 1e-3
    if canvas.scale == 1 and direction in "ud":
        assert height >= image.height * (1 + fraction) - 1e-3


@settings(deadline=None)
@given(IMAGES, limits())
def test_make_square_pads_the_short_side(image: Image.Image, rules: Limits) -> None:
    try:
        canvas = make_square(image, rules)
    except CanvasError as err:
        _refused(err)
        return
    _check_canvas(image, canvas, rules)
    width, height = canvas.size
    left, top, right, bottom = canvas.box
    assert abs(width - height) < rules.multiple or width in (rules.low, rules.high)
    assert _centred(left, right, width) and _centred(top, bottom, height)


@settings(deadline=None)
@given(
    st.integers(64, 400),
    st.integers(64, 400),
    st.one_of(
        st.floats(1.0, 2.0).map(lambda f: ("zoom", f)),
        st.sampled_from(sorted(DIRECTIONS)).map(lambda d: ("pan", d)),
    ),
)
def test_usual_images_are_never_refused_on_usual_limits(
    width: int, height: int, operation: tuple[str, object]
) -> None:
    rules = Limits(max_pixels=1024 * 1024, min_side=64, max_side=2048, multiple=8)
    image = Image.new("RGB", (width, height), (90, 120, 200))
    kind, value = operation
    if kind == "pan":
        assert isinstance(value, str)
        _check_canvas(image, pan(image, value, rules), rules)
    elif not (float(value) == 1.0 and width % 8 == 0 and height % 8 == 0):  # type: ignore[arg-type]
        _check_canvas(image, zoom_out(image, float(value), rules), rules)  # type: ignore[arg-type]


@given(
    st.one_of(
        st.floats(allow_nan=True, allow_infinity=True).filter(lambda f: not 1.0 <= f <= 2.0),
        st.sampled_from([math.nan, math.inf, -math.inf, 0.999999, 2.000001, 0.0, -1.5]),
    )
)
def test_zoom_factors_outside_one_to_two_are_refused(factor: float) -> None:
    with pytest.raises(CanvasError, match="zoom out by 1 to 2"):
        zoom_out(Image.new("RGB", (64, 64)), factor, Limits(max_pixels=512 * 512))


@pytest.mark.parametrize(
    ("text", "factor"), [("1.5", 1.5), ("2", 2.0), (" 1.25x ", 1.25), ("1.75×", 1.75), ("1", 1.0)]
)
def test_zoom_factor_reads_a_members_text(text: str, factor: float) -> None:
    assert zoom_factor(text) == factor


@pytest.mark.parametrize("text", ["", "c", "nan", "inf", "3", "0.5", "1,5", "1e400", "2.5x"])
def test_zoom_factor_refuses_other_text(text: str) -> None:
    with pytest.raises(CanvasError):
        zoom_factor(text)


def test_zoom_out_downscales_the_image_to_stay_within_the_largest_size() -> None:
    image = _noise(1024, 768, 1)
    canvas = zoom_out(image, 2.0, Limits(max_pixels=1024 * 1024))
    assert canvas.size[0] * canvas.size[1] <= 1024 * 1024
    assert canvas.scale < 1
    left, top, right, bottom = canvas.box
    assert (right - left) / canvas.size[0] == pytest.approx(0.5, abs=0.01)
    assert (bottom - top) / canvas.size[1] == pytest.approx(0.5, abs=0.01)


def test_a_square_image_is_already_square() -> None:
    with pytest.raises(CanvasError, match="already square"):
        make_square(Image.new("RGB", (64, 64)), Limits(max_pixels=512 * 512))


def test_the_padding_starts_in_the_colours_of_the_nearest_edge() -> None:
    image = Image.new("RGB", (128, 128), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 64, 128))  # red on the left, blue on the right
    canvas = pan(image, "r", Limits(max_pixels=512 * 512))
    width, height = canvas.size
    far_right = canvas.image.getpixel((width - 1, height // 2))
    assert isinstance(far_right, tuple) and far_right[2] > 200 and far_right[0] < 50
    far_left = canvas.image.getpixel((0, height // 2))
    assert isinstance(far_left, tuple) and far_left[0] > 200


def test_pan_refuses_unknown_directions_and_fractions() -> None:
    image, rules = Image.new("RGB", (64, 64)), Limits(max_pixels=512 * 512)
    with pytest.raises(CanvasError, match="left, right, up or down"):
        pan(image, "x", rules)
    for fraction in (0.0, -0.5, 1.5, math.nan):
        with pytest.raises(CanvasError):
            pan(image, "l", rules, fraction)
