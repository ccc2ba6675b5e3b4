"""A model's speed switches (docs/speed.md), applied once when it loads: the attention backend,
First Block Cache, and torch.compile of the transformer's repeated blocks (the whole UNet for
UNet families) with a LoRA slot, so LoRAs change without compiling again."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from diffusers import FirstBlockCacheConfig, attention_backend
from diffusers.models.cache_utils import CacheMixin

from engine.local.families import Family
from engine.local.hub import ModelLoadError
from engine.local.lora_slot import LoraSlot
from engine.local.options import ModelSpec

log = logging.getLogger(__name__)

# What torch.compile hands the graphs to; the tests trace with "eager" (the same graphs and
# guards, so the same recompilations, without a C++ build).
COMPILE_BACKEND = "inductor"

# Pipelines that give each transformer pass its own cache context, "cond" or "uncond"
# (diffusers 0.42). Any other runs its whole call in one context, which is right only when the
# transformer runs once a step: guidance distilled or absent.
OWN_CACHE_CONTEXTS = frozenset(
    {
        "FluxPipeline",
        "Flux2KleinPipeline",
        "Flux2KleinInpaintPipeline",
        "QwenImagePipeline",
        "QwenImageImg2ImgPipeline",
        "QwenImageInpaintPipeline",
        "QwenImageEditPipeline",
        "QwenImageEditPlusPipeline",
    }
)
ONE_PASS = ("distilled", "none")
# Transformers whose step cache diffusers 0.42 has but cannot run, and why.
BROKEN_CACHES = {
    "Flux2Transformer2DModel": "its First Block Cache fails on FLUX.2's single-stream blocks "
    "(huggingface/diffusers#14280)",
}


@dataclass
class Speed:
    """What a loaded model's calls need from its switches."""

    slot: LoraSlot | None = None
    cached: Any = None  # the transformer whose First Block Cache each call starts afresh

    @contextlib.contextmanager
    def calling(self) -> Iterator[None]:
        if self.cached is None:
            yield
            return
        # the pipeline resets the cache when it finishes; a cancelled call never does
        self.cached._reset_stateful_cache()
        with self.cached.cache_context("cond"):
            yield


def tune(
    pipe: Any, name: str, spec: ModelSpec, family: Family, *, compile_all: bool, loras: bool
) -> Speed:
    """Applies the model's switches to its freshly loaded pipeline, in the order they need:
    attention and cache change the modules the compiler then sees; the LoRA slot is added
    before compilation so that the compiled blocks already hold it."""
    speed = Speed()
    compiled = spec.compile or compile_all
    denoiser = pipe.unet if family.unet else pipe.transformer
    done = []
    if spec.attention != "native":
        _set_attention(denoiser, name, spec.attention)
        done.append(f"{spec.attention} attention")
    if spec.cache == "first_block":
        speed.cached = _first_block_cache(denoiser, name, spec, family)
        done.append(f"First Block Cache (threshold {spec.cache_threshold})")
    if compiled and family.unet:
        # in place, so that the LoRA loaders still find the UNet's own modules
        denoiser.compile(backend=COMPILE_BACKEND)
        done.append("UNet compiled whole (LoRAs recompile it)")
    elif compiled:
        if loras and family.loras and spec.hotswap_rank:
            speed.slot = LoraSlot(name, pipe.transformer, spec.hotswap_rank)
        # the cache decides on the host whether to skip the blocks: a graph break
        fullgraph = speed.cached is None
        if getattr(denoiser, "_repeated_blocks", None):
            denoiser.compile_repeated_blocks(fullgraph=fullgraph, backend=COMPILE_BACKEND)
            what = "repeated blocks compiled"
        else:  # SD3 and Sana name no repeated block class
            denoiser.compile(fullgraph=fullgraph, backend=COMPILE_BACKEND)
            what = "transformer compiled whole"
        slot = speed.slot
        done.append(
            what
            + (f", LoRAs hot-swapped up to rank {slot.rank}" if slot else "")
            + (", LoRAs recompile them" if slot is None and loras and family.loras else "")
        )
    if done:
        log.info("Model %s: %s", name, "; ".join(done))
    return speed


def _set_attention(denoiser: Any, name: str, backend: str) -> None:
    """Sets the backend on this model's attention alone: diffusers also makes it the process
    default, which would reach every other model; that default is put back."""
    if not any(
        hasattr(getattr(module, "processor", None), "_attention_backend")
        for module in denoiser.modules()
    ):
        raise ModelLoadError(
            f"Model {name}: attention = {backend!r} has no effect on "
            f"{type(denoiser).__name__}, whose attention diffusers does not dispatch to "
            'backends; remove attention (or set it to "native")'
        )
    with attention_backend("native"):
        try:
            denoiser.set_attention_backend(backend)
        except (RuntimeError, ValueError) as err:
            raise ModelLoadError(f"Model {name}: attention = {backend!r}: {err}") from err


def _first_block_cache(denoiser: Any, name: str, spec: ModelSpec, family: Family) -> Any:
    what = f"Model {name} ({family.label})"
    if not isinstance(denoiser, CacheMixin):
        raise ModelLoadError(
            f'{what}: cache = "first_block" needs a denoiser with diffusers\' step caches, '
            f"and {type(denoiser).__name__} has none; remove cache"
        )
    broken = BROKEN_CACHES.get(type(denoiser).__name__)
    if broken is not None:
        raise ModelLoadError(f'{what}: cache = "first_block" cannot run: {broken}; remove cache')
    for pipeline in (family.text2img, family.image2img, family.inpaint, family.edit):
        if pipeline and pipeline not in OWN_CACHE_CONTEXTS and family.guidance_kind not in ONE_PASS:
            raise ModelLoadError(
                f'{what}: cache = "first_block" cannot follow {pipeline}, which runs the '
                "transformer twice a step for guidance without telling the cache which pass is "
                "which; remove cache"
            )
    denoiser.enable_cache(FirstBlockCacheConfig(threshold=spec.cache_threshold))
    return denoiser
