"""The real architectures of bench/configs/*.json as pipelines with seeded random weights, built
on any device (``meta`` for counting FLOPs), nothing downloaded. A config names the pipeline
class, the engine's family, the size, steps and guidance the engine uses by default, and each
component: ``{"class": ..., "config": {...}}``, or for a tokenizer ``{"tokenizer": "clip" |
"t5" | "qwen", "model_max_length": n}`` (the tests' local tokenizers, whose ids stay inside
every real vocabulary)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import diffusers
import torch
import transformers

from tests.engine.local.families.common import clip_tokenizer
from tests.engine.local.families.qwen_tokenizer import qwen_tokenizer
from tests.engine.local.families.t5 import t5_tokenizer

CONFIGS = Path(__file__).parent / "configs"
ARCHS = {
    "sd15": "sd15.json",
    "sdxl": "sdxl.json",
    "flux1-schnell": "flux1_schnell.json",
    "z-image-turbo": "z_image_turbo.json",
    "sd35-medium": "sd35_medium.json",
}

# --dry-run keeps every width of the real model (so the configs must fit together) but one or
# two of each repeated block, so that it runs on a small CPU.
SHALLOW: dict[str, dict[str, Any]] = {
    "UNet2DConditionModel": {"layers_per_block": 1, "transformer_layers_per_block": 1},
    "AutoencoderKL": {"layers_per_block": 1},
    "FluxTransformer2DModel": {"num_layers": 1, "num_single_layers": 1},
    "SD3Transformer2DModel": {"num_layers": 2, "dual_attention_layers": [0]},
    "ZImageTransformer2DModel": {"n_layers": 1, "n_refiner_layers": 1},
    "CLIPTextModel": {"num_hidden_layers": 1},
    "CLIPTextModelWithProjection": {"num_hidden_layers": 1},
    "T5EncoderModel": {"num_layers": 1},
    "Qwen3Model": {"num_hidden_layers": 1},
}


@dataclass(frozen=True)
class Arch:
    name: str
    pipeline: str
    family: str
    size: int
    steps: int
    guidance: float
    components: dict[str, dict[str, Any]]
    sources: str

    def shallow(self) -> Arch:
        components = {
            key: {**part, "config": {**part["config"], **SHALLOW.get(part["class"], {})}}
            if "class" in part and part["class"] in SHALLOW
            else part
            for key, part in self.components.items()
        }
        return Arch(**{**self.__dict__, "components": components})


def load(name: str) -> Arch:
    data = json.loads((CONFIGS / ARCHS[name]).read_text())
    return Arch(
        name=name,
        pipeline=data["pipeline"],
        family=data["family"],
        size=data["size"],
        steps=data["steps"],
        guidance=data["guidance"],
        components=data["components"],
        sources=data["_sources"],
    )


@contextmanager
def _defaults(device: torch.device, dtype: torch.dtype) -> Iterator[None]:
    """Modules made directly on ``device`` in ``dtype``: a 12B transformer never exists in
    float32 on the host first."""
    previous = torch.get_default_dtype()
    torch.set_default_dtype(dtype)
    try:
        with device:
            yield
    finally:
        torch.set_default_dtype(previous)


def build(arch: Arch, device: torch.device, dtype: torch.dtype, seed: int = 0) -> Any:
    """The pipeline with seeded random weights, on ``device`` in ``dtype``, in eval mode."""
    torch.manual_seed(seed)
    parts: dict[str, Any] = {}
    for key, part in arch.components.items():
        if part.get("class", "").endswith("Scheduler") or "tokenizer" in part:
            parts[key] = _component(part)  # float32 tensors on the host, as they ship
            continue
        with _defaults(device, dtype):
            parts[key] = _component(part)
    for module in parts.values():
        if isinstance(module, torch.nn.Module):
            module.eval().requires_grad_(False)
            if device.type != "meta":
                _fill_uninitialised(module)
    if arch.pipeline == "StableDiffusionPipeline":
        parts.update(safety_checker=None, feature_extractor=None, requires_safety_checker=False)
    pipe = getattr(diffusers, arch.pipeline)(**parts)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _component(part: dict[str, Any]) -> Any:
    kind = part.get("tokenizer")
    if kind == "clip":
        return clip_tokenizer()
    if kind == "t5":
        return t5_tokenizer(model_max_length=part["model_max_length"])
    if kind == "qwen":
        return qwen_tokenizer(model_max_length=part["model_max_length"])
    if kind is not None:
        raise ValueError(f"no local tokenizer of kind {kind!r}")
    name, config = part["class"], part["config"]
    if hasattr(diffusers, name):
        return getattr(diffusers, name).from_config(config)
    model = getattr(transformers, name)
    return model(model.config_class(**config))


@torch.no_grad()
def _fill_uninitialised(module: torch.nn.Module) -> None:
    """Some parameters are made with ``torch.empty`` (Z-Image's pad tokens) and left to the
    checkpoint: give any that hold NaN or infinity small random values instead."""
    for parameter in module.parameters():
        if not torch.isfinite(parameter).all():
            parameter.copy_(torch.randn_like(parameter) * 0.02)
