"""The family a LoRA was made for is told from its file's header alone: each family's own layer
names (as diffusers' model classes and savers write them), kohya, original and xlabs layouts,
the widths of the real models and the base model the metadata names; unknown when it cannot
tell, and an unknown LoRA fits every model."""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Callable
from pathlib import Path
from typing import Any

import diffusers
import pytest
import torch
from safetensors.torch import save_file

from engine.local.families import FAMILIES
from engine.local.lora_families import LABELS, UNKNOWN, classify, lora_kind
from tests.engine.local import tiny

ATTENTION = ["to_q", "to_k", "to_v", "to_out.0", "add_q_proj", "add_k_proj", "add_v_proj"]
JOINT = {"flux1", "flux2", "sd3", "qwen-image"}


def _flux1() -> Any:
    return diffusers.FluxTransformer2DModel(
        in_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        pooled_projection_dim=32,
        axes_dims_rope=[4, 4, 8],
    )


def _chroma() -> Any:
    return diffusers.ChromaTransformer2DModel(
        in_channels=64,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=32,
        axes_dims_rope=[4, 4, 8],
        approximator_hidden_dim=32,
        approximator_layers=1,
        approximator_num_channels=16,
    )


def _sd3() -> Any:
    return diffusers.SD3Transformer2DModel(
        sample_size=8,
        patch_size=2,
        in_channels=16,
        num_layers=2,
        attention_head_dim=8,
        num_attention_heads=4,
        caption_projection_dim=32,
        joint_attention_dim=64,
        pooled_projection_dim=64,
        out_channels=16,
    )


def _qwen_image() -> Any:
    return diffusers.QwenImageTransformer2DModel(
        patch_size=2,
        in_channels=64,
        out_channels=16,
        num_layers=2,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=16,
        axes_dims_rope=(8, 4, 4),
    )


def _z_image() -> Any:
    return diffusers.ZImageTransformer2DModel(
        all_patch_size=(2,),
        all_f_patch_size=(1,),
        in_channels=16,
        dim=32,
        n_layers=2,
        n_refiner_layers=1,
        n_heads=2,
        n_kv_heads=2,
        cap_feat_dim=16,
        axes_dims=[8, 4, 4],
        axes_lens=[256, 32, 32],
    )


def _flux2() -> Any:
    return diffusers.Flux2Transformer2DModel(
        in_channels=128,
        num_layers=1,
        num_single_layers=1,
        attention_head_dim=16,
        num_attention_heads=2,
        joint_attention_dim=48,
        timestep_guidance_channels=256,
        axes_dims_rope=[4, 4, 4, 4],
        guidance_embeds=False,
    )


def _sana() -> Any:
    return diffusers.SanaTransformer2DModel(
        in_channels=32,
        out_channels=32,
        num_layers=1,
        num_attention_heads=2,
        attention_head_dim=4,
        num_cross_attention_heads=2,
        cross_attention_head_dim=4,
        cross_attention_dim=8,
        caption_channels=16,
        sample_size=32,
    )


def _sd_unet() -> Any:
    return diffusers.UNet2DConditionModel(**tiny.TWO_LEVEL_UNET, cross_attention_dim=32)


def _sdxl_unet() -> Any:
    return diffusers.UNet2DConditionModel(
        **tiny.TWO_LEVEL_UNET,
        attention_head_dim=(2, 4),
        use_linear_projection=True,
        transformer_layers_per_block=(1, 2),
        cross_attention_dim=64,
    )


def save_lora(model: Any, pipeline: str, targets: list[str], folder: Path) -> Path:
    """A LoRA on ``targets`` of ``model``, saved by the pipeline class's own saver."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    model.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=targets))
    layers = get_peft_model_state_dict(model, save_embedding_layers=False)
    part = "unet" if isinstance(model, diffusers.UNet2DConditionModel) else "transformer"
    getattr(diffusers, pipeline).save_lora_weights(folder, **{f"{part}_lora_layers": layers})
    return folder / "pytorch_lora_weights.safetensors"


# (model, its pipeline, the layers the LoRA adapts, what it tells, in words)
DIFFUSERS_LORAS: dict[str, tuple[Callable[[], Any], str, list[str], set[str], str]] = {
    "flux1": (_flux1, "FluxPipeline", ATTENTION, {"flux1"}, "FLUX.1"),
    "chroma": (_chroma, "ChromaPipeline", ATTENTION, {"flux1"}, "FLUX.1"),
    "chroma-approximator": (
        _chroma,
        "ChromaPipeline",
        [*ATTENTION, "in_proj", "out_proj"],
        {"flux1"},
        "Chroma",
    ),
    "sd3": (
        _sd3,
        "StableDiffusion3Pipeline",
        ATTENTION,
        JOINT,
        "Stable Diffusion 3.5, FLUX.1, FLUX.2 or Qwen-Image",
    ),
    "sd3-feed-forward": (
        _sd3,
        "StableDiffusion3Pipeline",
        [*ATTENTION, "ff.net.0.proj"],
        {"sd3", "flux1"},
        "Stable Diffusion 3.5 or FLUX.1",
    ),
    "qwen-image": (
        _qwen_image,
        "QwenImagePipeline",
        [*ATTENTION, "img_mlp.net.2", "txt_mlp.net.2"],
        {"qwen-image"},
        "Qwen-Image",
    ),
    "z-image": (_z_image, "ZImagePipeline", ["to_q", "to_k", "to_v"], {"z-image"}, "Z-Image"),
    "flux2": (
        _flux2,
        "Flux2KleinPipeline",
        [*ATTENTION, "to_qkv_mlp_proj"],
        {"flux2"},
        "FLUX.2",
    ),
    "sana": (_sana, "SanaPipeline", ["to_q", "to_k", "to_v"], {"sana"}, "Sana"),
    "sd": (
        _sd_unet,
        "StableDiffusionPipeline",
        ["to_q", "to_k", "to_v"],
        {"sd", "sdxl"},
        "Stable Diffusion 1.x/2.x or SDXL",
    ),
    "sdxl": (_sdxl_unet, "StableDiffusionXLPipeline", ["to_q", "to_k", "to_v"], {"sdxl"}, "SDXL"),
}


@pytest.mark.parametrize("case", list(DIFFUSERS_LORAS))
def test_a_diffusers_lora_is_told_by_its_models_layer_names(case: str, tmp_path: Path):
    build, pipeline, targets, shapes, label = DIFFUSERS_LORAS[case]
    torch.manual_seed(0)
    kind = lora_kind(save_lora(build(), pipeline, targets, tmp_path))
    assert (kind.shapes, kind.label, kind.layout) == (shapes, label, "diffusers")


def test_every_family_names_a_shape_the_detector_knows():
    assert {family.lora_shape for family in FAMILIES} == set(LABELS)


def lora(names: dict[str, tuple[int, int]], rank: int = 16) -> dict[str, tuple[int, ...]]:
    """Header shapes of a LoRA on layers (name -> (in, out)), in kohya's own naming when the
    names start with lora_ and diffusers' otherwise."""
    shapes: dict[str, tuple[int, ...]] = {}
    for name, (width, out) in names.items():
        if name.startswith("lora_"):
            shapes |= {
                f"{name}.lora_down.weight": (rank, width),
                f"{name}.lora_up.weight": (out, rank),
            }
            shapes[f"{name}.alpha"] = ()
        else:
            shapes |= {f"{name}.lora_A.weight": (rank, width), f"{name}.lora_B.weight": (out, rank)}
    return shapes


def joint_blocks(count: int, width: int) -> dict[str, tuple[int, int]]:
    return {
        f"transformer.transformer_blocks.{block}.attn.{layer}": (width, width)
        for block in range(count)
        for layer in ("to_q", "to_k", "add_q_proj", "to_add_out")
    }


# Real LoRAs as their headers have them (a layer or two each): (shapes, metadata) -> shapes
REAL_LORAS: dict[str, tuple[dict[str, tuple[int, ...]], dict[str, str], set[str]]] = {
    "kohya SD 1.5": (
        lora(
            {
                "lora_unet_down_blocks_0_attentions_0_transformer_blocks_0_attn2_to_k": (768, 320),
                "lora_te_text_model_encoder_layers_0_self_attn_q_proj": (768, 768),
            }
        ),
        {"ss_base_model_version": "sd_v1"},
        {"sd"},
    ),
    "kohya SD 2.1, cross-attention 1024 wide": (
        lora({"lora_unet_down_blocks_1_attentions_0_transformer_blocks_0_attn2_to_v": (1024, 640)}),
        {},
        {"sd"},
    ),
    "kohya SDXL, original block names": (
        lora(
            {
                "lora_unet_input_blocks_4_1_transformer_blocks_0_attn2_to_k": (2048, 640),
                "lora_te1_text_model_encoder_layers_0_mlp_fc1": (768, 3072),
                "lora_te2_text_model_encoder_layers_0_mlp_fc1": (1280, 5120),
            }
        ),
        {"ss_base_model_version": "sdxl_base_v1-0"},
        {"sdxl"},
    ),
    "diffusers SDXL, cross-attention 2048 wide": (
        lora({"unet.down_blocks.1.attentions.0.transformer_blocks.0.attn2.to_k": (2048, 640)}),
        {},
        {"sdxl"},
    ),
    "old diffusers SD 1.5 (attention processors)": (
        {
            "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora"
            ".down.weight": (4, 320),
            "unet.down_blocks.0.attentions.0.transformer_blocks.0.attn1.processor.to_q_lora"
            ".up.weight": (320, 4),
        },
        {},
        {"sd"},
    ),
    "kohya FLUX.1": (
        lora(
            {
                "lora_unet_double_blocks_0_img_attn_qkv": (3072, 9216),
                "lora_unet_single_blocks_0_linear1": (3072, 21504),
            }
        ),
        {"ss_base_model_version": "flux1"},
        {"flux1"},
    ),
    "kohya FLUX.2 [klein] 4B": (
        lora(
            {
                "lora_unet_double_blocks_0_img_attn_qkv": (3072, 9216),
                "lora_unet_single_blocks_0_linear1": (3072, 27648),
            }
        ),
        {},
        {"flux2"},
    ),
    "ComfyUI FLUX.1": (
        {"diffusion_model.double_blocks.0.img_mod.lin.lora_A.weight": (16, 3072)},
        {},
        {"flux1"},
    ),
    "XLabs FLUX.1": (
        {
            "double_blocks.0.processor.proj_lora1.down.weight": (16, 3072),
            "double_blocks.0.processor.proj_lora1.up.weight": (3072, 16),
        },
        {},
        {"flux1"},
    ),
    "diffusers FLUX.1, double blocks only": (
        lora(joint_blocks(19, 3072)),
        {},
        {"flux1", "qwen-image"},
    ),
    "diffusers FLUX.1, double blocks only, metadata": (
        lora(joint_blocks(19, 3072)),
        {"modelspec.architecture": "flux-1-dev/lora"},
        {"flux1"},
    ),
    "diffusers SD 3.5 Large": (lora(joint_blocks(38, 2432)), {}, {"sd3"}),
    "diffusers SD 3.5 Medium": (lora(joint_blocks(2, 1536)), {}, {"sd3"}),
    "kohya SD 3.5": (
        lora(
            {
                "lora_unet_joint_blocks_0_x_block_attn_qkv": (1536, 4608),
                "lora_te2_text_model_encoder_layers_0_mlp_fc1": (1280, 5120),
            }
        ),
        {},
        {"sd3"},
    ),
    "diffusers Qwen-Image, attention only": (lora(joint_blocks(60, 3072)), {}, {"qwen-image"}),
    "kohya Qwen-Image": (
        lora({"lora_unet_transformer_blocks_0_img_mlp_net_0_proj": (3072, 12288)}),
        {},
        {"qwen-image"},
    ),
    "ai-toolkit Z-Image": (
        lora({"diffusion_model.layers.0.attention.to_q": (3840, 3840)}),
        {},
        {"z-image"},
    ),
    "Sana": (lora({"transformer.transformer_blocks.0.attn1.to_q": (2240, 2240)}), {}, {"sana"}),
    "names that tell nothing, metadata that does": (
        lora({"lora_te1_text_model_encoder_layers_0_mlp_fc1": (768, 3072)}),
        {"ss_base_model_version": "sdxl_base_v1-0"},
        {"sdxl"},
    ),
    "metadata that the names contradict": (
        lora({"unet.down_blocks.1.attentions.0.transformer_blocks.1.attn1.to_q": (640, 640)}),
        {"modelspec.architecture": "flux-1-dev/lora"},
        {"sdxl"},
    ),
    "names that contradict each other": (
        lora(
            {
                "unet.down_blocks.1.attentions.0.transformer_blocks.1.attn1.to_q": (640, 640),
                "transformer.single_transformer_blocks.0.attn.to_q": (3072, 3072),
            }
        ),
        {},
        set(),
    ),
    "a text encoder alone": (
        lora({"lora_te1_text_model_encoder_layers_0_mlp_fc1": (768, 3072)}),
        {},
        set(),
    ),
}


@pytest.mark.parametrize("case", list(REAL_LORAS))
def test_a_real_lora_is_told_by_its_names_widths_and_metadata(case: str):
    shapes, metadata, expected = REAL_LORAS[case]
    assert set(classify(shapes, metadata).shapes) == expected


def test_an_unknown_lora_fits_every_model_and_a_known_one_only_its_own():
    assert all(UNKNOWN.fits(family.lora_shape) for family in FAMILIES)
    flux = classify(lora({"transformer.single_transformer_blocks.0.attn.to_q": (32, 32)}), {})
    fits = {family.key for family in FAMILIES if flux.fits(family.lora_shape)}
    assert fits == {"flux1", "flux1-schnell", "flux1-kontext", "flux1-fill", "chroma"}
    assert flux.fits(None)  # a family that does not check its LoRAs


def test_the_layout_is_named():
    assert classify(REAL_LORAS["kohya FLUX.1"][0], {}).layout == "kohya"
    assert classify(REAL_LORAS["ComfyUI FLUX.1"][0], {}).layout == "original"
    assert classify(REAL_LORAS["XLabs FLUX.1"][0], {}).layout == "xlabs"


def write_header(path: Path, shapes: dict[str, tuple[int, ...]], metadata: dict[str, str]) -> None:
    """A .safetensors header whose tensors lie past the end of the file: only a reader that
    never touches tensor data can read it."""
    header: dict[str, Any] = {
        key: {"dtype": "F32", "shape": list(shape), "data_offsets": [0, 4]}
        for key, shape in shapes.items()
    }
    header["__metadata__"] = metadata
    data = json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(data)) + data)


def test_a_file_is_read_once_per_version(tmp_path: Path):
    path = tmp_path / "style.safetensors"
    write_header(path, *REAL_LORAS["kohya FLUX.1"][:2])
    first = lora_kind(path)
    assert first.label == "FLUX.1" and lora_kind(path) is first
    write_header(path, *REAL_LORAS["kohya SD 1.5"][:2])
    later = path.stat().st_mtime_ns + 10**9
    os.utime(path, ns=(later, later))
    assert lora_kind(path).label == "Stable Diffusion 1.x/2.x"


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not a safetensors file",
        struct.pack("<Q", 2**40) + b"{}",
        struct.pack("<Q", 2) + b"[]",
    ],
)
def test_an_unreadable_file_is_unknown(content: bytes, tmp_path: Path):
    path = tmp_path / "broken.safetensors"
    path.write_bytes(content)
    assert lora_kind(path) == UNKNOWN
    assert lora_kind(tmp_path / "missing.safetensors") == UNKNOWN


def test_real_tensors_are_not_needed_but_a_real_file_reads_the_same(tmp_path: Path):
    shapes = lora({"lora_unet_double_blocks_0_img_mod_lin": (32, 192)})
    save_file(
        {key: torch.zeros(shape) for key, shape in shapes.items()}, tmp_path / "a.safetensors"
    )
    write_header(tmp_path / "b.safetensors", shapes, {})
    assert lora_kind(tmp_path / "a.safetensors") == lora_kind(tmp_path / "b.safetensors")
