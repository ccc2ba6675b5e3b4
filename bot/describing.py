"""Describe jobs: a prompt for a member's image, written by a provider's captioner in its turn
in the queue (on the local engine, on the one GPU thread), its caption kept as the job's text."""

from __future__ import annotations

import asyncio
import io
import time

from PIL import Image

from engine import GenerationRequest, GenerationResult, Mode, Provider

DESCRIBE_TIMEOUT = 120.0  # captioning is one short forward pass, or one short remote call
CAPTIONER = "captioner"  # the model a describe job names (its own ETA sample)
CAPTION = "caption"  # where a describe result carries its text, in ``GenerationResult.info``


def describe_request(image: bytes) -> GenerationRequest:
    return GenerationRequest("", model=CAPTIONER, mode=Mode.DESCRIBE, init_image=image)


async def describe(provider: Provider, request: GenerationRequest) -> GenerationResult:
    """Run a describe job: no images, the caption in the result's info."""
    if request.init_image is None:
        raise ValueError("a describe job carries the image to describe")
    picture = await asyncio.to_thread(_decode_rgb, request.init_image)
    started = time.perf_counter()
    caption = await provider.describe(picture)
    return GenerationResult((), CAPTIONER, time.perf_counter() - started, {CAPTION: caption})


def caption_of(result: GenerationResult) -> str | None:
    caption = result.info.get(CAPTION)
    return caption if isinstance(caption, str) else None


def _decode_rgb(data: bytes) -> Image.Image:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB")
