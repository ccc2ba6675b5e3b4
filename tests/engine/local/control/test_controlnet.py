"""ControlNet on the local engine, SD 1.x and SDXL, end to end through the engine with tiny
ControlNets loaded by the real loader: the map is made, followed, and returned."""

from __future__ import annotations

import io
from collections.abc import AsyncIterator, Callable
from typing import Any

import numpy as np
import pytest
from PIL import Image, ImageDraw

from engine import (
    CancelToken,
    GenerationCancelled,
    GenerationRequest,
    GenerationResult,
    InvalidRequest,
    Mode,
)
from engine.local import LocalProvider
from engine.local.control import maps
from engine.types import Control, ControlKind
from tests.engine.local.control.conftest import TinyControl

pytestmark = pytest.mark.timeout(300)


def picture() -> bytes:
    image = Image.new("RGB", (96, 96), (220, 220, 220))
    pen = ImageDraw.Draw(image)
    pen.rectangle([20, 20, 70, 60], fill=(30, 30, 120))
    pen.ellipse([40, 50, 90, 90], fill=(200, 40, 40))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def controlnets(tiny_control: TinyControl) -> dict[str, Any]:
    return {
        "controlnets": {
            "sd-canny": {"source": str(tiny_control.sd), "family": "sd", "kinds": ["canny"]},
            "xl-depth": {"source": str(tiny_control.sdxl), "family": "sdxl", "kinds": ["depth"]},
            "xl-union": {
                "source": str(tiny_control.sdxl_union),
                "family": "sdxl",
                "modes": {"pose": 0, "depth": 1, "canny": 3, "lineart": 3},
                "licence": "apache-2.0",
            },
        },
        "depth_model": str(tiny_control.depth),
        "pose_model": str(tiny_control.pose),
    }


@pytest.fixture
async def local(
    make_local: Callable[..., LocalProvider], tiny_control: TinyControl
) -> AsyncIterator[LocalProvider]:
    provider = make_local(**controlnets(tiny_control))
    await provider.start()
    yield provider
    await provider.close()


async def run(provider: LocalProvider, model: str, **options: Any) -> GenerationResult:
    request = provider.prepare(GenerationRequest("a cat", seed=7, model=model, **options))
    return await provider.generate(request, lambda _: None, CancelToken())


def pixels(result: GenerationResult) -> np.ndarray:
    return np.asarray(result.images[0].image, dtype=np.int16)


def controlled(kind: ControlKind, **settings: float) -> dict[str, Any]:
    return {"control": Control(kind, **settings), "control_image": picture()}


async def test_sd_follows_a_canny_map_and_returns_it(local: LocalProvider) -> None:
    plain = await run(local, "tiny")
    result = await run(local, "tiny", **controlled(ControlKind.CANNY))
    assert np.abs(pixels(result) - pixels(plain)).max() > 0
    assert "control_map" not in plain.info
    with Image.open(io.BytesIO(result.info["control_map"])) as shown:
        assert shown.size == (64, 64)
        expected = maps.canny(maps.decode(picture()), (64, 64))
        assert shown.convert("RGB").tobytes() == expected.tobytes()


async def test_the_control_strength_and_range_change_the_picture(local: LocalProvider) -> None:
    full = await run(local, "tiny", **controlled(ControlKind.CANNY, strength=1.0))
    none = await run(local, "tiny", **controlled(ControlKind.CANNY, strength=0.0))
    late = await run(local, "tiny", **controlled(ControlKind.CANNY, start=0.5, end=1.0))
    plain = await run(local, "tiny")
    assert np.abs(pixels(full) - pixels(none)).max() > 0
    assert np.abs(pixels(full) - pixels(late)).max() > 0
    assert np.abs(pixels(none) - pixels(plain)).max() <= 1


async def test_sd_img2img_follows_the_map(local: LocalProvider) -> None:
    start = {"mode": Mode.IMG2IMG, "init_image": picture(), "strength": 0.8}
    plain = await run(local, "tiny", **start)
    result = await run(local, "tiny", **start, **controlled(ControlKind.CANNY))
    assert result.images[0].image.size == (64, 64)
    assert np.abs(pixels(result) - pixels(plain)).max() > 0


async def test_sdxl_follows_a_depth_map_from_the_depth_model(local: LocalProvider) -> None:
    plain = await run(local, "tiny-xl")
    result = await run(local, "tiny-xl", **controlled(ControlKind.DEPTH), count=2)
    assert len(result.images) == 2
    assert np.abs(pixels(result) - pixels(plain)).max() > 0
    with Image.open(io.BytesIO(result.info["control_map"])) as shown:
        grey = np.asarray(shown.convert("L"))
    assert shown.size == (64, 64)
    assert grey.min() == 0 and grey.max() == 255


@pytest.mark.parametrize("kind", [ControlKind.POSE, ControlKind.LINEART])
async def test_sdxl_union_follows_its_kinds(local: LocalProvider, kind: ControlKind) -> None:
    plain = await run(local, "tiny-xl")
    result = await run(local, "tiny-xl", **controlled(kind))
    assert np.abs(pixels(result) - pixels(plain)).max() > 0
    assert result.info["control_map"].startswith(b"\x89PNG")


def test_models_say_which_maps_they_follow(
    make_local: Callable[..., LocalProvider], tiny_control: TinyControl
) -> None:
    provider = make_local(**controlnets(tiny_control))
    assert provider.model_info("tiny").controls == {ControlKind.CANNY}
    assert provider.model_info("tiny-xl").controls == set(ControlKind) - {ControlKind.AS_IS}
    without_pose = make_local(**{**controlnets(tiny_control), "pose_model": None})
    assert ControlKind.POSE not in without_pose.model_info("tiny-xl").controls
    assert make_local().model_info("tiny").controls == frozenset()


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"model": "tiny", **controlled(ControlKind.DEPTH)}, "tiny-xl can"),
        ({"model": "tiny", **controlled(ControlKind.CANNY, strength=2.5)}, "0 to 2"),
        ({"model": "tiny", **controlled(ControlKind.CANNY, start=0.6, end=0.6)}, "start < end"),
        ({"model": "tiny", **controlled(ControlKind.CANNY, start=-0.1)}, "start < end"),
        ({"model": "tiny", "control": Control(ControlKind.CANNY)}, "needs an image"),
        ({"model": "tiny", "control_image": picture()}, "needs a control type"),
        ({"model": "tiny-file", **controlled(ControlKind.AS_IS)}, "no model here can"),
    ],
)
def test_controls_a_model_cannot_follow_are_refused_up_front(
    make_local: Callable[..., LocalProvider],
    tiny_control: TinyControl,
    options: dict[str, Any],
    message: str,
) -> None:
    provider = make_local(**controlnets(tiny_control))
    with pytest.raises(InvalidRequest, match=message):
        provider.prepare(GenerationRequest("a cat", seed=7, **options))


def test_a_control_on_a_canvas_mode_is_refused(
    make_local: Callable[..., LocalProvider], tiny_control: TinyControl
) -> None:
    provider = make_local(**controlnets(tiny_control))
    mask = Image.new("L", (96, 96), 0)
    ImageDraw.Draw(mask).rectangle([0, 0, 40, 40], fill=255)
    buffer = io.BytesIO()
    mask.save(buffer, format="PNG")
    request = GenerationRequest(
        "a cat",
        seed=7,
        model="tiny",
        mode=Mode.INPAINT,
        init_image=picture(),
        mask_image=buffer.getvalue(),
        **controlled(ControlKind.CANNY),
    )
    with pytest.raises(InvalidRequest, match="with img2img"):
        provider.prepare(request)


def test_jobs_with_a_control_are_not_batched(
    make_local: Callable[..., LocalProvider], tiny_control: TinyControl
) -> None:
    provider = make_local(**controlnets(tiny_control))
    plain = provider.prepare(GenerationRequest("a cat", seed=7, model="tiny"))
    steered = provider.prepare(
        GenerationRequest("a cat", seed=7, model="tiny", **controlled(ControlKind.CANNY))
    )
    assert provider.batch_key(plain) != ""
    assert provider.batch_key(steered) == ""


async def test_a_controlled_job_cancels_at_the_next_step(local: LocalProvider) -> None:
    token = CancelToken()

    def cancel_at_first_step(_: object) -> None:
        token.cancel()

    request = local.prepare(
        GenerationRequest("a cat", seed=7, model="tiny", **controlled(ControlKind.CANNY))
    )
    with pytest.raises(GenerationCancelled):
        await local.generate(request, cancel_at_first_step, token)
    after = await run(local, "tiny", **controlled(ControlKind.CANNY))  # still usable
    assert after.info["control_map"]


async def test_image_k_of_a_controlled_request_is_what_its_seed_gives_alone(
    local: LocalProvider,
) -> None:
    both = await run(local, "tiny", count=2, **controlled(ControlKind.CANNY))
    second = await local.generate(
        local.prepare(
            GenerationRequest("a cat", seed=8, model="tiny", **controlled(ControlKind.CANNY))
        ),
        lambda _: None,
        CancelToken(),
    )
    difference = np.abs(np.asarray(both.images[1].image, dtype=np.int16) - pixels(second)).max()
    assert difference <= 1


async def test_a_loaded_controlnet_counts_in_what_the_models_hold(local: LocalProvider) -> None:
    await run(local, "tiny")
    before = local.cache.held
    await run(local, "tiny", **controlled(ControlKind.CANNY))
    gpu, ram = local.cache.held
    assert gpu == before[0] == 0
    assert ram - before[1] == local.controlnets.held()[1] > 0


async def test_the_controlnets_of_another_family_are_dropped(local: LocalProvider) -> None:
    await run(local, "tiny", **controlled(ControlKind.CANNY))
    assert local.controlnets.loaded == ["sd-canny"]
    await run(local, "tiny-xl", **controlled(ControlKind.DEPTH))
    assert local.controlnets.loaded == ["xl-depth"]


async def test_sdxl_union_img2img_follows_the_map(local: LocalProvider) -> None:
    start = {"mode": Mode.IMG2IMG, "init_image": picture(), "strength": 0.8}
    plain = await run(local, "tiny-xl", **start)
    result = await run(local, "tiny-xl", **start, **controlled(ControlKind.POSE))
    assert np.abs(pixels(result) - pixels(plain)).max() > 0
