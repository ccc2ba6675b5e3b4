"""Quantized and single-file transformers load through the engine on the CPU and generate:
torchao int8 weight-only, a GGUF Q8_0 file written with the gguf package, a .safetensors
transformer beside the folder holding the rest of the pipeline."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Any

import diffusers
import numpy as np
import pytest
import torch
from PIL import Image

from engine.errors import ProviderConfigError
from engine.local import LocalProvider
from engine.local.families import by_key
from engine.local.memory.load import held, place
from engine.local.memory.recipe import Recipe
from engine.local.models import check_model
from engine.local.options import ModelSpec
from engine.provider import CancelToken
from engine.registry import ProviderConfig, build_provider
from engine.types import GenerationRequest

SMALL = {"width": 64, "height": 64, "steps": 2}


def engine(folder: Path, **settings: Any) -> LocalProvider:
    model = {"source": str(folder), **SMALL, **settings}
    # fp32 whatever this CPU's "auto" precision: the sizes asserted below are fp32's
    options = {"device": "cpu", "dtype": "float32", "models": {"flux": model}}
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    return provider


async def generate(provider: LocalProvider, **options: Any) -> np.ndarray:
    request = provider.prepare(GenerationRequest("a cat on the moon", seed=3, **options))
    result = await provider.generate(request, lambda _: None, CancelToken())
    return np.asarray(result.images[0].image, dtype=np.int16)


async def image(provider: LocalProvider) -> np.ndarray:
    """One image from a provider, started here if it is not yet, and closed."""
    await provider.start()
    try:
        return await generate(provider)
    finally:
        await provider.close()


@pytest.fixture(scope="module")
def plain(flux: Path) -> np.ndarray:
    return asyncio.run(image(engine(flux)))


def transformer_of(provider: LocalProvider) -> Any:
    return provider.cache.get("flux").text2img.transformer


async def test_torchao_int8_quantizes_the_transformer_and_generates_close_to_full_precision(
    flux: Path, plain: np.ndarray
):
    provider = engine(flux, quantize="torchao_int8")
    await provider.start()
    weight = transformer_of(provider).transformer_blocks[0].attn.to_q.weight
    assert type(weight).__name__ == "Int8Tensor"
    assert provider.cache.get("flux").recipe.summary == "cpu, transformer torchao_int8"
    quantized = await image(provider)
    assert not np.array_equal(quantized, plain)
    assert np.abs(quantized - plain).max() <= 8  # of 255


async def test_a_quantized_transformer_also_starts_from_an_image(flux: Path):
    """from_pipe would cast the quantized transformer and fail; the img2img pipeline is built
    over the same modules instead."""
    provider = engine(flux, quantize="torchao_int8")
    await provider.start()
    model = provider.cache.get("flux")
    await provider.close()
    assert model.image2img.transformer is model.text2img.transformer

    def run(colour: tuple[int, int, int]) -> np.ndarray:
        source = Image.new("RGB", (64, 64), colour)
        generator = torch.Generator("cpu").manual_seed(1)
        return model.image2img(
            "a cat",
            image=source,
            strength=0.5,
            height=64,
            width=64,
            num_inference_steps=4,
            generator=generator,
            output_type="np",
        ).images[0]

    red, blue = run((220, 30, 30)), run((30, 30, 220))
    assert red.shape == (64, 64, 3) and np.isfinite(red).all()
    assert np.abs(red - blue).max() > 0.01  # the input image is used


async def test_torchao_int8_text_encoders_still_generate(flux: Path, plain: np.ndarray):
    provider = engine(flux, quantize_text_encoders="torchao_int8")
    await provider.start()
    encoder = provider.cache.get("flux").text2img.text_encoder_2
    assert any(type(p).__name__ == "Int8Tensor" for p in encoder.parameters())
    assert np.abs(await image(provider) - plain).max() <= 8


async def test_a_gguf_transformer_loads_beside_the_folder_and_stays_quantized(
    flux: Path, flux_gguf: Path, plain: np.ndarray
):
    provider = engine(flux, transformer=str(flux_gguf))
    await provider.start()
    model = provider.cache.get("flux")
    weight = model.text2img.transformer.transformer_blocks[0].attn.to_q.weight
    assert (type(weight).__name__, weight.dtype) == ("GGUFParameter", torch.uint8)
    assert model.recipe.summary == "cpu, transformer gguf"
    from_gguf = await image(provider)
    assert not np.array_equal(from_gguf, plain)
    assert np.abs(from_gguf - plain).max() <= 8


async def test_a_safetensors_transformer_file_gives_the_folder_s_own_image(
    flux: Path, flux_safetensors: Path, plain: np.ndarray
):
    assert np.array_equal(await image(engine(flux, transformer=str(flux_safetensors))), plain)


def test_held_bytes_count_what_each_precision_stores(flux: Path, flux_gguf: Path):
    full = diffusers.FluxTransformer2DModel.from_pretrained(flux, subfolder="transformer")
    _, full_bytes = held(full)
    assert full_bytes == sum(p.numel() * 4 for p in full.parameters())
    gguf = diffusers.FluxTransformer2DModel.from_single_file(
        str(flux_gguf),
        config=str(flux),
        subfolder="transformer",
        quantization_config=diffusers.GGUFQuantizationConfig(compute_dtype=torch.float32),
    )
    gpu, gguf_bytes = held(gguf)
    assert gpu == 0
    assert gguf_bytes < full_bytes * 0.6  # Q8_0: 34 bytes per 32 weights, biases in F32


@pytest.mark.parametrize(
    "recipe",
    [Recipe("model_offload"), Recipe("group_offload"), Recipe("gpu", fp8_storage=True)],
    ids=lambda recipe: recipe.summary,
)
def test_each_placement_applies_through_diffusers(flux: Path, recipe: Recipe):
    """The CUDA paths run here with the CPU standing for the GPU: the same diffusers calls,
    without streams. Offloading moves weights, not values, so the image is the same; fp8
    storage rounds the weights. (Sequential offload cannot: accelerate's hooks fail to put a
    weight back when the CPU is both the offload and the execution device.)"""

    def run(pipe: Any) -> np.ndarray:
        generator = torch.Generator("cpu").manual_seed(1)
        options = {"height": 64, "width": 64, "num_inference_steps": 2, "output_type": "np"}
        return pipe("a cat", generator=generator, **options).images

    plain = diffusers.FluxPipeline.from_pretrained(flux)
    pipe = diffusers.FluxPipeline.from_pretrained(flux)
    place(pipe, recipe, torch.device("cpu"), torch.float32)
    difference = np.abs(run(pipe) - run(plain)).max()
    if recipe.fp8_storage:
        weight = pipe.transformer.transformer_blocks[0].attn.to_q.weight
        assert weight.dtype == torch.float8_e4m3fn
        assert 0 < difference < 0.1
    else:
        assert difference < 1e-5


def test_every_family_names_a_transformer_class_that_loads_single_files():
    for key in ("sd", "sdxl", "sd3", "flux1", "chroma", "qwen-image", "z-image", "sana"):
        cls = getattr(diffusers, by_key(key).transformer)
        assert hasattr(cls, "from_single_file"), key


@pytest.mark.parametrize(
    ("settings", "key"),
    [
        ({"quantize": "nf4"}, "models.flux.quantize"),
        ({"quantize_text_encoders": "int8"}, "models.flux.quantize_text_encoders"),
        ({"fp8_storage": True}, "models.flux.fp8_storage"),
        ({"memory": "group_offload"}, "models.flux.memory"),
    ],
)
def test_settings_the_cpu_cannot_run_stop_start_up(flux: Path, settings: dict[str, Any], key):
    with pytest.raises(ProviderConfigError) as caught:
        engine(flux, **settings)
    assert caught.value.key == key


@pytest.mark.parametrize(
    ("settings", "words"),
    [
        ({"transformer": "finetune.ckpt"}, "not a .safetensors or .gguf file"),
        ({"source": "model.safetensors", "config": ".", "transformer": "t.gguf"}, "whole-pipeline"),
        ({"source": "model.safetensors", "config": ".", "quantize": "torchao_int8"}, "whole"),
        ({"quantize": "int4"}, "quantize"),
    ],
)
def test_memory_settings_of_the_wrong_shape_are_refused(flux: Path, settings, words):
    with pytest.raises(ProviderConfigError) as caught:
        build_provider(
            "local",
            ProviderConfig(
                "local", {"device": "cpu", "models": {"flux": {"source": str(flux), **settings}}}
            ),
        )
    assert words in str(caught.value)


def test_models_check_names_a_missing_transformer_file(flux: Path, tmp_path: Path):
    spec = ModelSpec(source=str(flux), transformer=str(tmp_path / "flux1-dev-Q4_K_S.gguf"))
    state = check_model("flux", spec, None, online=False)
    assert state.problem is not None
    assert state.problem.startswith("its transformer ") and "does not exist" in state.problem
    assert check_model("flux", ModelSpec(source=str(flux)), None, online=False).usable


async def test_the_recipe_and_why_are_logged_when_a_model_loads(
    flux: Path, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO, logger="engine.local")
    provider = engine(flux, quantize="torchao_int8")
    await provider.start()
    await provider.close()
    planned = [r.getMessage() for r in caplog.records if r.name == "engine.local.memory.planner"]
    assert planned == [
        "Model flux: cpu, transformer torchao_int8 (everything in RAM; weights 768.3 KB)"
    ]
    loaded = next(r.getMessage() for r in caplog.records if "Loaded model flux" in r.getMessage())
    assert "cpu, transformer torchao_int8, 0 MB on the GPU, 1 MB in RAM" in loaded
