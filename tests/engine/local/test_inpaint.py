"""Inpaint and outpaint on the local engine: SD 1.x and SDXL through their inpaint siblings, and
dedicated 9-channel inpainting checkpoints, each loaded through the real loaders."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from engine import (
    CancelToken,
    GenerationCancelled,
    GenerationRequest,
    GenerationResult,
    InvalidRequest,
    LoraRef,
    Mode,
    Progress,
)
from engine.local import LocalProvider
from engine.local.families import by_key, recognise
from engine.local.families.dit import SANA
from engine.local.options import ModelSpec
from engine.local.pipelines import load_model
from engine.registry import ProviderConfig, build_provider
from tests.engine.local.conftest import TinyModels
from tests.engine.local.precision import assert_same_picture
from tests.engine.local.test_model_check import fill_cache
from tests.engine.local.tiny import build_safety_checker
from tests.engine.local.tiny_inpaint import (
    build_sd_inpaint,
    build_sdxl_inpaint,
    left_half,
    picture,
    png,
)

pytestmark = [pytest.mark.timeout(300), pytest.mark.usefixtures("one_torch_thread")]

WIDTH, HEIGHT = 96, 64
SMALL = {"width": 64, "height": 64, "steps": 3, "guidance": 5.0, "max_size": 256}


@dataclass(frozen=True)
class InpaintModels:
    sd: Path
    sdxl: Path


@pytest.fixture(scope="module")
def inpaint_models(tmp_path_factory: pytest.TempPathFactory) -> InpaintModels:
    root = tmp_path_factory.mktemp("inpaint-models")
    return InpaintModels(build_sd_inpaint(root / "sd"), build_sdxl_inpaint(root / "sdxl"))


def options(tiny: TinyModels, inpaint: InpaintModels, **more: Any) -> dict[str, Any]:
    return {
        "device": "cpu",
        "models": {
            "tiny": {"source": str(tiny.sd), **SMALL},
            "tiny-xl": {"source": str(tiny.sdxl), **SMALL},
            "sd-inpaint": {"source": str(inpaint.sd), **SMALL},
            "xl-inpaint": {"source": str(inpaint.sdxl), **SMALL},
            "sana": {"source": str(tiny.sd), "family": "sana"},  # never loaded
        },
        **more,
    }


def make(tiny: TinyModels, inpaint: InpaintModels, **more: Any) -> LocalProvider:
    provider = build_provider("local", ProviderConfig("local", options(tiny, inpaint, **more)))
    assert isinstance(provider, LocalProvider)
    return provider


@pytest.fixture
async def local(tiny: TinyModels, inpaint_models: InpaintModels) -> AsyncIterator[LocalProvider]:
    provider = make(tiny, inpaint_models)
    await provider.start()
    yield provider
    await provider.close()


def masked(provider: LocalProvider, model: str, mode: Mode = Mode.INPAINT, **more: Any):
    return provider.prepare(
        GenerationRequest(
            "a cat",
            model=model,
            mode=mode,
            seed=3,
            init_image=png(picture(WIDTH, HEIGHT)),
            mask_image=png(left_half(WIDTH, HEIGHT)),
            **more,
        )
    )


async def run(provider: LocalProvider, request: GenerationRequest, **kw: Any) -> GenerationResult:
    return await provider.generate(
        request, kw.get("progress", lambda _: None), kw.get("cancel", CancelToken())
    )


def array(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_a_dedicated_inpainting_checkpoint_is_its_familys_inpainting_variant(
    tiny: TinyModels, inpaint_models: InpaintModels
):
    assert recognise(inpaint_models.sd).key == "sd-inpaint"
    assert recognise(inpaint_models.sdxl).key == "sdxl-inpaint"
    assert recognise(tiny.sd).key == "sd"
    assert recognise(tiny.sdxl).key == "sdxl"


def test_model_info_says_which_models_inpaint(tiny: TinyModels, inpaint_models: InpaintModels):
    provider = make(tiny, inpaint_models)
    for name in ("tiny", "tiny-xl", "sd-inpaint", "xl-inpaint"):
        info = provider.model_info(name)
        assert info.takes(Mode.INPAINT) and info.takes(Mode.OUTPAINT)
        assert not info.takes(Mode.EDIT)
        assert "inpainting, outpainting" in info.summary()
    sana = provider.model_info("sana")
    assert not sana.takes(Mode.INPAINT) and not sana.takes(Mode.OUTPAINT)
    assert {Mode.INPAINT, Mode.OUTPAINT} <= provider.capabilities.modes
    assert Mode.EDIT not in provider.capabilities.modes


def test_a_provider_without_an_inpainting_model_does_not_offer_it(tiny: TinyModels):
    config = {"device": "cpu", "models": {"sana": {"source": str(tiny.sd), "family": "sana"}}}
    provider = build_provider("local", ProviderConfig("local", config))
    assert not provider.capabilities.modes & {Mode.INPAINT, Mode.OUTPAINT, Mode.EDIT}
    with pytest.raises(InvalidRequest, match="can't repaint a region"):
        masked(provider, "sana")  # type: ignore[arg-type]


def test_a_family_without_the_mode_refuses_it_naming_the_models_that_can(
    tiny: TinyModels, inpaint_models: InpaintModels
):
    provider = make(tiny, inpaint_models)
    with pytest.raises(InvalidRequest, match="can't paint past an image's edges") as caught:
        masked(provider, "sana", Mode.OUTPAINT)
    assert "tiny, tiny-xl, sd-inpaint, xl-inpaint can" in str(caught.value)
    with pytest.raises(InvalidRequest, match="edit an image by instruction"):
        masked(provider, "tiny", Mode.EDIT)


def test_the_family_check_refuses_a_request_that_slipped_past_the_provider():
    request = GenerationRequest("a cat", mode=Mode.INPAINT)
    with pytest.raises(InvalidRequest, match=r"\(Sana\) can.t repaint a region"):
        SANA.check(request, "sana", explicit_guidance=False)


def test_a_masked_request_draws_at_the_input_size_with_its_modes_strength(
    tiny: TinyModels, inpaint_models: InpaintModels
):
    provider = make(tiny, inpaint_models)
    plain = masked(provider, "tiny")
    assert plain.size == (WIDTH, HEIGHT)
    assert plain.strength == by_key("sd").inpaint_strength < 1
    assert masked(provider, "sd-inpaint").strength == 1.0
    assert masked(provider, "tiny", Mode.OUTPAINT).strength == 1.0
    assert masked(provider, "tiny", strength=0.5).strength == 0.5
    assert masked(provider, "tiny", width=128, height=64).size == (128, 64)


def test_a_masked_request_needs_a_mask_of_its_images_size(
    tiny: TinyModels, inpaint_models: InpaintModels
):
    provider = make(tiny, inpaint_models)
    image = png(picture(WIDTH, HEIGHT))
    with pytest.raises(InvalidRequest, match="needs a mask"):
        provider.prepare(GenerationRequest("a", model="tiny", mode=Mode.INPAINT, init_image=image))
    with pytest.raises(InvalidRequest, match="it is 32×32; the image is 96×64"):
        provider.prepare(
            GenerationRequest(
                "a",
                model="tiny",
                mode=Mode.INPAINT,
                init_image=image,
                mask_image=png(left_half(32, 32)),
            )
        )
    with pytest.raises(InvalidRequest, match="needs an input image"):
        provider.prepare(GenerationRequest("a", model="tiny", mode=Mode.OUTPAINT))


@pytest.mark.parametrize("model", ["tiny", "tiny-xl", "sd-inpaint", "xl-inpaint"])
@pytest.mark.parametrize("mode", [Mode.INPAINT, Mode.OUTPAINT])
async def test_inpainting_repaints_the_mask_and_keeps_the_rest(
    local: LocalProvider, model: str, mode: Mode
):
    result = await run(local, masked(local, model, mode, count=2))
    source = array(picture(WIDTH, HEIGHT))
    assert len(result.images) == 2
    for generated in result.images:
        assert generated.image.size == (WIDTH, HEIGHT)
        pixels = array(generated.image)
        # The kept half is the input's own pixels; the repainted half is new.
        assert np.array_equal(pixels[:, WIDTH // 2 :], source[:, WIDTH // 2 :])
        assert np.abs(pixels[:, : WIDTH // 2 - 2] - source[:, : WIDTH // 2 - 2]).mean() > 10
    assert [image.seed for image in result.images] == [3, 4]


async def test_inpainting_is_the_same_for_the_same_seed(local: LocalProvider):
    first = await run(local, masked(local, "tiny"))
    again = await run(local, masked(local, "tiny"))
    assert np.array_equal(array(first.images[0].image), array(again.images[0].image))


@pytest.mark.parametrize("model", ["sd-inpaint", "xl-inpaint"])
async def test_an_inpainting_checkpoint_also_draws_from_a_prompt_and_an_image(
    local: LocalProvider, model: str
):
    drawn = await run(local, local.prepare(GenerationRequest("a cat", model=model, seed=1)))
    assert drawn.images[0].image.size == (64, 64)
    redrawn = await run(
        local,
        local.prepare(
            GenerationRequest(
                "a cat",
                model=model,
                mode=Mode.IMG2IMG,
                seed=1,
                strength=0.6,
                init_image=png(picture(WIDTH, HEIGHT)),
            )
        ),
    )
    assert redrawn.images[0].image.size == (64, 64)


async def test_inpainting_reports_progress_with_previews(
    tiny: TinyModels, inpaint_models: InpaintModels
):
    provider = make(tiny, inpaint_models, preview_every=1)
    await provider.start()
    reports: list[Progress] = []
    try:
        await run(provider, masked(provider, "sd-inpaint", steps=3), progress=reports.append)
    finally:
        await provider.close()
    assert [report.step for report in reports] == [1, 2, 3]
    previews = [report.preview for report in reports if report.preview is not None]
    assert len(previews) == 2  # every step but the last
    assert previews[0].size == (WIDTH // 2, HEIGHT // 2)  # the tiny VAE downsamples by 2


async def test_cancel_stops_an_inpaint_and_the_engine_goes_on(local: LocalProvider):
    token = CancelToken()

    def on_progress(progress: Progress) -> None:
        if progress.step == 1:
            token.cancel()

    with pytest.raises(GenerationCancelled):
        await run(local, masked(local, "tiny", steps=20), progress=on_progress, cancel=token)
    after = await run(local, masked(local, "tiny"))
    assert after.images[0].image.size == (WIDTH, HEIGHT)


def test_the_inpaint_sibling_shares_the_modules_in_their_own_precision(tiny: TinyModels):
    model = load_model(
        "tiny",
        ModelSpec(source=str(tiny.sd)),
        by_key("sd"),
        device=torch.device("cpu"),
        dtype=torch.bfloat16,
        cache_dir=None,
        compile_unet=False,
    )
    inpaint = model.pipeline(Mode.INPAINT)
    assert type(inpaint).__name__ == "StableDiffusionInpaintPipeline"
    assert model.pipeline(Mode.OUTPAINT) is inpaint
    assert inpaint.unet is model.text2img.unet
    assert model.text2img.unet.dtype == torch.bfloat16  # from_pipe would cast it to float32
    assert model.pipeline(Mode.EDIT) is None


async def test_an_inpainting_checkpoint_batches_txt2img_jobs_as_a_plain_model_does(
    local: LocalProvider,
):
    jobs = [
        local.prepare(GenerationRequest(prompt, model="sd-inpaint", seed=seed))
        for prompt, seed in (("a cat", 1), ("a dog", 2))
    ]
    assert local.batch_key(jobs[0]) == local.batch_key(jobs[1]) != ""
    together = await local.generate_batch(jobs, [lambda _: None] * 2, [CancelToken()] * 2)
    alone = await run(local, jobs[1])
    assert all(isinstance(outcome, GenerationResult) for outcome in together)
    second = together[1]
    assert isinstance(second, GenerationResult) and second.images[0].seed == 2
    assert_same_picture(second.images[0].image, alone.images[0].image, local.dtype)


async def test_a_lora_applies_to_one_inpaint_and_leaves_no_trace(
    tiny: TinyModels, inpaint_models: InpaintModels
):
    provider = make(tiny, inpaint_models, lora_dir=str(tiny.loras))
    await provider.start()
    try:
        plain = await run(provider, masked(provider, "tiny"))
        styled = await run(provider, masked(provider, "tiny", loras=(LoraRef("inkwash"),)))
        again = await run(provider, masked(provider, "tiny"))
    finally:
        await provider.close()
    before, after = array(plain.images[0].image), array(again.images[0].image)
    assert np.array_equal(before, after)
    assert np.abs(array(styled.images[0].image) - before).max() > 10


async def test_the_safety_checker_judges_inpainted_images(
    tiny: TinyModels, inpaint_models: InpaintModels, tmp_path: Path
):
    checker = build_safety_checker(tmp_path / "checker", True)
    provider = make(tiny, inpaint_models, safety_checker=str(checker))
    await provider.start()
    try:
        result = await run(provider, masked(provider, "sd-inpaint", count=2))
    finally:
        await provider.close()
    assert [image.flagged for image in result.images] == [True, True]


def test_the_provider_offers_inpainting_once_a_repo_that_can_is_downloaded(
    tiny: TinyModels, tmp_path: Path
):
    config = {
        "device": "cpu",
        "cache_dir": str(tmp_path / "hub"),
        "models": {"later": {"source": "someone/inpainter"}},  # neither cached nor well known
    }
    provider = build_provider("local", ProviderConfig("local", config))
    assert isinstance(provider, LocalProvider)
    assert Mode.INPAINT not in provider.capabilities.modes
    index = json.dumps({"_class_name": "StableDiffusionInpaintPipeline"}).encode()
    unet = json.dumps({"in_channels": 9}).encode()
    fill_cache(
        tmp_path / "hub",
        "someone/inpainter",
        {"model_index.json": index, "unet/config.json": unet},
    )
    assert provider.family("later", online=False).key == "sd-inpaint"
    assert {Mode.INPAINT, Mode.OUTPAINT} <= provider.capabilities.modes
