"""The built-in demo provider: real pictures from Pillow, every one labelled a demo."""

from __future__ import annotations

import io

import pytest
from PIL import Image, ImageChops, ImageStat

from engine import (
    CancelToken,
    EngineError,
    GenerationCancelled,
    GenerationRequest,
    InvalidRequest,
    LoraRef,
    Mode,
    Progress,
)
from engine.demo import BANNER, DEMO_MODEL, DemoProvider
from engine.registry import ProviderConfig, build_provider

RED = (220, 10, 10)


def demo(**options: object) -> DemoProvider:
    provider = build_provider("demo", ProviderConfig("demo", {"step_seconds": 0, **options}))
    assert isinstance(provider, DemoProvider)
    return provider


def png(colour: tuple[int, int, int], size: tuple[int, int] = (64, 48)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, colour).save(buffer, "PNG")
    return buffer.getvalue()


async def run(
    provider: DemoProvider, request: GenerationRequest, cancel: CancelToken | None = None
):
    seen: list[Progress] = []
    result = await provider.generate(
        provider.prepare(request), seen.append, cancel or CancelToken()
    )
    return result, seen


def below_banner(image: Image.Image) -> Image.Image:
    width, height = image.size
    return image.crop((0, height * 3 // 4, width, height))


def test_the_demo_kind_is_built_in_and_states_what_it_can_do():
    capabilities = demo().capabilities
    assert capabilities.modes == {Mode.TXT2IMG, Mode.IMG2IMG, Mode.UPSCALE}
    assert capabilities.models == (DEMO_MODEL,)
    assert "demo" in DEMO_MODEL and "not a real model" in DEMO_MODEL
    assert not capabilities.loras and not capabilities.guidance and not capabilities.samplers


@pytest.mark.parametrize(
    ("changes", "named"),
    [
        ({"sampler": "Euler"}, "sampler"),
        ({"guidance": 7.0}, "guidance"),
        ({"loras": (LoraRef("detail"),)}, "loras"),
        ({"mode": Mode.DESCRIBE}, "mode"),
        ({"width": 100}, "width"),
        ({"count": 5}, "count"),
        ({"model": "sdxl"}, "model"),
    ],
)
def test_what_it_cannot_honour_is_refused_by_name(changes: dict[str, object], named: str):
    with pytest.raises(InvalidRequest) as caught:
        demo().prepare(GenerationRequest("a lighthouse", seed=1, **changes))  # type: ignore[arg-type]
    assert caught.value.field == named


def test_unknown_options_are_refused_when_it_is_built():
    with pytest.raises(EngineError, match="not a setting of the demo provider"):
        demo(model="sdxl")


async def test_it_draws_the_size_count_and_seeds_asked_for_with_the_demo_label():
    request = GenerationRequest("a lighthouse", seed=41, count=2, width=320, height=192)
    result, _ = await run(demo(), request)
    assert result.model == DEMO_MODEL and "demo" in result.info["note"]
    assert [image.seed for image in result.images] == [41, 42]
    first, second = (generated.image for generated in result.images)
    assert first.size == second.size == (320, 192)
    assert ImageChops.difference(first, second).getbbox() is not None  # seeds differ
    assert first.getpixel((1, 1)) == BANNER and first.getpixel((318, 1)) == BANNER
    # The label is written on the banner in a colour of its own.
    banner = first.crop((0, 0, 320, 20))
    assert len(banner.getcolors(maxcolors=4096) or ()) > 2


async def test_the_same_seed_and_prompt_draw_the_same_picture_and_another_prompt_not():
    provider = demo()
    one, _ = await run(provider, GenerationRequest("a lighthouse", seed=7, width=128, height=128))
    again, _ = await run(provider, GenerationRequest("a lighthouse", seed=7, width=128, height=128))
    other, _ = await run(provider, GenerationRequest("a forest", seed=7, width=128, height=128))
    picture = one.images[0].image
    assert ImageChops.difference(picture, again.images[0].image).getbbox() is None
    assert ImageChops.difference(picture, other.images[0].image).getbbox() is not None


async def test_progress_is_reported_for_each_step():
    provider = demo(steps=6)
    _, default_steps = await run(provider, GenerationRequest("a lighthouse", seed=1))
    assert [(p.step, p.total) for p in default_steps] == [(k, 6) for k in range(1, 7)]
    _, asked = await run(provider, GenerationRequest("a lighthouse", seed=1, steps=3))
    assert [(p.step, p.total) for p in asked] == [(1, 3), (2, 3), (3, 3)]
    assert all("demo" in p.message for p in asked)


async def test_cancel_stops_it_between_steps():
    provider = demo(steps=10)
    token = CancelToken()
    seen: list[Progress] = []

    def report(progress: Progress) -> None:
        seen.append(progress)
        if progress.step == 3:
            token.cancel()

    request = provider.prepare(GenerationRequest("a lighthouse", seed=1))
    with pytest.raises(GenerationCancelled):
        await provider.generate(request, report, token)
    assert [p.step for p in seen] == [1, 2, 3]


async def test_img2img_blends_the_input_by_strength():
    provider = demo()

    def request(strength: float) -> GenerationRequest:
        return GenerationRequest(
            "a lighthouse",
            mode=Mode.IMG2IMG,
            seed=3,
            width=128,
            height=128,
            strength=strength,
            init_image=png(RED),
        )

    light, _ = await run(provider, request(0.1))
    full, _ = await run(provider, request(1.0))
    red = Image.new("RGB", (128, 32), RED)

    def distance(image: Image.Image) -> float:
        return sum(ImageStat.Stat(ImageChops.difference(below_banner(image), red)).mean)

    assert distance(light.images[0].image) < 40 < distance(full.images[0].image)
    assert light.images[0].image.getpixel((1, 1)) == BANNER  # still labelled


async def test_an_input_that_is_not_an_image_is_refused():
    request = GenerationRequest(
        "x", mode=Mode.IMG2IMG, seed=1, strength=0.5, init_image=b"not a png"
    )
    with pytest.raises(EngineError, match="input image"):
        await run(demo(), request)


async def test_upscale_doubles_the_input_and_labels_it_again():
    provider = demo()
    request = GenerationRequest("a lighthouse", mode=Mode.UPSCALE, init_image=png(RED, (96, 64)))
    prepared = provider.prepare(request)
    assert prepared.size == (192, 128)
    result, seen = await run(provider, request)
    (generated,) = result.images
    assert generated.image.size == (192, 128) and result.model == DEMO_MODEL
    assert generated.image.getpixel((1, 1)) == BANNER
    assert generated.image.getpixel((96, 120)) == RED
    assert seen[-1].step == seen[-1].total


def test_upscale_past_the_largest_size_is_refused_by_name():
    request = GenerationRequest("x", mode=Mode.UPSCALE, init_image=png(RED, (1100, 64)))
    with pytest.raises(InvalidRequest) as caught:
        demo().prepare(request)
    assert caught.value.field == "image"  # the upscale of that image would be too large
