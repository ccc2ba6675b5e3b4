"""The memory side of the local engine: what the device offers, each model's settings checked
at start-up, and each model's recipe chosen (and logged) before it loads."""

from __future__ import annotations

import importlib.util
import logging
from dataclasses import replace
from pathlib import Path

import torch

from engine.local.families import Family
from engine.local.hub import ModelLoadError, fetch, human_size
from engine.local.memory.measure import checkpoint_weights, folder_weights
from engine.local.memory.recipe import GiB, Hardware, Recipe, Wanted, Weights, choose_recipe, refuse
from engine.local.options import LocalOptions, ModelSpec

log = logging.getLogger(__name__)

BACKENDS = ("bitsandbytes", "torchao", "gguf")


def detect(device: torch.device) -> Hardware:
    """The device's kind, free VRAM, bf16 and fp8 (compute capability 8.9+) support, and the
    quantization packages installed (looked up, not imported)."""
    backends = frozenset(name for name in BACKENDS if importlib.util.find_spec(name) is not None)
    if device.type == "mps":
        return Hardware("mps", bf16=False, backends=backends)
    if device.type != "cuda":
        return Hardware("cpu", backends=backends)
    free, _ = torch.cuda.mem_get_info(device)
    return Hardware(
        "cuda",
        free=free,
        bf16=torch.cuda.is_bf16_supported(),
        fp8=torch.cuda.get_device_capability(device) >= (8, 9),
        backends=backends,
    )


def wanted(spec: ModelSpec) -> Wanted:
    return Wanted(spec.memory, spec.fp8_storage, spec.quantize, spec.quantize_text_encoders)


def is_gguf(spec: ModelSpec) -> bool:
    return spec.transformer is not None and spec.transformer.endswith(".gguf")


class MemoryPlanner:
    def __init__(self, device: torch.device, options: LocalOptions) -> None:
        """Checks every model's memory settings against the device (a combination that cannot
        work stops start-up) and fixes the GPU budget: max_gpu_memory_gb, else the VRAM free
        now."""
        self.device = device
        self.hardware = detect(device)
        self.cache_dir = options.cache_dir
        self.gpu_budget = int(options.max_gpu_memory_gb * GiB) or self.hardware.free
        self.ram_budget = int(options.max_model_memory_gb * GiB)
        for name, spec in options.models.items():
            refuse(name, wanted(spec), self.hardware, is_gguf(spec))

    def free_vram(self) -> int:
        if self.device.type != "cuda":
            return 0
        free, _ = torch.cuda.mem_get_info(self.device)
        return int(free)

    def plan(
        self, name: str, spec: ModelSpec, family: Family, dtype: torch.dtype, reclaimable: int
    ) -> Recipe:
        """The model's recipe for the VRAM it may have: what is free now plus what the cache
        can free by unloading others (``reclaimable``), within the GPU budget."""
        try:
            weights = self.weights(spec, dtype)
        except ModelLoadError as err:
            raise ModelLoadError(f"Cannot load model {name}: {err}") from err
        except (OSError, ValueError, KeyError) as err:
            raise ModelLoadError(
                f"Cannot load model {name} from {spec.source}: its weights' sizes cannot be "
                f"read ({type(err).__name__}: {err})"
            ) from err
        free = min(self.gpu_budget, self.free_vram() + reclaimable)
        size = (spec.width or family.width, spec.height or family.height)
        hardware = replace(self.hardware, free=free)
        recipe = choose_recipe(family, weights, size, hardware, wanted(spec), name)
        log.info(
            "Model %s: %s (%s; weights %s)",
            name,
            recipe.summary,
            recipe.reason,
            human_size(weights.total),
        )
        return recipe

    def weights(self, spec: ModelSpec, dtype: torch.dtype) -> Weights:
        itemsize = torch.tensor([], dtype=dtype).element_size()
        if spec.kind == "single_file":
            return checkpoint_weights(Path(spec.source).expanduser(), itemsize)
        folder = self.folder(spec)
        transformer = Path(spec.transformer).expanduser() if spec.transformer else None
        variant = spec.variant if spec.kind == "repo" else None
        return folder_weights(folder, variant, itemsize, transformer)

    def folder(self, spec: ModelSpec) -> Path:
        """The pipeline folder: the source folder, or the hub repo (downloaded first)."""
        if spec.kind == "repo":
            return fetch(spec.source, spec.variant, self.cache_dir)
        return Path(spec.source).expanduser()
