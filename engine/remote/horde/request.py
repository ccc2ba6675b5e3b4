"""What ``POST /v2/generate/async`` carries for one of our requests (the AI Horde's
GenerationInputStable), and the size of an img2img the member left to the input image."""

from __future__ import annotations

import base64
import io
from typing import Any

from PIL import Image

from engine.errors import InvalidRequest
from engine.remote.horde.options import HordeOptions
from engine.remote.inputs import decoded, image_size, paint_mask
from engine.types import IMAGE_MODES, MASK_MODES, GenerationRequest, Mode

# The Horde splits its prompt at this mark: what follows is the negative prompt.
NEGATIVE_MARK = "###"
MULTIPLE = 64  # width and height: multiples of 64 (ModelPayloadStyleStable)
LORA_WEIGHTS = (-5.0, 5.0)
IMG2IMG_STRENGTH = 0.75
PAINT_STRENGTH = 1.0  # a masked region is painted anew unless the member says otherwise
SOURCE_PROCESSING = {
    Mode.IMG2IMG: "img2img",
    Mode.INPAINT: "inpainting",
    Mode.OUTPAINT: "outpainting",
}
GUIDANCE = (0.0, 100.0)


def check(request: GenerationRequest) -> None:
    """What the Horde's fields cannot carry, refused before anything is sent."""
    for field, text in (("prompt", request.prompt), ("negative_prompt", request.negative_prompt)):
        if NEGATIVE_MARK in text:
            raise InvalidRequest(
                field, NEGATIVE_MARK, "no ###: the AI Horde reads it as the start of the negative"
            )
    if request.guidance is not None and not GUIDANCE[0] <= request.guidance <= GUIDANCE[1]:
        raise InvalidRequest("guidance", request.guidance, "a value from 0 to 100")
    for lora in request.loras:
        if not LORA_WEIGHTS[0] <= lora.weight <= LORA_WEIGHTS[1]:
            raise InvalidRequest("lora", lora.weight, "a weight from -5 to 5")


def paints(model: str) -> bool:
    """Whether a Horde model repaints a masked region: its inpainting models say so in their
    names ("stable_diffusion_inpainting", "Deliberate Inpainting"); its workers take
    inpainting requests only for those."""
    return "inpainting" in model.lower()


def fitted_size(request: GenerationRequest, max_size: int) -> GenerationRequest:
    """An image mode without a size takes its image's shape, in multiples of 64 within
    ``max_size`` on each side (the Horde resizes the image, and its mask, to it)."""
    if request.init_image is None or (request.width and request.height):
        return request
    width, height = image_size(request.init_image)
    scale = min(1.0, max_size / max(width, height))

    def side(value: int) -> int:
        return max(MULTIPLE, int(value * scale) // MULTIPLE * MULTIPLE)

    return request.replace(
        width=request.width or side(width), height=request.height or side(height)
    )


def body(request: GenerationRequest, model: str, options: HordeOptions) -> dict[str, Any]:
    """The submit's JSON. ``nsfw`` and ``censor_nsfw`` follow the channel's policy: where NSFW
    is not allowed the request goes only to workers that censor, and they must censor."""
    width, height = request.size
    prompt = request.prompt
    if request.negative_prompt:
        prompt = f"{prompt} {NEGATIVE_MARK} {request.negative_prompt}"
    params: dict[str, Any] = {
        "sampler_name": request.sampler or options.samplers[0],
        "cfg_scale": request.guidance if request.guidance is not None else 7.0,
        "height": height,
        "width": width,
        "steps": request.steps or 30,
        "n": request.count,
        "karras": options.karras,
    }
    if request.tile:
        params["tiling"] = True
    if request.seed is not None:
        params["seed"] = str(request.seed)
        if request.count > 1:
            params["seed_variation"] = 1  # image k: seed + k, as ours
    if request.loras:
        params["loras"] = [{"name": lora.name, "model": lora.weight} for lora in request.loras]
    data: dict[str, Any] = {
        "prompt": prompt,
        "params": params,
        "nsfw": request.nsfw_allowed,
        "censor_nsfw": not request.nsfw_allowed,
        "trusted_workers": options.trusted_workers,
        "slow_workers": options.slow_workers,
        "extra_slow_workers": options.extra_slow_workers,
        "models": [model],
        "r2": True,
        "shared": False,
        "replacement_filter": options.replacement_filter,
        "allow_downgrade": options.allow_downgrade,
    }
    if request.mode in IMAGE_MODES:
        assert request.init_image is not None
        painting = request.mode in MASK_MODES
        default = PAINT_STRENGTH if painting else IMG2IMG_STRENGTH
        params["denoising_strength"] = request.strength if request.strength is not None else default
        data["source_image"] = webp_base64(request.init_image)
        data["source_processing"] = SOURCE_PROCESSING[request.mode]
        if painting:
            assert request.mask_image is not None
            # white where the model paints, as ours: the worker inverts it into the alpha
            data["source_mask"] = _webp(paint_mask(request.mask_image), lossless=True)
    return data


def webp_base64(data: bytes) -> str:
    """A member's image as the Horde takes it: a new WebP of its pixels only, in base64."""
    return _webp(decoded(data, "image").convert("RGB"))


def _webp(image: Image.Image, lossless: bool = False) -> str:
    buffer = io.BytesIO()
    image.save(buffer, "WEBP", quality=95, lossless=lossless)
    return base64.b64encode(buffer.getvalue()).decode("ascii")
