"""bf16, the CPU's "auto" precision where it runs natively: every feature gives the image fp32
gives for the same request and seed, within PSNR_FLOOR (40 dB, a root-mean-square difference
of 1 % of the pixel range; these tiny models land at 44-50 dB, SD-Turbo's architecture in
bench/cpu_paths.py higher); and a model runs whole in the precision chosen."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from engine import CancelToken, GenerationRequest, LoraRef, Mode, Progress
from engine.local import LocalProvider
from engine.local.samplers import MIN_STEPS, SAMPLERS
from engine.registry import ProviderConfig, build_provider
from tests.engine.local.conftest import TinyModels, local_options
from tests.engine.local.precision import PSNR_FLOOR, psnr
from tests.engine.local.tiny import build_tiny_decoder, build_upscaler

pytestmark = pytest.mark.timeout(300)

# A preview is a thumbnail of noisy latents halfway through, which bf16 holds to 8 significant
# bits: the latent projection lands at 28-33 dB (the tiny decoder's previews at 45 dB).
PREVIEW_PSNR_FLOOR = 25.0


def png(size: tuple[int, int]) -> bytes:
    pixels = np.random.default_rng(0).integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def start(options: dict[str, Any]) -> LocalProvider:
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    asyncio.run(provider.start())  # the provider keeps no loop: each test's own loop drives it
    return provider


@pytest.fixture(scope="module")
def by_precision(
    tiny: TinyModels, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, LocalProvider]]:
    """The same models in fp32 and in bf16, one thread each (tiny models run fastest so)."""
    decoder = build_tiny_decoder(tmp_path_factory.mktemp("bf16") / "taesd")
    options = local_options(tiny, threads=1, preview_every=1)
    options["models"]["tiny-taesd"] = {**options["models"]["tiny"], "tiny_decoder": str(decoder)}
    threads = torch.get_num_threads()
    providers = {dtype: start({**options, "dtype": dtype}) for dtype in ("float32", "bfloat16")}
    yield providers
    for provider in providers.values():
        asyncio.run(provider.close())
    torch.set_num_threads(threads)


async def both(
    providers: dict[str, LocalProvider], **options: Any
) -> dict[str, tuple[list[Image.Image], list[Image.Image]]]:
    """Each precision's images and previews for the same request."""
    out = {}
    for dtype, provider in providers.items():
        request = provider.prepare(GenerationRequest("a red boat", seed=7, **options))
        reports: list[Progress] = []
        result = await provider.generate(request, reports.append, CancelToken())
        previews = [r.preview for r in reports if r.preview is not None]
        out[dtype] = ([image.image for image in result.images], previews)
    return out


CASES = {
    "txt2img": {},
    "a batch of two": {"count": 2},
    "two LoRAs": {"loras": (LoraRef("inkwash", 1.0), LoraRef("pixelart", 0.5))},
    "img2img": {"mode": Mode.IMG2IMG, "init_image": png((64, 64)), "strength": 0.6, "steps": 5},
    "upscale": {"mode": Mode.UPSCALE, "init_image": png((64, 48))},
    "tiny decoder": {"model": "tiny-taesd"},
    "sdxl": {"model": "tiny-xl"},
}


@pytest.mark.parametrize("options", CASES.values(), ids=CASES.keys())
async def test_bf16_gives_the_fp32_image_and_previews(
    by_precision: dict[str, LocalProvider], options: dict[str, Any]
) -> None:
    out = await both(by_precision, **options)
    (fp32, fp32_previews), (bf16, bf16_previews) = out["float32"], out["bfloat16"]
    assert len(bf16) == len(fp32) == options.get("count", 1)
    assert len(bf16_previews) == len(fp32_previews)
    for a, b in zip(fp32, bf16, strict=True):
        assert psnr(a, b) >= PSNR_FLOOR
    for a, b in zip(fp32_previews, bf16_previews, strict=True):
        assert psnr(a, b) >= PREVIEW_PSNR_FLOOR


# DDIM is left out: on these random-weight models its updates amplify any perturbation (a
# 0.1 % change to the fp32 UNet's weights alone gives 17 dB at 20 steps), so comparing it would
# measure the tiny model, not the precision. test_local_engine runs it under "auto".
@pytest.mark.parametrize("sampler", sorted(set(SAMPLERS) - {"DDIM"}))
async def test_every_sampler_in_bf16_gives_its_fp32_image(
    by_precision: dict[str, LocalProvider], sampler: str
) -> None:
    out = await both(by_precision, sampler=sampler, steps=max(4, MIN_STEPS.get(sampler, 1)))
    [fp32], [bf16] = out["float32"][0], out["bfloat16"][0]
    assert psnr(fp32, bf16) >= PSNR_FLOOR


async def test_the_dedicated_upscaler_in_bf16_gives_its_fp32_image(
    tiny: TinyModels, tmp_path: Path
) -> None:
    upscaler = str(build_upscaler(tmp_path / "x4"))
    images = []
    for dtype in ("float32", "bfloat16"):
        provider = build_provider(
            "local", ProviderConfig("local", local_options(tiny, upscaler=upscaler, dtype=dtype))
        )
        assert isinstance(provider, LocalProvider)
        await provider.start()
        request = GenerationRequest(
            "a harbour", seed=3, mode=Mode.UPSCALE, init_image=png((32, 24))
        )
        result = await provider.generate(
            provider.prepare(request.replace(steps=3)), lambda _: None, CancelToken()
        )
        await provider.close()
        images.append(result.images[0].image)
    assert images[0].size == (128, 96)
    assert psnr(*images) >= PSNR_FLOOR


@pytest.mark.parametrize("dtype", ["float32", "bfloat16", "float16"])
async def test_every_module_of_a_model_runs_in_the_precision_chosen(
    tiny: TinyModels, tmp_path: Path, dtype: str
) -> None:
    """diffusers' from_pipe, which makes the img2img pipeline, casts the modules it shares to
    fp32 unless given the dtype: the text-to-image pipeline would silently run fp32 too."""
    options = local_options(tiny, dtype=dtype)
    options["models"]["tiny"] |= {"tiny_decoder": str(build_tiny_decoder(tmp_path / "taesd"))}
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    model = await provider._call(provider.cache.get, "tiny")
    await provider.close()
    wanted = getattr(torch, dtype)
    for pipe in (model.text2img, model.image2img):
        for name in ("unet", "vae", "text_encoder"):
            assert getattr(pipe, name).dtype is wanted, name
    assert model.tiny_decoder.dtype is wanted
