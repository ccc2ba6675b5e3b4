"""The input images of a run that starts from one (img2img, upscale, inpaint, outpaint, edit):
decoded from the request's bytes at the size asked, turned into the pipeline's arguments, and
the kept part of an inpainted picture put back exactly as it was."""

from __future__ import annotations

import inspect
import io
from dataclasses import dataclass, field
from typing import Any

from PIL import Image, ImageChops, ImageFilter

from engine.errors import InvalidRequest, ProviderError
from engine.local.families import Family
from engine.local.options import ModelSpec
from engine.local.pipelines import UPSCALER_FACTOR
from engine.types import CANVAS_WORDS, MASK_MODES, MAX_INPUT_IMAGES, GenerationRequest, Mode

BLANK = (127, 127, 127)  # the canvas a masked-whole txt2img starts from; the mask hides it all
FEATHER_DIVISOR = 128  # the seam is softened over about 1/128 of the shorter side


@dataclass(frozen=True)
class Inputs:
    """A request's images at its size: ``image`` RGB, ``mask`` L (255 = paint there, 0 = keep)
    and the further images of an edit as they came."""

    image: Image.Image | None = None
    mask: Image.Image | None = None
    extra: list[Image.Image] = field(default_factory=list)


def check_inputs(request: GenerationRequest) -> None:
    """Refuse an edit or canvas request without the images it needs, or with a mask of another
    size than its image (from the files' headers; the service has checked their bytes)."""
    if request.mode not in CANVAS_WORDS:
        return
    if request.init_image is None:
        raise InvalidRequest("image", None, f"{request.mode.value} needs an input image")
    if request.mode in MASK_MODES:
        if request.mask_image is None:
            raise InvalidRequest("mask", None, f"{request.mode.value} needs a mask")
        image, mask = _header_size(request.init_image), _header_size(request.mask_image)
        if mask != image:
            raise InvalidRequest(
                "mask", None, f"it is {mask[0]}×{mask[1]}; the image is {image[0]}×{image[1]}"
            )
    if 1 + len(request.extra_images) > MAX_INPUT_IMAGES:
        raise InvalidRequest("image", None, f"{MAX_INPUT_IMAGES} input images at most")


def draw_size(
    request: GenerationRequest, spec: ModelSpec, family: Family, upscale: float | None
) -> tuple[int, int]:
    """The size a request draws at: as asked; for an upscale, the input's times ``upscale``
    (None: the dedicated x4 upscaler's); for an edit or canvas run, the input image's, scaled
    down to fit the model's largest side (and, for an edit, its default pixel count); else the
    model's default. Rounded down to the family's size multiple, at least 64 pixels."""
    if request.width and request.height:
        return request.width, request.height
    if request.mode is Mode.UPSCALE and request.init_image is not None:
        width, height = _header_size(request.init_image)
        if upscale is None:  # the x4 model's scale is fixed
            return width * UPSCALER_FACTOR, height * UPSCALER_FACTOR
        return _multiple_of(width * upscale, family), _multiple_of(height * upscale, family)
    if request.mode in CANVAS_WORDS and request.init_image is not None:
        width, height = _header_size(request.init_image)
        scale = min(1.0, (spec.max_size or family.max_size) / max(width, height))
        if request.mode is Mode.EDIT:
            # an edit redraws the whole picture, which the edit models do best (and in the
            # time a member expects) near the pixel count they draw at, not at a photo's
            area = (spec.width or family.width) * (spec.height or family.height)
            scale = min(scale, (area / (width * height)) ** 0.5)
        return _multiple_of(width * scale, family), _multiple_of(height * scale, family)
    width = request.width or spec.width or family.width
    return width, request.height or spec.height or family.height


def _multiple_of(value: float, family: Family) -> int:
    return max(64, int(value) // family.size_multiple * family.size_multiple)


def read_inputs(request: GenerationRequest, family: Family) -> Inputs:
    """What the pipeline needs for this request, or nothing for a plain txt2img."""
    size = request.size
    if request.mode is Mode.TXT2IMG:
        if not family.masked_whole:
            return Inputs()
        return Inputs(Image.new("RGB", size, BLANK), Image.new("L", size, 255))
    if request.init_image is None:  # prepare() refuses this
        raise ProviderError(f"{request.mode.value} needs an input image")
    image = _picture(request.init_image).resize(size, Image.Resampling.LANCZOS)
    if request.mode in MASK_MODES:
        if request.mask_image is None:
            raise ProviderError(f"{request.mode.value} needs a mask")
        return Inputs(image, _mask(request.mask_image, size))
    if request.mode is Mode.EDIT:
        return Inputs(image, extra=[_picture(data) for data in request.extra_images])
    if family.masked_whole:  # img2img and upscale on an inpainting checkpoint
        return Inputs(image, Image.new("L", size, 255))
    return Inputs(image)


def image_arguments(
    family: Family, pipe: Any, request: GenerationRequest, inputs: Inputs
) -> dict[str, Any]:
    """The pipeline arguments that carry the input images, the strength and the size."""
    width, height = request.size
    if inputs.image is None:
        return {"width": width, "height": height}
    arguments: dict[str, Any] = {}
    if request.mode is Mode.EDIT:
        images = [inputs.image, *inputs.extra]
        arguments["image"] = images if family.edit_images == "list" else images[0]
    else:
        strength = 1.0 if request.strength is None else request.strength
        image: Any = inputs.image
        if request.mode in (Mode.IMG2IMG, Mode.UPSCALE):
            image = [inputs.image] * request.count
        arguments.update(image=image, strength=strength)
    if inputs.mask is not None:
        arguments["mask_image"] = inputs.mask
    if _takes_size(pipe):  # the transformer families' default is their own size
        arguments.update(width=width, height=height)
    return arguments


def keep_unmasked(images: list[Image.Image], inputs: Inputs) -> list[Image.Image]:
    """Each inpainted picture with the input put back where the mask keeps it. The pipelines
    repaint the whole picture (a plain UNet blends the kept latents back, an inpainting one is
    only conditioned on them), so the kept part comes out through the autoencoder, a little
    changed; here it is the input's own pixels, with the seam softened inside the mask only."""
    if inputs.image is None or inputs.mask is None:
        return images
    mask = inputs.mask
    radius = max(1, min(mask.size) // FEATHER_DIVISOR)
    soft = ImageChops.darker(mask.filter(ImageFilter.GaussianBlur(radius)), mask)
    kept = []
    for image in images:
        painted = image.convert("RGB")
        if painted.size != inputs.image.size:
            painted = painted.resize(inputs.image.size, Image.Resampling.LANCZOS)
        kept.append(Image.composite(painted, inputs.image, soft))
    return kept


def _header_size(data: bytes) -> tuple[int, int]:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except Exception as err:
        raise InvalidRequest("image", None, "an input image could not be read") from err


def _picture(data: bytes) -> Image.Image:
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.convert("RGB")
    except Exception as err:
        raise ProviderError("an input image could not be read") from err


def _mask(data: bytes, size: tuple[int, int]) -> Image.Image:
    """White (at least half) is painted, the rest kept, as diffusers binarises it."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            grey = image.convert("L")
    except Exception as err:
        raise ProviderError("the mask could not be read") from err
    grey = grey.resize(size, Image.Resampling.BILINEAR)
    return grey.point(lambda value: 255 if value >= 128 else 0)


def _takes_size(pipe: Any) -> bool:
    """Whether a pipeline that starts from an image takes the output size (else it keeps the
    input's)."""
    return "height" in inspect.signature(pipe.__call__).parameters
