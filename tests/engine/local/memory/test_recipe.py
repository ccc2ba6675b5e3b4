"""The memory recipe is a pure function of the weights, the image size and the device: a
table of (family, card) -> recipe for the real models, refusals of settings that cannot
work, explicit settings kept as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from engine.errors import ProviderConfigError
from engine.local.families import by_key
from engine.local.hub import ModelLoadError
from engine.local.memory import catalogue
from engine.local.memory.catalogue import CARDS, REAL_MODELS, WITH_BITSANDBYTES, card
from engine.local.memory.recipe import (
    GiB,
    Hardware,
    Wanted,
    Weights,
    choose_recipe,
    headroom,
)

FLUX = by_key("flux1")
OFFLOAD = "model offload"
FP8 = "model offload, transformer in fp8 storage"
GROUP = "group offload"

# What auto picks on 8 / 12 / 16 / 24 / 48 GB cards with the `local` extra (torchao, gguf),
# at each family's default size.
AUTO = {
    "Stable Diffusion 1.5": ("gpu", "gpu", "gpu", "gpu", "gpu"),
    "SDXL": (OFFLOAD, "gpu", "gpu", "gpu", "gpu"),
    "SD 3.5 Medium": (
        "model offload, text encoders torchao_int8",
        OFFLOAD,
        "gpu, text encoders torchao_int8",
        "gpu",
        "gpu",
    ),
    "SD 3.5 Large": (GROUP, FP8, FP8, OFFLOAD, "gpu"),
    "FLUX.1 [schnell]": (GROUP, GROUP, FP8, FP8, "gpu"),
    "FLUX.1 [dev]": (GROUP, GROUP, FP8, FP8, "gpu"),
    "FLUX.1 [dev] GGUF Q8_0": (
        "group offload, transformer gguf",
        "group offload, transformer gguf",
        "model offload, transformer gguf",
        "gpu, transformer gguf, text encoders torchao_int8",
        "gpu, transformer gguf",
    ),
    "FLUX.1 [dev] GGUF Q4_K_S": (
        "group offload, transformer gguf",
        "model offload, transformer gguf",
        "gpu, transformer gguf, text encoders torchao_int8",
        "gpu, transformer gguf",
        "gpu, transformer gguf",
    ),
    "FLUX.1 Kontext [dev]": (GROUP, GROUP, FP8, FP8, "gpu"),
    "FLUX.1 Fill [dev]": (GROUP, GROUP, FP8, FP8, "gpu"),
    "Chroma": (GROUP, FP8, FP8, OFFLOAD, "gpu"),
    "Qwen-Image": (GROUP, GROUP, GROUP, GROUP, OFFLOAD),
    "Z-Image-Turbo": (GROUP, FP8, OFFLOAD, "gpu", "gpu"),
    "FLUX.2 [klein] 4B": (
        "model offload, transformer in fp8 storage, text encoders torchao_int8",
        OFFLOAD,
        "gpu, text encoders torchao_int8",
        "gpu",
        "gpu",
    ),
    "FLUX.2 [klein] 9B": (
        GROUP,
        "model offload, transformer in fp8 storage, text encoders torchao_int8",
        "model offload, transformer in fp8 storage, text encoders torchao_int8",
        OFFLOAD,
        "gpu",
    ),
    "Sana 1600M": (OFFLOAD, "gpu", "gpu", "gpu", "gpu"),
    "Sana-Sprint 1.6B": (OFFLOAD, "gpu", "gpu", "gpu", "gpu"),
}

# Where bitsandbytes is installed too, NF4 takes the place of group offload where it fits.
WITH_NF4 = {
    ("FLUX.1 [dev]", 12): "model offload, transformer nf4",
    ("FLUX.1 Kontext [dev]", 12): "model offload, transformer nf4",
    ("FLUX.1 Fill [dev]", 12): "model offload, transformer nf4",
    ("Qwen-Image", 16): "model offload, transformer nf4, text encoders torchao_int8",
    ("Qwen-Image", 24): "model offload, transformer nf4",
    ("Z-Image-Turbo", 8): "model offload, transformer nf4, text encoders torchao_int8",
    ("FLUX.2 [klein] 9B", 8): "model offload, transformer nf4, text encoders nf4",
}


@pytest.mark.parametrize("model", REAL_MODELS, ids=lambda model: model.name)
def test_auto_picks_the_recipe_of_the_table_for_each_card(model: catalogue.RealModel):
    picked = tuple(catalogue.cell(catalogue.auto(model, gb, card(gb).backends)) for gb in CARDS)
    assert tuple(cell.rsplit(" (", 1)[0] for cell in picked) == AUTO[model.name]


@pytest.mark.parametrize(("name", "gigabytes"), list(WITH_NF4))
def test_with_bitsandbytes_auto_prefers_nf4_to_group_offload(name: str, gigabytes: int):
    model = next(model for model in REAL_MODELS if model.name == name)
    recipe = catalogue.auto(model, gigabytes, WITH_BITSANDBYTES)
    assert recipe is not None and recipe.summary == WITH_NF4[name, gigabytes]


def test_every_auto_recipe_fits_its_card_and_says_why():
    for model in REAL_MODELS:
        for gigabytes in CARDS:
            recipe = catalogue.auto(model, gigabytes, WITH_BITSANDBYTES)
            assert recipe is not None
            free = card(gigabytes).free
            assert recipe.peak <= free - headroom(free)
            assert recipe.reason.startswith("auto: ")
            assert f"{model.size[0]}x{model.size[1]}" in recipe.reason


def test_the_reason_names_the_better_recipe_that_did_not_fit():
    flux = next(model for model in REAL_MODELS if model.name == "FLUX.1 [dev]")
    recipe = catalogue.auto(flux, 24, card(24).backends)
    assert recipe is not None
    assert recipe.reason.startswith("auto: gpu would need about 33.4 GiB; ")
    assert "model offload, transformer in fp8 storage needs about 13.2 GiB" in recipe.reason


@given(
    denoiser=st.integers(0, 60 * GiB),
    encoder=st.integers(0, 20 * GiB),
    free=st.integers(1 * GiB, 80 * GiB),
    side=st.sampled_from([512, 768, 1024, 1328, 2048]),
)
def test_auto_never_picks_a_recipe_over_the_free_vram(denoiser, encoder, free, side):
    weights = Weights(denoiser, (encoder,), vae=GiB // 6)
    hardware = Hardware("cuda", free, bf16=True, fp8=True)
    try:
        recipe = choose_recipe(FLUX, weights, (side, side), hardware)
    except ModelLoadError as err:
        assert "no memory recipe fits" in str(err)
        return
    assert recipe.peak <= free - headroom(free)


def test_a_gpu_too_small_for_anything_gets_an_error_not_a_recipe():
    weights = Weights(24 * GiB, (9 * GiB,), vae=GiB // 6)
    with pytest.raises(ModelLoadError, match=r"no memory recipe fits .* at 2048x2048"):
        choose_recipe(FLUX, weights, (2048, 2048), Hardware("cuda", 4 * GiB))


def test_on_the_cpu_everything_stays_in_ram():
    weights = Weights(24 * GiB, (9 * GiB,), vae=GiB // 6, itemsize=4)
    recipe = choose_recipe(FLUX, weights, (1024, 1024), Hardware("cpu"))
    assert (recipe.placement, recipe.quantize, recipe.gpu, recipe.peak) == ("cpu", "none", 0, 0)
    assert recipe.ram == weights.total
    assert recipe.reason == "everything in RAM"


def test_on_the_cpu_torchao_int8_is_kept_and_shrinks_the_transformer():
    weights = Weights(24 * GiB, (9 * GiB,), vae=GiB // 6, itemsize=4)
    wanted = Wanted(quantize="torchao_int8")
    recipe = choose_recipe(FLUX, weights, (1024, 1024), Hardware("cpu"), wanted)
    assert (recipe.placement, recipe.quantize) == ("cpu", "torchao_int8")
    assert recipe.ram == int(24 * GiB / 4 * 1.1) + 9 * GiB + GiB // 6


def test_an_explicit_memory_setting_is_kept_even_where_auto_would_not_pick_it():
    weights = Weights(24 * GiB, (9 * GiB,), vae=GiB // 6)
    recipe = choose_recipe(FLUX, weights, (1024, 1024), card(24), Wanted(memory="gpu"))
    assert recipe.summary == "gpu"
    assert "as set" in recipe.reason and "expect out-of-memory errors" in recipe.reason
    offload = choose_recipe(FLUX, weights, (1024, 1024), card(48), Wanted(memory="model_offload"))
    assert offload.summary == "model offload"  # no quantization added to a placement set


def test_an_explicit_precision_stays_while_auto_picks_the_placement():
    weights = Weights(24 * GiB, (9 * GiB,), vae=GiB // 6)
    nf4 = Wanted(quantize="nf4")
    recipe = choose_recipe(FLUX, weights, (1024, 1024), card(48, WITH_BITSANDBYTES), nf4)
    assert recipe.summary == "gpu, transformer nf4"
    no_fp8 = Wanted(fp8_storage=False)
    recipe = choose_recipe(FLUX, weights, (1024, 1024), card(24), no_fp8)
    assert recipe.summary == GROUP
    encoders = Wanted(quantize_text_encoders="torchao_int8")
    recipe = choose_recipe(FLUX, weights, (1024, 1024), card(48), encoders)
    assert recipe.summary == "gpu, text encoders torchao_int8"


CUDA = Hardware("cuda", 24 * GiB, bf16=True, fp8=False, backends=frozenset({"torchao", "gguf"}))


@pytest.mark.parametrize(
    ("wanted", "hardware", "gguf", "key", "fix"),
    [
        (Wanted(quantize="nf4"), Hardware("cpu"), False, "quantize", "bitsandbytes does not run"),
        (Wanted(quantize="int8"), CUDA, False, "quantize", "pip install bitsandbytes"),
        (
            Wanted(quantize_text_encoders="nf4"),
            Hardware("mps"),
            False,
            "quantize_text_encoders",
            "does not run on MPS",
        ),
        (Wanted(quantize="torchao_fp8"), CUDA, False, "quantize", "compute capability 8.9"),
        (Wanted(quantize="torchao_fp8"), Hardware("cpu"), False, "quantize", "8.9"),
        (Wanted(quantize="torchao_int8"), Hardware("mps"), False, "quantize", "MPS"),
        (
            Wanted(quantize="torchao_int8"),
            Hardware("cuda", bf16=False),
            False,
            "quantize",
            "bf16",
        ),
        (Wanted(fp8_storage=True), Hardware("cpu"), False, "fp8_storage", "needs CUDA"),
        (Wanted(fp8_storage=True, quantize="torchao_int8"), CUDA, False, "fp8_storage", ""),
        (Wanted(fp8_storage=True), CUDA, True, "fp8_storage", "quantized transformer"),
        (Wanted(quantize="torchao_int8"), CUDA, True, "quantize", ".gguf transformer"),
        (Wanted(memory="model_offload"), Hardware("cpu"), False, "memory", "CUDA GPU"),
        (Wanted(memory="group_offload"), Hardware("mps"), False, "memory", '"auto" or "gpu"'),
        (
            Wanted(quantize="torchao_int8"),
            Hardware("cpu", backends=frozenset()),
            False,
            "quantize",
            "pip install torchao",
        ),
    ],
)
def test_settings_that_cannot_work_on_the_device_are_refused_by_name(
    wanted, hardware, gguf, key, fix
):
    weights = Weights(GiB, (GiB,), vae=GiB // 6, gguf=gguf)
    with pytest.raises(ProviderConfigError) as caught:
        choose_recipe(FLUX, weights, (1024, 1024), hardware, wanted, model="flux")
    assert caught.value.key == f"models.flux.{key}"
    assert fix in str(caught.value)


def test_docs_memory_md_holds_the_tables_this_module_makes():
    text = (Path(__file__).parents[4] / "docs" / "memory.md").read_text()
    assert catalogue.markdown() in text
    assert catalogue.markdown(WITH_BITSANDBYTES) in text
