"""The preview of a mask over its image: tinted where it repaints, untouched elsewhere."""

from __future__ import annotations

import io

from PIL import Image

from bot.canvas.preview import OUTLINE, preview, preview_image
from bot.canvas.regions import region

GREY = (100, 100, 100)


def test_the_region_is_tinted_red_and_the_rest_is_untouched() -> None:
    image = Image.new("RGB", (200, 100), GREY)
    shown = preview_image(image, region("left", image.size))
    inside = shown.getpixel((20, 50))
    assert isinstance(inside, tuple) and inside[0] > GREY[0] + 50 and inside[1] < GREY[1]
    assert shown.getpixel((180, 50)) == GREY


def test_the_region_is_outlined() -> None:
    image = Image.new("RGB", (200, 100), GREY)
    shown = preview_image(image, region("left", image.size))
    assert shown.getpixel((100, 50)) == OUTLINE  # just outside the left half


def test_a_large_image_is_previewed_smaller_with_its_mask_scaled() -> None:
    image = Image.new("RGB", (3000, 1500), GREY)
    data = preview(image, region("right", image.size), max_side=600)
    with Image.open(io.BytesIO(data)) as decoded:
        assert decoded.format == "PNG" and decoded.size == (600, 300)
        shown = decoded.convert("RGB")
    assert shown.getpixel((10, 150)) == GREY
    assert shown.getpixel((590, 150)) != GREY
