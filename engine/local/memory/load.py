"""Applying a recipe with diffusers' own APIs: quantization configs and a single-file
transformer passed to ``from_pretrained``, then the placement (on the device, model, group or
sequential offload) and fp8 layerwise storage; and counting what a loaded model holds where."""

from __future__ import annotations

import inspect
import json
from itertools import chain
from pathlib import Path
from typing import Any

import diffusers
import torch
from diffusers.hooks.group_offloading import apply_group_offloading
from diffusers.quantizers.pipe_quant_config import PipelineQuantizationConfig
from torch.utils._python_dispatch import is_traceable_wrapper_subclass

from engine.local.families import Family
from engine.local.memory.quantize import denoiser_config, text_encoder_config
from engine.local.memory.recipe import Recipe


def denoiser_name(family: Family) -> str:
    return "unet" if family.unet else "transformer"


def text_encoders(folder: Path) -> list[str]:
    index = json.loads((folder / "model_index.json").read_text())
    return sorted(
        name
        for name, entry in index.items()
        if name.startswith("text_encoder") and isinstance(entry, list) and entry[0] is not None
    )


def pipeline_arguments(
    transformer: Path | None, family: Family, recipe: Recipe, dtype: torch.dtype, folder: Path
) -> dict[str, Any]:
    """What ``from_pretrained`` takes besides the folder: the single-file transformer loaded
    in place of the folder's own, and the quantization of the transformer and text encoders."""
    arguments: dict[str, Any] = {}
    mapping: dict[str, Any] = {}
    if transformer is not None:
        arguments[denoiser_name(family)] = load_transformer(
            transformer, family, recipe, dtype, folder
        )
    elif recipe.quantize != "none":
        mapping[denoiser_name(family)] = denoiser_config(recipe.quantize, dtype)
    if recipe.quantize_text_encoders != "none":
        for name in text_encoders(folder):
            mapping[name] = text_encoder_config(recipe.quantize_text_encoders, dtype)
    if mapping:
        arguments["quantization_config"] = PipelineQuantizationConfig(quant_mapping=mapping)
    return arguments


def load_transformer(
    path: Path, family: Family, recipe: Recipe, dtype: torch.dtype, folder: Path
) -> Any:
    """The family's transformer (or UNet) from one .safetensors or .gguf file, its config from
    the pipeline folder, so nothing is asked of the hub. A GGUF file stays quantized in memory
    and is dequantized a layer at a time into ``dtype``."""
    options: dict[str, Any] = {}
    if recipe.quantize != "none":
        options["quantization_config"] = denoiser_config(recipe.quantize, dtype)
    return getattr(diffusers, family.transformer).from_single_file(
        str(path), config=str(folder), subfolder=denoiser_name(family), dtype=dtype, **options
    )


def sibling(pipe: Any, class_name: str) -> Any:
    """The family's other pipeline over the same modules, built by its constructor as
    ``from_pipe`` builds it (the modules, and the settings it takes from the first one's
    config) but without ``from_pipe``'s closing cast of every module to its ``dtype`` argument:
    fp32 unless given, which would put a half-precision model back in fp32, undo fp8 storage,
    and which diffusers refuses for a quantized transformer (GGUF, torchao)."""
    cls = getattr(diffusers, class_name)
    takes = inspect.signature(cls.__init__).parameters
    settings = {name: value for name, value in pipe.config.items() if not name.startswith("_")}
    parts = {**settings, **pipe.components}
    return cls(**{name: value for name, value in parts.items() if name in takes})


def place(pipe: Any, recipe: Recipe, device: torch.device, dtype: torch.dtype) -> None:
    """Put the pipeline where the recipe says. Group offload moves the denoiser two blocks at a
    time (the next one copied on a CUDA stream while the current one runs) and the text
    encoders layer by layer (their blocks sit too deep for block-level groups), keeping the
    VAE on the device."""
    if recipe.fp8_storage:
        denoiser = getattr(pipe, denoiser_name_of(pipe))
        denoiser.enable_layerwise_casting(storage_dtype=torch.float8_e4m3fn, compute_dtype=dtype)
    if recipe.placement == "model_offload":
        pipe.enable_model_cpu_offload(device=device)
    elif recipe.placement == "sequential_offload":
        pipe.enable_sequential_cpu_offload(device=device)
    elif recipe.placement == "group_offload":
        stream = device.type == "cuda"
        for name, component in pipe.components.items():
            if not isinstance(component, torch.nn.Module):
                continue
            blocks = getattr(component, "enable_group_offload", None)
            if name == "vae":
                component.to(device)
            elif blocks is not None and not name.startswith("text_encoder"):
                blocks(
                    onload_device=device,
                    offload_type="block_level",
                    num_blocks_per_group=1,
                    use_stream=stream,
                )
            else:
                apply_group_offloading(
                    component, onload_device=device, offload_type="leaf_level", use_stream=stream
                )
    else:
        pipe.to(device)


def denoiser_name_of(pipe: Any) -> str:
    return "unet" if getattr(pipe, "unet", None) is not None else "transformer"


def held(*modules: Any) -> tuple[int, int]:
    """(bytes on the GPU, bytes in RAM) the modules' weights and buffers hold now. Quantized
    tensors count their stored parts (int8 data and scales, packed 4-bit bytes); a weight
    sequential offload left on the meta device is in RAM, in the offload hook's copy."""
    gpu = ram = 0
    seen: set[int] = set()
    for module in modules:
        if not isinstance(module, torch.nn.Module):
            continue
        for tensor in chain(module.parameters(), module.buffers()):
            if id(tensor) in seen:
                continue
            seen.add(id(tensor))
            size = stored_bytes(tensor)
            if tensor.device.type in ("cpu", "meta"):
                ram += size
            else:
                gpu += size
    return gpu, ram


def stored_bytes(tensor: Any) -> int:
    if is_traceable_wrapper_subclass(tensor):
        names, _ = tensor.__tensor_flatten__()
        return sum(stored_bytes(getattr(tensor, name)) for name in names)
    return int(tensor.numel() * tensor.element_size())
