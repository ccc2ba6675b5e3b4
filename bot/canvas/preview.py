"""A preview of a mask over its image, for the member to confirm before anything is charged:
the region to repaint tinted red and outlined."""

from __future__ import annotations

import io

from PIL import Image, ImageChops, ImageFilter

from bot.canvas.masks import BLACK, THRESHOLD, WHITE

__all__ = ["OUTLINE", "PREVIEW_SIDE", "TINT", "preview", "preview_image"]

PREVIEW_SIDE = 1024
"""The preview's longer side at most: enough to judge a region, small enough to post fast."""
TINT = (255, 40, 40)
TINT_OPACITY = 0.45
OUTLINE = (255, 230, 0)


def preview_image(
    image: Image.Image, mask: Image.Image, max_side: int = PREVIEW_SIDE
) -> Image.Image:
    """``image`` (scaled to ``max_side`` at most) with ``mask``'s white region tinted and its
    edge outlined. The mask is scaled to the image first, nearest-neighbour."""
    picture = image.convert("RGB")
    if max(picture.size) > max_side:
        ratio = max_side / max(picture.size)
        small = (max(1, round(picture.width * ratio)), max(1, round(picture.height * ratio)))
        picture = picture.resize(small, Image.Resampling.LANCZOS)
    region = mask.convert("L").point(lambda value: WHITE if value >= THRESHOLD else BLACK)
    region = region.resize(picture.size, Image.Resampling.NEAREST)
    tint = region.point(lambda value: round(value * TINT_OPACITY))
    shown = Image.composite(Image.new("RGB", picture.size, TINT), picture, tint)
    width = max(3, max(picture.size) // 256 * 2 + 1)  # odd, as MaxFilter needs
    edge = ImageChops.subtract(region.filter(ImageFilter.MaxFilter(width)), region)
    return Image.composite(Image.new("RGB", picture.size, OUTLINE), shown, edge)


def preview(image: Image.Image, mask: Image.Image, max_side: int = PREVIEW_SIDE) -> bytes:
    """``preview_image`` as PNG bytes, ready to attach."""
    buffer = io.BytesIO()
    preview_image(image, mask, max_side).save(buffer, format="PNG", compress_level=4)
    return buffer.getvalue()
