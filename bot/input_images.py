"""Members' input images (init image, mask, an edit's further images, references, control
image): refused from their header first (size, format, frames, pixels), then decoded in full
and re-encoded off the event loop, so only re-encoded pixels are stored or sent; a mask becomes
single-channel black and white at its image's size."""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

from PIL import Image, ImageOps

from bot.canvas import masks
from bot.canvas.errors import MaskError
from bot.errors import InvalidOption
from bot.i18n import lazy_t
from bot.providers import MODE_WORDS
from bot.settings import LimitSettings
from engine import GenerationRequest, InvalidRequest, Mode
from engine.types import (
    IMAGE_MODES,
    MASK_MODES,
    MAX_INPUT_IMAGES,
    file_size,
    pixels,
)

INPUT_FORMATS = ("PNG", "JPEG", "WEBP")
ALPHA_MODES = frozenset({"RGBA", "RGBa", "LA", "La", "PA"})
MASK_FIELD, IMAGES_FIELD = "mask", "images"
REFERENCES_FIELD, CONTROL_FIELD = "references", "control_image"


def check_header(data: bytes, limits: LimitSettings, field: str = "image") -> None:
    """Refuse a file that is too large, not a still PNG, JPEG or WebP image, or has more pixels
    than the bot draws, reading no more than its header (and ``verify``'s structural pass)."""
    size = len(data)
    limit = limits.max_input_image_bytes
    if size > limit:
        raise _bad(field, f"the file is {file_size(size)}; attach {file_size(limit)} at most")
    max_pixels = limits.max_width * limits.max_height
    largest = f"{pixels(limits.max_width, limits.max_height)} at most"
    allowed = "attach a PNG, JPEG or WebP image instead"
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
    except (Image.DecompressionBombWarning, Image.DecompressionBombError):
        raise _bad(field, f"it is far too large to open; attach {largest}") from None
    except Exception:
        raise _bad(field, f"that file is not an image; {allowed}") from None
    with image:
        image_format, (width, height) = image.format, image.size
        if image_format not in INPUT_FORMATS:
            raise _bad(field, f"{image_format} files can't be read; {allowed}")
        if getattr(image, "n_frames", 1) > 1:
            raise _bad(field, "it is an animation; attach a still image instead")
        if width * height > max_pixels:
            raise _bad(field, f"it is {width}×{height} pixels; attach {largest}")
        try:
            image.verify()
        except Exception:
            raise _bad(field, "the file is damaged or cut short; attach it again") from None


def check_inputs(request: GenerationRequest, limits: LimitSettings) -> None:
    """Refuse images that do not fit the request's mode, or files ``check_header`` refuses."""
    mode = request.mode
    needs_image = mode in IMAGE_MODES or mode is Mode.UPSCALE
    if request.init_image is None:
        if needs_image:
            raise InvalidOption(
                "image", None, lazy_t("{mode} needs an input image; attach one", mode=mode.value)
            )
    elif not needs_image:
        raise InvalidRequest(
            "image", None, "only img2img, edits, repaints and upscale take one; leave it out"
        )
    if mode in MASK_MODES and request.mask_image is None:
        raise InvalidOption(
            "mask",
            None,
            lazy_t("to {what} give a mask: white repaints, black keeps", what=MODE_WORDS[mode]),
        )
    if mode not in MASK_MODES and request.mask_image is not None:
        raise InvalidRequest("mask", None, "only inpaint and outpaint take one; leave it out")
    if request.extra_images:
        if mode is not Mode.EDIT:
            raise InvalidRequest("images", None, "only an edit takes several; give one")
        if 1 + len(request.extra_images) > MAX_INPUT_IMAGES:
            raise InvalidOption(
                "images",
                1 + len(request.extra_images),
                lazy_t("an edit takes {most} images at most; give fewer", most=MAX_INPUT_IMAGES),
            )
    strength = request.strength
    missing = mode is Mode.IMG2IMG and strength is None
    if missing or (strength is not None and not 0 < strength <= 1):
        raise InvalidRequest("strength", strength, "use a value above 0, at most 1")
    for field, data in (
        ("image", request.init_image),
        ("mask", request.mask_image),
        *(("images", extra) for extra in request.extra_images),
        *((REFERENCES_FIELD, reference) for reference in request.reference_images),
        (CONTROL_FIELD, request.control_image),
    ):
        if data is not None:
            check_header(data, limits, field)


@dataclass(frozen=True, slots=True)
class Reencoded:
    request: GenerationRequest  # its images re-encoded, its mask black and white
    painted: float  # the share of the image the mask repaints (1.0 without a mask)


def reencode_inputs(request: GenerationRequest, max_pixels: int) -> Reencoded:
    """Decode every input image in full and re-encode it as PNG (blocking: run it in a
    thread). Each was header-checked already (``check_header``). The mask must be exactly the
    image's size and repaint some of it, not all."""
    references = tuple(_reencode(data, REFERENCES_FIELD)[0] for data in request.reference_images)
    control = (
        None
        if request.control_image is None
        else _reencode(request.control_image, CONTROL_FIELD)[0]
    )
    request = request.replace(reference_images=references, control_image=control)
    if request.init_image is None:
        return Reencoded(request, 1.0)
    init, size = _reencode(request.init_image, "image")
    extras = tuple(_reencode(data, IMAGES_FIELD)[0] for data in request.extra_images)
    mask, painted = None, 1.0
    if request.mask_image is not None:
        mask, painted = normalise_mask(request.mask_image, size, max_pixels)
    changed = request.replace(init_image=init, mask_image=mask, extra_images=extras)
    return Reencoded(changed, painted)


def normalise_mask(data: bytes, size: tuple[int, int], max_pixels: int) -> tuple[bytes, float]:
    """The mask as a greyscale PNG of 0 (keep) and 255 (repaint), and the share it repaints
    (``bot.canvas.masks``: any colour mode read as its brightness, transparency as black)."""
    try:
        image = masks.decode(data, max_pixels)
        if image.size != size:
            (width, height), (want_width, want_height) = image.size, size
            raise _bad(
                MASK_FIELD,
                f"it is {width}×{height} pixels but the image is {want_width}×{want_height}; "
                "draw the mask at the image's size",
            )
        binary = masks.normalise(image, size)
    except MaskError as err:
        raise _bad(MASK_FIELD, str(err)) from None
    return masks.encode(binary), masks.coverage(binary)


def _reencode(data: bytes, field: str) -> tuple[bytes, tuple[int, int]]:
    """The pixels of ``data`` upright (its EXIF orientation applied) as a new PNG, without
    the file's metadata; RGBA where it has transparency, RGB otherwise."""
    with _decoded(data, field) as image:
        upright = ImageOps.exif_transpose(image)
        alpha = upright.mode in ALPHA_MODES or "transparency" in upright.info
        clean = upright.convert("RGBA" if alpha else "RGB")
    buffer = io.BytesIO()
    clean.save(buffer, format="PNG", compress_level=4)
    return buffer.getvalue(), clean.size


def _decoded(data: bytes, field: str) -> Image.Image:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            image.load()
    except Exception:
        raise _bad(field, "the file is damaged or cut short; attach it again") from None
    return image


def _bad(field: str, problem: str) -> InvalidRequest:
    return InvalidRequest(field, None, problem)
