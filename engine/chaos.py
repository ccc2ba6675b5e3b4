"""--chaos: how far the images of one request spread. Their seeds differ already; with chaos N
each image's guidance also moves, by up to N% of the request's guidance either way, by an
amount drawn from that image's own seed, so the same seed and chaos give the same image."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from dataclasses import replace

from engine.errors import EngineError
from engine.provider import CancelToken, Progress, ProgressCallback
from engine.types import GeneratedImage, GenerationRequest, GenerationResult

Generate = Callable[[GenerationRequest, ProgressCallback, CancelToken], Awaitable[GenerationResult]]

MAX_GUIDANCE = 30.0


def guidance_of(guidance: float, chaos: int, seed: int) -> float:
    """The guidance of the image drawn from ``seed``."""
    offset = random.Random(seed).uniform(-1.0, 1.0) * chaos / 100 * guidance
    return round(min(MAX_GUIDANCE, max(0.0, guidance + offset)), 3)


def spread(request: GenerationRequest) -> list[GenerationRequest]:
    """The request as one request per image, each at its own guidance (the request itself
    without chaos, or where the model takes no guidance: then only the seeds differ)."""
    if not request.chaos or request.guidance is None:
        return [request]
    return [
        request.replace(
            count=1,
            seed=seed,
            guidance=guidance_of(request.guidance, request.chaos, seed),
            chaos=0,
        )
        for seed in request.seeds
    ]


async def run_spread(
    generate: Generate, request: GenerationRequest, progress: ProgressCallback, cancel: CancelToken
) -> GenerationResult | EngineError:
    """A chaos request run one image at a time through ``generate`` (a provider's), each at
    its own guidance, and reported as one run; the guidances go in the result's info."""
    parts = spread(request)
    images: list[GeneratedImage] = []
    seconds = 0.0
    model = request.model or ""
    for index, part in enumerate(parts):

        def report(done: Progress, index: int = index) -> None:
            total = len(parts) * done.total
            progress(replace(done, step=index * done.total + done.step, total=total))

        try:
            result = await generate(part, report, cancel)
        except EngineError as err:
            return err
        images += result.images
        seconds += result.seconds
        model = result.model
    info = {"guidance": [part.guidance for part in parts]}
    return GenerationResult(tuple(images), model, seconds, info)
