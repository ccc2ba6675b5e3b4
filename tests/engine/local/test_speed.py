"""The speed switches per model (engine/local/speed.py) on the tiny FLUX.1 [dev] and SD
pipelines: attention backends, First Block Cache, regional compilation and LoRA hot-swap."""

from __future__ import annotations

import asyncio
import io
import logging
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch._dynamo
from diffusers.models.attention_dispatch import AttentionBackendName, _AttentionBackendRegistry
from PIL import Image
from torch._dynamo.utils import counters

from engine import (
    CancelToken,
    GenerationCancelled,
    GenerationRequest,
    GenerationResult,
    LoraRef,
    Progress,
    ProviderConfigError,
)
from engine.local import LocalProvider, speed
from engine.local.options import ModelSpec, parse_local_options
from engine.local.pipelines import ModelLoadError
from engine.registry import ProviderConfig, build_provider
from tests.engine.local.conftest import TinyModels
from tests.engine.local.families.chroma import build_chroma
from tests.engine.local.families.flux1 import build_flux1, build_flux1_lora
from tests.engine.local.families.flux2_klein import build_flux2_klein
from tests.engine.local.families.qwen_image import build_qwen_image
from tests.engine.local.families.sana import build_sana
from tests.engine.local.families.z_image import build_z_image
from tests.engine.local.precision import assert_same_picture

pytestmark = pytest.mark.timeout(300)

SMALL = {"width": 64, "height": 64, "steps": 3, "max_size": 256}


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def flux(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_flux1(tmp_path_factory.mktemp("speed") / "flux1-dev")


@pytest.fixture(scope="module")
def loras(flux: Path, tiny: TinyModels, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two rank-4 LoRAs for the tiny FLUX.1 on its attention projections (ink as a diffusers
    folder, pixel as a single file), beside the tiny SD's inkwash."""
    root = tmp_path_factory.mktemp("speed-loras")
    build_flux1_lora(flux, root / "ink", seed=1)
    pixel = build_flux1_lora(flux, root / "pixel-tmp", seed=2)
    pixel.rename(root / "pixel.safetensors")
    shutil.copytree(tiny.loras / "inkwash", root / "inkwash")
    return root


@pytest.fixture
def compile_traced(monkeypatch: pytest.MonkeyPatch) -> None:
    """torch.compile's real graph capture and guards, without inductor's C++ build."""
    monkeypatch.setattr(speed, "COMPILE_BACKEND", "eager")
    torch._dynamo.reset()


def provider(
    flux: Path, tiny: TinyModels, loras: Path, model: str, default: str | None, spec: Any
) -> LocalProvider:
    models = {
        "flux": {"source": str(flux), **SMALL, **(spec if model == "flux" else {})},
        "tiny": {"source": str(tiny.sd), **SMALL, **(spec if model == "tiny" else {})},
    }
    options = {
        "device": "cpu",
        "models": models,
        "default_model": default or model,
        "lora_dir": str(loras),
    }
    built = build_provider("local", ProviderConfig("local", options))
    assert isinstance(built, LocalProvider)
    return built


@pytest.fixture(scope="module")
def plain(flux: Path, tiny: TinyModels, loras: Path) -> Iterator[LocalProvider]:
    """Both models with no switch on: the images every switch is held to."""
    reference = provider(flux, tiny, loras, "flux", None, {})
    asyncio.run(reference.start())
    yield reference
    reference._executor.shutdown(wait=True)


@pytest.fixture
def make(flux: Path, tiny: TinyModels, loras: Path) -> Iterator[Callable[..., LocalProvider]]:
    """Providers whose ``model`` ("flux", or "tiny" for SD) has the given settings, started
    (which loads the default model, ``model`` unless told, and warms it up if compiled)."""
    started: list[LocalProvider] = []

    async def make(model: str = "flux", default: str | None = None, **spec: Any) -> LocalProvider:
        built = provider(flux, tiny, loras, model, default, spec)
        started.append(built)
        await built.start()
        return built

    yield make  # type: ignore[misc]
    for built in started:
        built._executor.shutdown(wait=True)


async def generate(
    provider: LocalProvider,
    seed: int = 7,
    loras: tuple[tuple[str, float], ...] = (),
    **options: Any,
) -> np.ndarray:
    request = provider.prepare(
        GenerationRequest(
            "a red boat",
            seed=seed,
            loras=tuple(LoraRef(name, weight) for name, weight in loras),
            **options,
        )
    )
    result: GenerationResult = await provider.generate(request, lambda _: None, CancelToken())
    return np.asarray(result.images[0].image, dtype=np.int16)


def compiled_graphs() -> int:
    """Graphs torch.compile has captured in this process: a recompilation adds one."""
    return int(counters["stats"]["unique_graphs"])


def transformer(provider: LocalProvider, model: str = "flux") -> Any:
    return provider.cache.get(model).text2img.transformer


# --- settings ------------------------------------------------------------------------------


def test_the_switches_are_off_by_default():
    spec = ModelSpec(source="some/repo")
    assert (spec.compile, spec.attention, spec.cache) == (False, "native", "none")


@pytest.mark.parametrize("name", ["_flash_3_hub", "flash_hub", "sage_hub"])
def test_attention_backends_that_download_kernels_are_refused_by_name(name: str):
    with pytest.raises(ProviderConfigError) as refused:
        parse_local_options({"models": {"m": {"source": "a/b", "attention": name}}})
    assert refused.value.key == "models.m.attention"
    assert f"{name} downloads its kernel from the hub" in str(refused.value)


def test_flash_attention_is_refused_at_start_where_flash_attn_is_not_installed():
    pytest.importorskip("torch")  # the check itself needs no torch; flash_attn is the point
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("flash_attn is installed here")
    with pytest.raises(ProviderConfigError, match="flash needs the flash_attn package"):
        parse_local_options({"models": {"m": {"source": "a/b", "attention": "flash"}}})


def test_an_unknown_attention_backend_is_refused_with_the_known_ones():
    with pytest.raises(ProviderConfigError, match="'fastest' is not one of native, "):
        parse_local_options({"models": {"m": {"source": "a/b", "attention": "fastest"}}})


# --- attention -----------------------------------------------------------------------------


def backends(provider: LocalProvider) -> set[Any]:
    return {
        module.processor._attention_backend
        for module in transformer(provider).modules()
        if hasattr(module, "processor")
    }


async def test_the_attention_backend_is_set_on_this_model_alone(make, plain):
    math = await make(attention="_native_math")
    assert backends(math) == {AttentionBackendName._NATIVE_MATH}
    assert backends(plain) == {None}
    assert _AttentionBackendRegistry._active_backend is AttentionBackendName.NATIVE
    assert_same_picture(await generate(math), await generate(plain), plain.dtype)


async def test_attention_is_refused_on_a_unet_naming_the_model(make):
    with pytest.raises(ModelLoadError, match="Model tiny: attention = '_native_math' has no eff"):
        await make("tiny", attention="_native_math")


# --- First Block Cache ---------------------------------------------------------------------


async def test_without_the_cache_setting_no_cache_runs(plain):
    assert not transformer(plain).is_cache_enabled
    assert plain.cache.get("flux").speed.cached is None


async def test_a_tiny_threshold_caches_nothing_and_keeps_the_image(make, plain):
    cached = await make(cache="first_block", cache_threshold=1e-9)
    assert transformer(cached).is_cache_enabled
    assert np.array_equal(await generate(cached), await generate(plain))


async def test_a_large_threshold_skips_steps_and_changes_the_image(make, plain):
    cached = await make(cache="first_block", cache_threshold=1.0)
    image, reference = await generate(cached, steps=4), await generate(plain, steps=4)
    assert image.shape == reference.shape and image.std() > 1
    assert not np.array_equal(image, reference)
    assert np.array_equal(await generate(cached, steps=4), image)  # a fresh cache every call


async def test_a_call_after_a_cancelled_one_starts_with_a_fresh_cache(make):
    cached = await make(cache="first_block", cache_threshold=1.0)
    fresh = await generate(cached, steps=4)
    token = CancelToken()

    def cancel_after_two(progress: Progress) -> None:
        if progress.step == 2:
            token.cancel()

    request = cached.prepare(GenerationRequest("a blue car", seed=3, steps=4))
    with pytest.raises(GenerationCancelled):
        await cached.generate(request, cancel_after_two, token)
    assert np.array_equal(await generate(cached, steps=4), fresh)


async def test_the_cache_runs_img2img_in_one_context(make, plain):
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 40, 40)).save(buffer, "PNG")
    cached = await make(cache="first_block", cache_threshold=1e-9)
    options = {"init_image": buffer.getvalue(), "strength": 0.7}
    assert np.array_equal(await generate(cached, **options), await generate(plain, **options))


async def test_jobs_on_a_cached_model_never_batch(make, plain):
    cached = await make(cache="first_block")
    request = GenerationRequest("a red boat", seed=7)
    assert cached.batch_key(cached.prepare(request)) == ""
    assert plain.batch_key(plain.prepare(request)) != ""


async def test_the_cache_is_refused_on_a_unet_naming_the_model(make):
    with pytest.raises(ModelLoadError, match=r"Model tiny .*UNet2DConditionModel has none"):
        await make("tiny", cache="first_block")


async def test_the_cache_is_refused_where_guidance_runs_two_passes_without_contexts(
    tmp_path: Path,
):
    chroma = build_chroma(tmp_path / "chroma")
    options = {
        "device": "cpu",
        "models": {"chroma": {"source": str(chroma), **SMALL, "cache": "first_block"}},
    }
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    with pytest.raises(ModelLoadError, match=r"Model chroma \(Chroma\).*ChromaPipeline"):
        await provider.start()
    provider._executor.shutdown(wait=True)


# --- compile and LoRA hot-swap -------------------------------------------------------------


async def test_compile_compiles_the_repeated_blocks_at_start(make, plain, compile_traced, caplog):
    with caplog.at_level(logging.INFO, logger="engine.local"):
        compiled = await make(compile=True)
    assert "Compiled flux in" in caplog.text
    assert "Model flux: repeated blocks compiled, LoRAs hot-swapped up to rank 64" in caplog.text
    model = transformer(compiled)
    blocks = [*model.transformer_blocks, *model.single_transformer_blocks]
    assert all(block._compiled_call_impl is not None for block in blocks)
    assert model._compiled_call_impl is None  # regional, not the whole model
    assert_same_picture(await generate(compiled), await generate(plain), plain.dtype)


async def test_loras_hot_swap_into_the_compiled_blocks_without_recompiling(
    make, plain, compile_traced
):
    jobs = [(("ink", 0.8),), (), (("pixel", 1.0),), (("ink", 0.5), ("pixel", 0.7)), ()]
    expected = [await generate(plain, loras=loras) for loras in jobs]
    assert not np.array_equal(expected[0], expected[1])
    compiled = await make(compile=True)  # the warm-up compiles, with the slot
    slot = compiled.cache.get("flux").speed.slot
    assert slot is not None and slot.rank == 64
    graphs = compiled_graphs()
    for loras, image in zip(jobs, expected, strict=True):
        assert_same_picture(await generate(compiled, loras=loras), image, plain.dtype)
    assert compiled_graphs() == graphs


async def test_a_lora_above_the_slot_rank_recompiles_and_still_gives_its_image(
    make, plain, compile_traced, caplog
):
    compiled = await make(compile=True, hotswap_rank=2)
    with caplog.at_level(logging.WARNING, logger="engine.local"):
        with_lora = await generate(compiled, loras=(("ink", 0.8),))
    assert "LoRA ink does not fit the hot-swap slot of model flux" in caplog.text
    assert "above hotswap_rank 2" in caplog.text
    assert_same_picture(with_lora, await generate(plain, loras=(("ink", 0.8),)), plain.dtype)
    assert_same_picture(await generate(compiled), await generate(plain), plain.dtype)


async def test_with_hotswap_rank_0_a_compiled_model_has_no_slot(make, compile_traced):
    compiled = await make(compile=True, hotswap_rank=0)
    assert compiled.cache.get("flux").speed.slot is None
    assert not getattr(transformer(compiled), "peft_config", {})


async def test_compile_and_the_cache_together_give_the_cached_image(make, compile_traced):
    cached = await make(cache="first_block", cache_threshold=1.0)
    both = await make(cache="first_block", cache_threshold=1.0, compile=True)
    expected = await generate(cached, steps=4)
    assert_same_picture(await generate(both, steps=4), expected, cached.dtype)


async def test_a_unet_compiles_whole_in_place_and_takes_loras(make, plain, compile_traced):
    compiled = await make("tiny", default="flux", compile=True)  # no warm-up: flux is default
    unet = compiled.cache.get("tiny").text2img.unet
    assert unet._compiled_call_impl is not None
    lora = (("inkwash", 0.8),)
    image = await generate(compiled, loras=lora, model="tiny")
    assert_same_picture(image, await generate(plain, loras=lora, model="tiny"), plain.dtype)


@pytest.mark.parametrize(
    ("build", "runs"),
    [
        (build_qwen_image, "runs"),  # true CFG, in "cond" and "uncond" contexts
        (build_flux2_klein, "cannot run: its First Block Cache fails"),  # diffusers#14280
        (build_z_image, "ZImageTransformer2DModel has none"),
        (build_sana, "SanaTransformer2DModel has none"),
    ],
)
async def test_the_cache_runs_on_the_families_that_have_it(tmp_path: Path, build, runs: str):
    folder = build(tmp_path / "model")
    settings = {"source": str(folder), **SMALL}
    options = {
        "device": "cpu",
        "models": {
            "cached": {**settings, "cache": "first_block", "cache_threshold": 1e-9},
            "plain": settings,
        },
    }
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    try:
        if runs != "runs":
            with pytest.raises(ModelLoadError, match=rf"Model cached .*{runs}.*; remove cache"):
                await provider.start()
            return
        await provider.start()
        cached, plain = await generate(provider), await generate(provider, model="plain")
        assert np.array_equal(cached, plain)
    finally:
        provider._executor.shutdown(wait=True)
