"""Members' masks: decoded with care, made binary greyscale (white = repaint) at the image's
size, refused when empty or full, and encoded as the PNG a request carries."""

from __future__ import annotations

import io
import warnings
from typing import cast

from PIL import Image, ImageFilter

from bot.canvas.errors import MaskError

__all__ = [
    "ASPECT_TOLERANCE",
    "BLACK",
    "THRESHOLD",
    "WHITE",
    "MaskError",
    "check",
    "coverage",
    "decode",
    "encode",
    "feather",
    "invert",
    "normalise",
    "read",
]

BLACK, WHITE = 0, 255
THRESHOLD = 128
"""A grey at or above this repaints; below it keeps."""
ASPECT_TOLERANCE = 0.01
"""How far a mask's shape (width / height) may stray from its image's and still be resized to
fit it: 1%, what rounding a scaled copy of the image to whole pixels can cost."""

ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
WIDE_MODES = frozenset({"I", "I;16", "I;16L", "I;16B", "I;16N", "F"})


def decode(data: bytes, max_pixels: int) -> Image.Image:
    """Decode a member's mask file fully, refusing what is not a still image or is larger than
    ``max_pixels`` before its pixels are read. Only the pixels come out, in a new image."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                width, height = image.size
                if width * height > max_pixels:
                    raise MaskError(
                        f"the mask is {width}×{height} pixels, too large to open; "
                        "draw it at the image's size"
                    )
                if getattr(image, "n_frames", 1) > 1:
                    raise MaskError("the mask is an animation; attach a still PNG instead")
                image.load()
                return image.copy()
    except MaskError:
        raise
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise MaskError("the mask is far too large to open; draw it at the image's size") from None
    except Exception:
        raise MaskError(
            "the mask file is not an image, or it is damaged; attach a PNG drawn in black and white"
        ) from None


def read(data: bytes, size: tuple[int, int], max_pixels: int) -> Image.Image:
    """A member's mask file as a usable mask for an image of ``size``: ``decode``, then
    ``normalise``."""
    return normalise(decode(data, max_pixels), size)


def normalise(mask: Image.Image, size: tuple[int, int]) -> Image.Image:
    """``mask`` as binary greyscale (mode L, 0 or 255) of ``size``: white repaints.

    Any mode is read as its brightness; where it has transparency, transparent counts as black
    (keep), so white strokes on a transparent layer mark what to repaint. Greys split at
    ``THRESHOLD``. A mask of another size is refused unless its shape matches the image's
    within ``ASPECT_TOLERANCE``, then resized with nearest-neighbour (it stays binary). An
    empty or full mask is refused (``check``)."""
    binary = _brightness(mask).point(lambda value: WHITE if value >= THRESHOLD else BLACK)
    if binary.size != size:
        (width, height), (want_width, want_height) = binary.size, size
        if abs(width * want_height - want_width * height) > ASPECT_TOLERANCE * (
            want_width * height
        ):
            raise MaskError(
                f"the mask is {width}×{height} pixels but the image is "
                f"{want_width}×{want_height}; draw the mask at the image's size or shape"
            )
        binary = binary.resize(size, Image.Resampling.NEAREST)
    check(binary)
    return binary


def _brightness(mask: Image.Image) -> Image.Image:
    if mask.mode in WIDE_MODES:
        wide = mask.convert("F")
        _low, high = cast(tuple[float, float], wide.getextrema())  # one band: two numbers
        # 16-bit and 32-bit greys span 0..65535; floats often 0..1.
        top = 1.0 if high <= 1.0 else 255.0 if high <= 255 else 65535.0
        return wide.point(lambda value: value * (255.0 / top)).convert("L")
    if mask.mode in ALPHA_MODES or "transparency" in mask.info:
        rgba = mask.convert("RGBA")
        black = Image.new("L", rgba.size, BLACK)
        return Image.composite(rgba.convert("L"), black, rgba.getchannel("A"))
    try:
        return mask.convert("L")
    except ValueError:
        return mask.convert("RGB").convert("L")


def check(mask: Image.Image) -> None:
    """Refuse a mask that repaints nothing or everything."""
    share = coverage(mask)
    if share == 0:
        raise MaskError(
            "the mask has no white in it, so there is nothing to repaint; "
            "paint the part to change white"
        )
    if share == 1:
        raise MaskError(
            "the mask is white all over, so it would repaint the whole image; leave black "
            "what should stay"
        )


def coverage(mask: Image.Image) -> float:
    """The share of a greyscale mask's pixels that repaint (at or above ``THRESHOLD``)."""
    histogram = mask.convert("L").histogram()
    return sum(histogram[THRESHOLD:]) / (mask.width * mask.height)


def invert(mask: Image.Image) -> Image.Image:
    """Repaint what was kept and keep what was repainted."""
    return mask.convert("L").point(lambda value: 255 - value)


def feather(mask: Image.Image, radius: float) -> Image.Image:
    """A soft-edged copy of a binary mask, for pasting a repainted image back over the
    original: pixels far from the region stay the original's exactly, and the seam fades over
    about ``radius`` pixels instead of showing the VAE's small colour shift as an edge. The
    mask sent to a model stays binary: diffusers binarises masks anyway."""
    if radius <= 0:
        return mask.convert("L")
    return mask.convert("L").filter(ImageFilter.GaussianBlur(radius))


def encode(mask: Image.Image) -> bytes:
    """The PNG a request's ``mask_image`` carries: greyscale, no metadata."""
    buffer = io.BytesIO()
    mask.convert("L").save(buffer, format="PNG", compress_level=6)
    return buffer.getvalue()
