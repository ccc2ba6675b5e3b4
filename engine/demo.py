"""The built-in demo provider: labelled placeholder pictures drawn with Pillow from the prompt
and seed, so an owner can try the whole flow with no GPU, no model and no network."""

from __future__ import annotations

import asyncio
import hashlib
import io
import textwrap
from typing import Annotated

from PIL import Image, ImageDraw, ImageFont, ImageOps
from pydantic import BaseModel, ConfigDict, Field

from engine.errors import InvalidRequest
from engine.options import parse_options
from engine.provider import CancelToken, Progress, ProgressCallback, Provider
from engine.registry import ProviderConfig
from engine.remote.http import decode_image
from engine.types import Capabilities, GeneratedImage, GenerationRequest, GenerationResult, Mode

DEMO_MODEL = "demo (not a real model)"
LABEL = "DEMO - not a real model"
NOTE = "This is a demo picture drawn from the prompt; no image model was used."
BANNER = (20, 20, 20)
LABEL_COLOUR = (255, 210, 0)
DEFAULT_STRENGTH = 0.6
UPSCALE_FACTOR = 2


class DemoOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: Annotated[int, Field(ge=1, le=150)] = 20  # when a request names none
    # A pause per step, so that the progress bar moves in Discord as it would for a model.
    step_seconds: Annotated[float, Field(ge=0, le=5)] = 0.1


class DemoProvider(Provider):
    """txt2img, img2img (the input blended in by ``strength``) and upscale (a plain x2 resize);
    a negative prompt is drawn under the prompt. No samplers, guidance or LoRAs: refused by
    name, as nothing would use them."""

    def __init__(self, config: ProviderConfig) -> None:
        super().__init__(config.name)
        self.options = parse_options(DemoOptions, config.options, kind="demo", whole="options")
        self._capabilities = Capabilities(
            modes=frozenset({Mode.TXT2IMG, Mode.IMG2IMG, Mode.UPSCALE}),
            models=(DEMO_MODEL,),
            guidance=False,
            loras=False,
            max_images=4,
        )

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    def prepare(self, request: GenerationRequest) -> GenerationRequest:
        if request.mode is Mode.UPSCALE and request.init_image is not None:
            try:
                with Image.open(io.BytesIO(request.init_image)) as source:
                    width, height = source.size  # the header only: no pixels decoded here
            except Exception:
                raise InvalidRequest("image", "the input", "a PNG, JPEG or WebP image") from None
            request = request.replace(width=width * UPSCALE_FACTOR, height=height * UPSCALE_FACTOR)
        resolved = super().prepare(request)
        return resolved.replace(steps=resolved.steps or self.options.steps)

    async def generate(
        self, request: GenerationRequest, progress: ProgressCallback, cancel: CancelToken
    ) -> GenerationResult:
        request = self.prepare(request)
        assert request.steps is not None
        source = None
        if request.mode is not Mode.TXT2IMG:
            if request.init_image is None:
                raise InvalidRequest("image", None, f"{request.mode.value} needs an input image")
            source = await asyncio.to_thread(decode_image, request.init_image, _input_said)
        for step in range(1, request.steps + 1):
            cancel.raise_if_cancelled()
            await asyncio.sleep(self.options.step_seconds)
            progress(Progress(step, request.steps, "demo: drawing a placeholder"))
        cancel.raise_if_cancelled()
        if request.mode is Mode.UPSCALE:
            assert source is not None
            larger = await asyncio.to_thread(upscale, source, request.size)
            return GenerationResult(
                (GeneratedImage(larger, None),), DEMO_MODEL, info={"note": NOTE}
            )
        images = await asyncio.to_thread(
            lambda: tuple(
                GeneratedImage(draw(request, seed, source), seed) for seed in request.seeds
            )
        )
        return GenerationResult(images, DEMO_MODEL, info={"note": NOTE})


def _input_said(what: str) -> str:
    """decode_image speaks of what a provider sent; here the member sent it."""
    return f"The input image could not be read: the member {what}."


def draw(request: GenerationRequest, seed: int, source: Image.Image | None = None) -> Image.Image:
    """A gradient whose colours and angle come from the prompt and seed, the input image
    blended in for img2img, then the prompt and the demo label written on it."""
    width, height = request.size
    digest = hashlib.sha256(f"{seed}\0{request.prompt}".encode()).digest()
    first, second, third = digest[0:3], digest[3:6], digest[6:9]
    angle = digest[9] * 360 / 256
    ramp = Image.linear_gradient("L").rotate(angle, resample=Image.Resampling.BILINEAR)
    ramp = ImageOps.autocontrast(ramp.crop((48, 48, 208, 208))).resize((width, height))
    picture = ImageOps.colorize(ramp, tuple(first), tuple(second))
    glow = ImageOps.colorize(
        Image.radial_gradient("L").resize((width, height)), tuple(third), "black"
    )
    picture = Image.blend(picture, glow, 0.35)
    if source is not None:
        strength = request.strength if request.strength is not None else DEFAULT_STRENGTH
        fitted = source.convert("RGB").resize((width, height), Image.Resampling.LANCZOS)
        picture = Image.blend(fitted, picture, strength)
    _write(picture, request)
    return picture


def upscale(source: Image.Image, size: tuple[int, int]) -> Image.Image:
    """A plain resize, labelled again (the banner scales with the picture, so it covers the
    old one)."""
    larger = source.convert("RGB").resize(size, Image.Resampling.LANCZOS)
    _label(larger)
    return larger


def _label(picture: Image.Image) -> int:
    """Draws the demo banner; returns the font size it used."""
    width, height = picture.size
    size = max(8, min(width, height) // 14)
    canvas = ImageDraw.Draw(picture)
    canvas.rectangle((0, 0, width, size + size // 2), fill=BANNER)
    canvas.text(
        (size // 3, size // 4), LABEL, font=ImageFont.load_default(size=size), fill=LABEL_COLOUR
    )
    return size


def _write(picture: Image.Image, request: GenerationRequest) -> None:
    width, _ = picture.size
    size = _label(picture)
    banner = size + size // 2
    canvas = ImageDraw.Draw(picture)
    body_size = max(8, size * 2 // 3)
    body = ImageFont.load_default(size=body_size)
    columns = max(8, width * 2 // body_size - 2)
    lines = textwrap.wrap(request.prompt, columns)[:6]
    if request.negative_prompt:
        lines += textwrap.wrap("not: " + request.negative_prompt, columns)[:2]
    canvas.multiline_text(
        (size // 3, banner + size // 3),
        "\n".join(lines),
        font=body,
        fill="white",
        stroke_width=max(1, size // 12),
        stroke_fill="black",
    )


def create(config: ProviderConfig) -> DemoProvider:
    return DemoProvider(config)
