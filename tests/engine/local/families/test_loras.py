"""LoRAs per family through the engine: applied for one job through the family's own diffusers
loader (diffusers and kohya layouts) and gone after it, to the pixel; a LoRA made for another
family refused by name before anything runs; one that fails to load named in the error, with
the model left clean."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from diffusers import FluxPipeline, FluxTransformer2DModel, StableDiffusionXLPipeline
from safetensors.torch import save_file

from engine import CancelToken, GenerationRequest, InvalidRequest, LoraRef, ProviderError
from engine.local import LocalProvider, speed
from engine.registry import ProviderConfig, build_provider
from tests.engine.local import lora_layouts
from tests.engine.local.conftest import TinyModels
from tests.engine.local.families.common import LORA_TARGETS
from tests.engine.local.families.flux2_klein import build_flux2_klein, build_flux2_klein_lora
from tests.engine.local.families.qwen_image import build_qwen_image, build_qwen_image_lora
from tests.engine.local.families.sana import build_sana, build_sana_lora
from tests.engine.local.families.z_image import build_z_image, build_z_image_lora
from tests.engine.local.tiny import build_lora

pytestmark = pytest.mark.timeout(300)

SMALL = {"width": 64, "height": 64, "steps": 2, "max_size": 256}
STYLES = {  # model -> its own LoRA in diffusers layout
    "sd": "sd-style",
    "sdxl": "sdxl-style",
    "flux": "flux-style",
    "chroma": "chroma-style",
    "sd3": "sd3-style",
    "qwen": "qwen-style",
    "z-image": "z-image-style",
    "klein": "klein-style",
    "sana": "sana-style",
}
# The families whose tiny pipelines are built here: (builder, LoRA builder)
BUILT = {
    "qwen": (build_qwen_image, build_qwen_image_lora),
    "z-image": (build_z_image, build_z_image_lora),
    "klein": (build_flux2_klein, build_flux2_klein_lora),
    "sana": (build_sana, build_sana_lora),
}


def _folder(lora: Path, out: Path) -> None:
    shutil.copytree(lora.parent, out)


def _wide_flux_lora(out: Path) -> None:
    """A FLUX.1 LoRA for a transformer 48 wide, where the tiny FLUX.1 is 32 wide."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    torch.manual_seed(0)
    transformer = FluxTransformer2DModel(
        in_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=3,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        axes_dims_rope=[4, 4, 8],
    )
    transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=LORA_TARGETS))
    out.mkdir()
    FluxPipeline.save_lora_weights(
        out, transformer_lora_layers=get_peft_model_state_dict(transformer)
    )


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("more-families")
    return {name: build(root / name) for name, (build, _) in BUILT.items()}


@pytest.fixture(scope="module")
def lora_dir(
    tiny: TinyModels,
    flux1_lora: Path,
    chroma_lora: Path,
    sd3_lora: Path,
    built: dict[str, Path],
    tmp_path_factory: pytest.TempPathFactory,
) -> Path:
    folder = tmp_path_factory.mktemp("loras-per-family")
    for name, (_, build_lora_for) in BUILT.items():
        build_lora_for(built[name], folder / STYLES[name])
    sd = build_lora(tiny.sd, folder / "sd-style")
    sdxl = lora_layouts.build_unet_lora(StableDiffusionXLPipeline, tiny.sdxl, folder / "sdxl-style")
    lora_layouts.unet_to_kohya(sd, folder / "sd-kohya.safetensors")
    lora_layouts.unet_to_kohya(sdxl, folder / "sdxl-kohya.safetensors", sgm=True)
    _folder(flux1_lora, folder / "flux-style")
    lora_layouts.flux_to_kohya(
        flux1_lora, folder / "flux-kohya.safetensors", folder / "flux-double-blocks"
    )
    _folder(chroma_lora, folder / "chroma-style")
    _folder(sd3_lora, folder / "sd3-style")
    save_file(  # kohya's SD 3.5 layout, which diffusers 0.42 does not convert
        {
            "lora_unet_joint_blocks_0_x_block_attn_qkv.lora_down.weight": torch.ones(4, 32),
            "lora_unet_joint_blocks_0_x_block_attn_qkv.lora_up.weight": torch.ones(96, 4),
        },
        folder / "sd3-kohya.safetensors",
    )
    _wide_flux_lora(folder / "flux-wide")
    return folder


@pytest.fixture
async def engine(
    tiny: TinyModels,
    flux1_dev_folder: Path,
    chroma_folder: Path,
    sd3_folder: Path,
    built: dict[str, Path],
    lora_dir: Path,
) -> AsyncIterator[LocalProvider]:
    sources = {
        "sd": tiny.sd,
        "sdxl": tiny.sdxl,
        "flux": flux1_dev_folder,
        "chroma": chroma_folder,
        "sd3": sd3_folder,
        **built,
    }
    options = {
        "device": "cpu",
        "models": {name: {"source": str(source), **SMALL} for name, source in sources.items()},
        "lora_dir": str(lora_dir),
        "max_loaded_models": len(sources),
    }
    provider = build_provider("local", ProviderConfig("local", options))
    assert isinstance(provider, LocalProvider)
    yield provider
    await provider.close()


async def draw(engine: LocalProvider, model: str, *loras: str, **options: Any) -> np.ndarray:
    refs = tuple(LoraRef(name) for name in loras)
    request = engine.prepare(GenerationRequest("a lighthouse", model=model, seed=3, loras=refs))
    result = await engine.generate(request, lambda _: None, CancelToken())
    return np.asarray(result.images[0].image, dtype=np.int16)


@pytest.mark.parametrize("model", list(STYLES))
async def test_a_lora_changes_the_image_and_the_next_job_is_drawn_without_it(
    engine: LocalProvider, model: str
):
    plain = await draw(engine, model)
    styled = await draw(engine, model, STYLES[model])
    assert np.abs(styled - plain).max() > 10
    assert np.array_equal(await draw(engine, model), plain)


@pytest.mark.parametrize(
    ("model", "kohya", "original"),
    [
        ("sd", "sd-kohya", "sd-style"),
        ("sdxl", "sdxl-kohya", "sdxl-style"),
        ("flux", "flux-kohya", "flux-double-blocks"),
    ],
)
async def test_a_kohya_lora_draws_what_its_diffusers_original_draws(
    engine: LocalProvider, model: str, kohya: str, original: str
):
    plain = await draw(engine, model)
    from_kohya = await draw(engine, model, kohya)
    assert np.abs(from_kohya - plain).max() > 10
    assert np.array_equal(from_kohya, await draw(engine, model, original))


@pytest.mark.parametrize(
    ("model", "lora", "made_for", "model_is"),
    [
        ("sd", "flux-style", "FLUX.1", "Stable Diffusion 1.x/2.x"),
        ("sd", "sdxl-kohya", "SDXL", "Stable Diffusion 1.x/2.x"),
        ("sdxl", "sd3-kohya", "Stable Diffusion 3.5", "SDXL"),
        ("flux", "sd-style", "Stable Diffusion 1.x/2.x or SDXL", "FLUX.1 [dev]"),
        ("chroma", "sdxl-style", "SDXL", "Chroma"),
        ("sd3", "flux-kohya", "FLUX.1 or FLUX.2", "Stable Diffusion 3.5"),
        ("sd", "sd3-style", "Stable Diffusion 3.5, FLUX.1, FLUX.2 or Qwen-Image", "Stable"),
        ("flux", "klein-style", "FLUX.2", "FLUX.1 [dev]"),
        ("klein", "flux-style", "FLUX.1", "FLUX.2 [klein]"),
        ("z-image", "qwen-style", "Stable Diffusion 3.5, FLUX.1, FLUX.2 or Qwen-Image", "Z-Image"),
        ("qwen", "z-image-style", "Z-Image", "Qwen-Image"),
        ("sana", "sdxl-style", "SDXL", "Sana"),
        ("sdxl", "sana-style", "Sana", "SDXL"),
    ],
)
def test_a_lora_made_for_another_family_is_refused_by_name_before_anything_runs(
    engine: LocalProvider, model: str, lora: str, made_for: str, model_is: str
):
    request = GenerationRequest("a lighthouse", model=model, loras=(LoraRef(lora),))
    with pytest.raises(InvalidRequest, match="made for") as refused:
        engine.prepare(request)
    assert refused.value.field == "loras" and refused.value.value == lora
    assert f"made for {made_for}; model {model} is {model_is}" in refused.value.allowed
    assert engine.loaded_models() == []


async def test_a_lora_whose_family_its_names_do_not_tell_is_tried(engine: LocalProvider):
    # The tiny SD3 LoRA's layers have the names and widths of the tiny FLUX.1's double block.
    plain = await draw(engine, "flux")
    assert np.abs(await draw(engine, "flux", "sd3-style") - plain).max() > 10


@pytest.mark.parametrize(
    ("model", "loras", "reason"),
    [
        ("flux", ("flux-style", "flux-wide"), "other sizes"),
        ("sd3", ("sd3-kohya",), "none of its weights match this model's layers (kohya layout"),
    ],
)
async def test_a_lora_that_fails_to_load_is_named_and_leaves_the_model_clean(
    engine: LocalProvider, model: str, loras: tuple[str, ...], reason: str
):
    plain = await draw(engine, model)
    with pytest.raises(ProviderError, match=f"LoRA {loras[-1]} can't be applied to {model}") as err:
        await draw(engine, model, *loras)
    assert reason in str(err.value)
    assert np.array_equal(await draw(engine, model), plain)


async def test_on_a_compiled_model_a_lora_that_fails_to_load_is_named_and_the_slot_emptied(
    flux1_dev_folder: Path, lora_dir: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setattr(speed, "COMPILE_BACKEND", "eager")  # dynamo's guards, no C++ build
    torch._dynamo.reset()
    options = {
        "device": "cpu",
        "models": {"flux": {"source": str(flux1_dev_folder), **SMALL, "compile": True}},
        "lora_dir": str(lora_dir),
    }
    compiled = build_provider("local", ProviderConfig("local", options))
    assert isinstance(compiled, LocalProvider)
    try:
        plain = await draw(compiled, "flux")
        assert compiled.cache.get("flux").speed.slot is not None
        with pytest.raises(ProviderError, match="LoRA flux-wide can't be applied to flux"):
            await draw(compiled, "flux", "flux-style", "flux-wide")
        assert np.array_equal(await draw(compiled, "flux"), plain)
    finally:
        await compiled.close()


def test_autocomplete_offers_the_loras_that_may_fit_the_model(engine: LocalProvider):
    everything = engine.lora_names()
    assert "sd-style" in everything and "flux-style" in everything
    assert engine.lora_names("sd") == ["sd-kohya", "sd-style"]
    assert engine.lora_names("sdxl") == ["sd-kohya", "sd-style", "sdxl-kohya", "sdxl-style"]
    assert (
        engine.lora_names("chroma")
        == engine.lora_names("flux")
        == [
            "chroma-style",
            "flux-double-blocks",
            "flux-kohya",
            "flux-style",
            "flux-wide",
            "qwen-style",
            "sd3-style",
        ]
    )
    assert "sd3-kohya" in engine.lora_names("sd3") and "flux-style" not in engine.lora_names("sd3")
    assert engine.lora_names("z-image") == ["z-image-style"]
    assert "klein-style" in engine.lora_names("klein") and "klein-style" not in engine.lora_names(
        "flux"
    )
    assert engine.loaded_models() == []
