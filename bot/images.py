"""Image encoding: PNG with the generation parameters embedded, as the SD web UIs write them."""

from __future__ import annotations

import io

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from bot.storage.files import write_atomically
from engine import GenerationRequest

__all__ = ["PARAMETERS_KEY", "encode_png", "parameters_text", "write_atomically"]

PARAMETERS_KEY = "parameters"


def parameters_text(request: GenerationRequest, seed: int | None, model: str) -> str:
    """AUTOMATIC1111's 'parameters' format, which most image tools read back."""
    lines = [request.prompt]
    if request.negative_prompt:
        lines.append(f"Negative prompt: {request.negative_prompt}")
    fields = {
        "Steps": request.steps,
        "Sampler": request.sampler,
        "CFG scale": request.guidance,
        "Seed": seed,
        "Size": "x".join(map(str, request.size)),
        "Model": model,
        "Denoising strength": request.strength,
        "Tiling": True if request.tile else None,
    }
    lines.append(", ".join(f"{key}: {value}" for key, value in fields.items() if value is not None))
    if request.loras:
        lines[-1] += ", Lora: " + " ".join(f"{lora.name}:{lora.weight:g}" for lora in request.loras)
    return "\n".join(lines)


def encode_png(image: Image.Image, parameters: str) -> bytes:
    info = PngInfo()
    info.add_text(PARAMETERS_KEY, parameters)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", pnginfo=info, compress_level=4)
    return buffer.getvalue()
