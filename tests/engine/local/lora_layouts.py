"""LoRAs for the tiny pipelines in the layouts the community shares them in: a diffusers LoRA
rewritten with kohya's (sd-scripts) names, the way diffusers' converters read them back, so
that the kohya file and its diffusers original hold the same low-rank updates."""

from __future__ import annotations

import re
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from tests.engine.local import tiny

# FLUX.1 double-block layers: diffusers name -> kohya (BFL) name, one to one.
FLUX_DOUBLE = {
    "attn.to_out.0": "img_attn_proj",
    "attn.to_add_out": "txt_attn_proj",
    "ff.net.0.proj": "img_mlp_0",
    "ff.net.2": "img_mlp_2",
    "ff_context.net.0.proj": "txt_mlp_0",
    "ff_context.net.2": "txt_mlp_2",
    "norm1.linear": "img_mod_lin",
    "norm1_context.linear": "txt_mod_lin",
}
# ...and the fused ones: BFL keeps q, k and v in one layer.
FLUX_FUSED = {
    "img_attn_qkv": ("attn.to_q", "attn.to_k", "attn.to_v"),
    "txt_attn_qkv": ("attn.add_q_proj", "attn.add_k_proj", "attn.add_v_proj"),
}
# The tiny SDXL UNet's levels in the original (SGM) layout kohya trains SDXL on.
SDXL_PREFIXES = tiny._unet_prefixes(2, 2, [False, True], [True, False])

Pairs = dict[str, tuple[torch.Tensor, torch.Tensor]]


def pairs(lora: Path) -> Pairs:
    """A diffusers LoRA file as module -> (down, up) matrices."""
    halves: dict[str, dict[str, torch.Tensor]] = {}
    for key, value in load_file(lora).items():
        match = re.fullmatch(r"(.+)\.lora_([AB])\.weight", key)
        assert match is not None, key
        halves.setdefault(match[1], {})[match[2]] = value
    return {module: (half["A"], half["B"]) for module, half in halves.items()}


def _put(out: dict[str, torch.Tensor], name: str, down: torch.Tensor, up: torch.Tensor) -> None:
    """One kohya layer; alpha equal to the rank keeps the scale of a diffusers LoRA saved with
    lora_alpha == r (1)."""
    out[f"{name}.lora_down.weight"] = down.contiguous()
    out[f"{name}.lora_up.weight"] = up.contiguous()
    out[f"{name}.alpha"] = torch.tensor(float(down.shape[0]))


def unet_to_kohya(lora: Path, out: Path, sgm: bool = False) -> Path:
    """A UNet LoRA with kohya names: diffusers module names for SD 1.x, the original layout's
    (``input_blocks_4_1_...``) for SDXL when ``sgm``."""
    state: dict[str, torch.Tensor] = {}
    for module, (down, up) in pairs(lora).items():
        assert module.startswith("unet."), module
        name = module.removeprefix("unet.")
        if sgm:
            name = tiny._rename(name + ".", SDXL_PREFIXES).removesuffix(".")
        _put(state, "lora_unet_" + name.replace(".", "_"), down, up)
    save_file(state, out)
    return out


def flux_to_kohya(lora: Path, out: Path, reference: Path) -> Path:
    """The double-block layers of a FLUX.1 LoRA with kohya names (q, k and v fused as one
    layer of three times the rank, its up matrix block-diagonal, which diffusers splits back
    exactly), and in ``reference`` the same layers in diffusers layout. Single blocks are left
    out: diffusers splits a kohya ``linear1`` at the real model's widths only."""
    layers = pairs(lora)
    state: dict[str, torch.Tensor] = {}
    kept: dict[str, torch.Tensor] = {}
    blocks = {
        int(m[1])
        for key in layers
        if (m := re.match(r"transformer\.transformer_blocks\.(\d+)\.", key))
    }
    for index in sorted(blocks):
        prefix = f"transformer.transformer_blocks.{index}."
        for fused, parts in FLUX_FUSED.items():
            if all(prefix + part in layers for part in parts):
                downs, ups = zip(*(layers[prefix + part] for part in parts), strict=True)
                name = f"lora_unet_double_blocks_{index}_{fused}"
                _put(state, name, torch.cat(downs), torch.block_diag(*ups))
                for part in parts:
                    kept |= _diffusers(prefix + part, *layers[prefix + part])
        for part, name in FLUX_DOUBLE.items():
            if prefix + part in layers:
                _put(state, f"lora_unet_double_blocks_{index}_{name}", *layers[prefix + part])
                kept |= _diffusers(prefix + part, *layers[prefix + part])
    save_file(state, out)
    reference.mkdir(parents=True, exist_ok=True)
    save_file(kept, reference / "pytorch_lora_weights.safetensors")
    return out


def _diffusers(module: str, down: torch.Tensor, up: torch.Tensor) -> dict[str, torch.Tensor]:
    return {f"{module}.lora_A.weight": down, f"{module}.lora_B.weight": up}


def build_unet_lora(pipeline_class: type, pipe_folder: Path, out: Path, seed: int = 1) -> Path:
    """``tiny.build_lora`` for any UNet pipeline class (SDXL's too)."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    pipe = pipeline_class.from_pretrained(pipe_folder)
    pipe.unet.add_adapter(
        LoraConfig(r=4, lora_alpha=4, target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    )
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in pipe.unet.named_parameters():
            if "lora_" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    layers = get_peft_model_state_dict(pipe.unet, save_embedding_layers=False)
    out.mkdir(parents=True, exist_ok=True)
    pipeline_class.save_lora_weights(out, unet_lora_layers=layers)
    return out / "pytorch_lora_weights.safetensors"
