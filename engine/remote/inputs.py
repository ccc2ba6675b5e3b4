"""The input images of an edit, inpaint or outpaint as remote APIs take them: checked against
the request before anything is sent, then decoded and encoded afresh, so that only pixels leave
the bot (no member's metadata, no second frame, nothing a decoder was not asked to read)."""

from __future__ import annotations

import io
import re
import warnings

from PIL import Image

from engine.errors import InvalidRequest
from engine.remote.http import MAX_IMAGE_PIXELS
from engine.types import MASK_MODES, GenerationRequest, Mode

PAINT_THRESHOLD = 128
"""A mask pixel at least this bright is painted; darker ones are kept."""


def refuse_prompt_tags(request: GenerationRequest, tag: re.Pattern[str]) -> None:
    """Refuse a prompt or negative prompt holding a tag of the backend's own prompt syntax
    (``<lora:...>``, ``<wildcard:...>``): the backend would load what the tag names, past
    every check here."""
    for field, text in (("prompt", request.prompt), ("negative_prompt", request.negative_prompt)):
        if found := tag.search(text):
            raise InvalidRequest(field, found[0], "no <type:...> tags; LoRAs as <lora:name:weight>")


def image_size(data: bytes, field: str = "image") -> tuple[int, int]:
    """The size an image's header declares, without decoding its pixels."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception:
        raise InvalidRequest(field, None, "it is not an image the bot can read") from None


def check_inputs(request: GenerationRequest, max_input_images: int) -> None:
    """Refuse input images that do not fit the request's mode, naming the field: a masked
    mode needs a mask of the image's size, only an edit takes further images."""
    if request.mode is Mode.EDIT and request.init_image is None:
        raise InvalidRequest("image", None, "an edit needs an input image; attach one")
    if request.mode in MASK_MODES:
        if request.init_image is None:
            raise InvalidRequest("image", None, f"{request.mode.value} needs an input image")
        if request.mask_image is None:
            raise InvalidRequest("mask", None, f"{request.mode.value} needs a mask")
        image, mask = image_size(request.init_image), image_size(request.mask_image, "mask")
        if mask != image:
            raise InvalidRequest(
                "mask",
                None,
                f"it is {mask[0]}×{mask[1]} pixels; it must be the image's {image[0]}×{image[1]}",
            )
    elif request.mask_image is not None:
        raise InvalidRequest("mask", None, f"{request.mode.value} takes no mask; leave it out")
    if request.extra_images:
        if request.mode is not Mode.EDIT:
            raise InvalidRequest(
                "images", None, f"{request.mode.value} takes one image; leave the others out"
            )
        if 1 + len(request.extra_images) > max_input_images:
            raise InvalidRequest(
                "images",
                1 + len(request.extra_images),
                f"this provider takes {max_input_images} per edit at most; give fewer",
            )


def canvas_size(request: GenerationRequest, multiple: int) -> GenerationRequest:
    """An image mode's output size, where the request leaves it out: the input image's, rounded
    down to ``multiple`` (the provider resizes the image, and its mask, to it)."""
    if request.init_image is None or (request.width and request.height):
        return request
    width, height = image_size(request.init_image)
    return request.replace(
        width=request.width or max(multiple, width - width % multiple),
        height=request.height or max(multiple, height - height % multiple),
    )


def decoded(data: bytes, field: str) -> Image.Image:
    """The pixels of a member's image, decoded fully with the bomb guard."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as image:
                if image.width * image.height > MAX_IMAGE_PIXELS:
                    raise InvalidRequest(field, None, "it is too large to send")
                image.load()
                return image.copy()
    except InvalidRequest:
        raise
    except Exception:
        raise InvalidRequest(field, None, "it is not an image the bot can read") from None


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def fresh_png(data: bytes, mode: str = "RGB", field: str = "image") -> bytes:
    """A member's image as a new PNG of ``mode`` pixels only."""
    return png_bytes(decoded(data, field).convert(mode))


def paint_mask(data: bytes) -> Image.Image:
    """The mask as black and white: white (255) where the model paints, black where it keeps."""
    grey = decoded(data, "mask").convert("L")
    return grey.point(lambda value: 255 if value >= PAINT_THRESHOLD else 0)


def transparent_where_painted(data: bytes) -> bytes:
    """The mask as OpenAI's image edits take it: a PNG whose fully transparent pixels (alpha 0)
    are where the image is edited, opaque (alpha 255) where it is kept."""
    paint = paint_mask(data)
    mask = Image.new("RGBA", paint.size, (0, 0, 0, 255))
    mask.putalpha(paint.point(lambda value: 255 - value))
    return png_bytes(mask)
