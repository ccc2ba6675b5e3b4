"""What a request becomes on SwarmUI's generation routes: the JSON body that
``/API/GenerateText2ImageWS`` and ``/API/GenerateText2Image`` take, images as data URLs."""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from engine.remote.inputs import fresh_png, paint_mask, png_bytes
from engine.types import IMAGE_MODES, MASK_MODES, GenerationRequest, Mode

# Swarm's default creativity for an init image; a mask repaints more, a canvas's padding all.
DEFAULT_CREATIVITY = {Mode.IMG2IMG: 0.6, Mode.INPAINT: 0.75, Mode.OUTPAINT: 1.0}


def request_body(
    request: GenerationRequest,
    loras: Mapping[str, str],
    *,
    scheduler: str | None,
    keep_outputs: bool,
) -> dict[str, Any]:
    """The body for ``request``; ``loras`` maps a member's LoRA name to the server's."""
    width, height = request.size
    body: dict[str, Any] = {
        "images": request.count,
        "prompt": request.prompt,
        "negativeprompt": request.negative_prompt,
        "width": width,
        "height": height,
        "seed": request.seed if request.seed is not None else -1,
        "donotsave": not keep_outputs,
    }
    if request.model and request.model != "default":
        body["model"] = request.model
    if request.steps is not None:
        body["steps"] = request.steps
    if request.guidance is not None:
        body["cfgscale"] = request.guidance
    if request.sampler:
        body["sampler"] = request.sampler
    if scheduler:
        body["scheduler"] = scheduler
    if request.loras:
        body["loras"] = [loras[lora.name] for lora in request.loras]
        body["loraweights"] = [f"{lora.weight:g}" for lora in request.loras]
    if request.mode in IMAGE_MODES:
        assert request.init_image is not None
        body["initimage"] = _data_url(fresh_png(request.init_image))
        strength = request.strength
        body["initimagecreativity"] = (
            strength if strength is not None else DEFAULT_CREATIVITY[request.mode]
        )
    if request.mode in MASK_MODES:
        assert request.mask_image is not None
        body["maskimage"] = _data_url(png_bytes(paint_mask(request.mask_image)))
    return body


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")
