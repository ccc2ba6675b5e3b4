"""A model's weight sizes per component, read from the files' headers before anything loads
(safetensors headers name every tensor's shape; a GGUF file counts as its size)."""

from __future__ import annotations

import json
import math
import re
import struct
from collections import defaultdict
from pathlib import Path
from typing import Any

from engine.local.memory.recipe import Weights

# A repeated block of a denoiser: "transformer_blocks.3.", "single_blocks.12.", "up_blocks.0."
BLOCK = re.compile(r"^(?:model\.diffusion_model\.)?(\w*(?:blocks|layers))\.(\d+)\.")
# A whole-pipeline checkpoint's parts, by key prefix (the original Stability layout).
VAE_PREFIXES = ("first_stage_model.", "vae.")
TEXT_PREFIXES = ("cond_stage_model.", "conditioner.", "text_encoders.")


def header(path: Path) -> dict[str, Any]:
    """A .safetensors file's tensor table, without reading the tensors."""
    with path.open("rb") as file:
        (length,) = struct.unpack("<Q", file.read(8))
        table: dict[str, Any] = json.loads(file.read(length))
    table.pop("__metadata__", None)
    return table


def parameters(paths: list[Path]) -> dict[str, int]:
    """Parameters per tensor name over the files."""
    counts: dict[str, int] = {}
    for path in paths:
        for name, entry in header(path).items():
            counts[name] = math.prod(entry["shape"])
    return counts


def group_share(counts: dict[str, int]) -> float | None:
    """The share of a denoiser that block-level group offload keeps on the GPU: its two
    largest repeated blocks (one running, one prefetched) and every layer outside them."""
    blocks: dict[tuple[str, str], int] = defaultdict(int)
    for name, count in counts.items():
        match = BLOCK.match(name)
        if match:
            blocks[match.group(1), match.group(2)] += count
    total = sum(counts.values())
    if not blocks or not total:
        return None
    largest = sorted(blocks.values(), reverse=True)[:2]
    return (total - sum(blocks.values()) + sum(largest)) / total


def weight_files(component: Path, variant: str | None) -> list[Path]:
    """The .safetensors files diffusers loads from a component folder: the variant's where
    there are some ("model.fp16.safetensors"), else the plain ones."""
    files = sorted(component.glob("*.safetensors"))
    marked = [f for f in files if variant and f".{variant}" in f.name]
    return marked or [f for f in files if "." not in f.name.removesuffix(".safetensors")]


def folder_weights(
    folder: Path, variant: str | None, itemsize: int, transformer: Path | None = None
) -> Weights:
    """A diffusers folder's weights as loaded, with a single-file transformer in place of the
    folder's own where one is given."""
    index = json.loads((folder / "model_index.json").read_text())
    denoiser_name = "unet" if "unet" in index else "transformer"
    encoders = sorted(
        name
        for name, entry in index.items()
        if name.startswith("text_encoder") and isinstance(entry, list) and entry[0] is not None
    )

    def size(name: str) -> int:
        return sum(parameters(weight_files(folder / name, variant)).values()) * itemsize

    if transformer is None:
        counts = parameters(weight_files(folder / denoiser_name, variant))
        denoiser, gguf = sum(counts.values()) * itemsize, False
    elif transformer.suffix == ".gguf":
        counts, denoiser, gguf = {}, transformer.stat().st_size, True
    else:
        counts = parameters([transformer])
        denoiser, gguf = sum(counts.values()) * itemsize, False
    return Weights(
        denoiser=denoiser,
        text_encoders=tuple(size(name) for name in encoders),
        vae=size("vae"),
        itemsize=itemsize,
        gguf=gguf,
        group_share=group_share(counts),
    )


def checkpoint_weights(path: Path, itemsize: int) -> Weights:
    """A whole-pipeline checkpoint (.safetensors) split by its key prefixes; any other file
    counts whole as the denoiser, at 4 bytes a parameter as saved."""
    if path.suffix != ".safetensors":
        return Weights(denoiser=path.stat().st_size // 4 * itemsize, itemsize=itemsize)
    counts = parameters([path])
    vae = sum(c for name, c in counts.items() if name.startswith(VAE_PREFIXES))
    text = sum(c for name, c in counts.items() if name.startswith(TEXT_PREFIXES))
    denoiser = {n: c for n, c in counts.items() if not n.startswith(VAE_PREFIXES + TEXT_PREFIXES)}
    return Weights(
        denoiser=sum(denoiser.values()) * itemsize,
        text_encoders=(text * itemsize,) if text else (),
        vae=vae * itemsize,
        itemsize=itemsize,
        group_share=group_share(denoiser),
    )
