"""Choosing a model's memory recipe: where its weights live (all on the GPU, offloaded by
model, by block group or layer by layer) and in what precision (16-bit, fp8 storage, 8-bit or
4-bit quantized, a GGUF file). A pure function of the model's weight sizes, the image size and
what the device offers; no torch here, so the docs' tables come from the same code."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal, get_args

from engine.errors import ProviderConfigError
from engine.local.families import Family
from engine.local.hub import ModelLoadError
from engine.local.options import Memory, Quantize

Placement = Literal["cpu", "gpu", "model_offload", "group_offload", "sequential_offload"]
Quantization = Literal["none", "nf4", "int8", "torchao_int8", "torchao_fp8", "gguf"]

MEMORY: tuple[str, ...] = get_args(Memory)
QUANTIZE: tuple[str, ...] = get_args(Quantize)
BITSANDBYTES = ("nf4", "int8")
TORCHAO = ("torchao_int8", "torchao_fp8")

GiB = 2**30
# Working memory on top of the weights, by phase (see `working`).
DENOISER_PER_MEGAPIXEL = 1.0 * GiB
VAE_PER_MEGAPIXEL = 2.0 * GiB
TEXT_ENCODER_WORK = GiB // 4
# Bytes per parameter once quantized: the 8-bit kinds keep per-row scales and leave norms,
# embeddings and biases at 16 bits; NF4 adds a scale per 64 weights.
BYTES_PER_PARAMETER = {"int8": 1.1, "torchao_int8": 1.1, "torchao_fp8": 1.1, "nf4": 0.6}
FP8_STORAGE_BYTES = 1.1
# The share of a component on the GPU at once under block-level group offload: two blocks
# (one running, one prefetched) and the layers outside the blocks. Measured from the weights'
# names where they are on disk; else a transformer has 19 to 60 blocks and a text encoder 24
# to 36, while a UNet's largest up block alone is about a third of it. Sequential offload
# holds one layer.
GROUP_SHARE = 0.15
GROUP_SHARE_UNET = 0.6
SEQUENTIAL_SHARE = 0.05


def headroom(free: int) -> int:
    """VRAM left unplanned: allocator fragmentation, cuDNN workspaces, the tiny decoder."""
    return max(GiB // 2, free // 20)


@dataclass(frozen=True)
class Weights:
    """A model's weights in bytes, per component, as loaded (``itemsize`` bytes a parameter)."""

    denoiser: int  # the transformer (or UNet); a GGUF file's own size when ``gguf``
    text_encoders: tuple[int, ...] = ()
    vae: int = 0
    itemsize: int = 2
    gguf: bool = False
    group_share: float | None = None  # of the denoiser under group offload, where measured

    @property
    def total(self) -> int:
        return self.denoiser + sum(self.text_encoders) + self.vae


@dataclass(frozen=True)
class Hardware:
    """What the device offers: its kind, the VRAM this model may use (0 off CUDA), whether it
    computes in bf16 and in fp8 (compute capability 8.9+), which quantization packages are
    installed."""

    device: Literal["cuda", "mps", "cpu"]
    free: int = 0
    bf16: bool = True
    fp8: bool = False
    backends: frozenset[str] = frozenset({"torchao", "gguf"})


@dataclass(frozen=True)
class Wanted:
    """A model's memory settings; None leaves that choice to auto."""

    memory: str = "auto"
    fp8_storage: bool | None = None
    quantize: str | None = None
    quantize_text_encoders: str | None = None


@dataclass(frozen=True)
class Recipe:
    placement: Placement
    fp8_storage: bool = False
    quantize: Quantization = "none"  # the transformer (or UNet)
    quantize_text_encoders: Quantization = "none"
    peak: int = 0  # estimated VRAM at the busiest moment of a run at the model's default size
    gpu: int = 0  # estimated bytes kept on the GPU between runs
    ram: int = 0  # estimated bytes kept in RAM between runs
    reason: str = ""

    @property
    def working(self) -> int:
        return max(0, self.peak - self.gpu)

    @property
    def summary(self) -> str:
        parts = [self.placement.replace("_", " ")]
        if self.fp8_storage:
            parts.append("transformer in fp8 storage")
        if self.quantize != "none":
            parts.append(f"transformer {self.quantize}")
        if self.quantize_text_encoders != "none":
            parts.append(f"text encoders {self.quantize_text_encoders}")
        return ", ".join(parts)


@dataclass(frozen=True)
class Work:
    denoiser: int
    vae: int
    text: int = TEXT_ENCODER_WORK


def working(width: int, height: int) -> Work:
    """Working memory of a run at batch 1, by phase: the denoiser's activations (attention
    through SDPA, so linear in the pixel count; classifier-free guidance's doubled batch
    included) at about 1 GiB a megapixel, and the VAE decode at full resolution at about
    2 GiB a megapixel (an upper bound: larger images are decoded in tiles). Estimated from the
    tensor sizes of the real architectures, not measured."""
    megapixels = width * height / 2**20
    return Work(int(DENOISER_PER_MEGAPIXEL * megapixels), int(VAE_PER_MEGAPIXEL * megapixels))


def estimate(
    placement: Placement,
    weights: Weights,
    work: Work,
    *,
    fp8_storage: bool = False,
    quantize: Quantization = "none",
    quantize_text_encoders: Quantization = "none",
    unet: bool = False,
) -> tuple[int, int, int]:
    """(peak VRAM, VRAM kept between runs, RAM kept between runs) in bytes.

    The weights shrink by the recipe first (a parameter is ``itemsize`` bytes, about 1.1 in
    fp8 or 8 bits, 0.6 in NF4; a GGUF file stays its size). Then, by placement:
    gpu: every component resident, plus the largest phase's working memory; model offload:
    one component at a time (text encoder, transformer or VAE) with its own working memory,
    all weights in RAM between runs; group offload: two blocks of a component at a time
    (a share of it) with the VAE kept on the GPU; sequential offload: one layer at a time."""
    denoiser = _shrunk(weights.denoiser, weights.itemsize, quantize, fp8_storage)
    encoders = [_shrunk(t, weights.itemsize, quantize_text_encoders) for t in weights.text_encoders]
    largest_encoder = max(encoders, default=0)
    vae = weights.vae
    everything = denoiser + sum(encoders) + vae
    if placement == "cpu":
        return 0, 0, everything
    if placement == "gpu":
        return everything + max(work.denoiser, work.vae, work.text), everything, 0
    if placement == "model_offload":
        peak = max(denoiser + work.denoiser, largest_encoder + work.text, vae + work.vae)
        return peak, 0, everything
    if placement == "group_offload":
        share = weights.group_share or (GROUP_SHARE_UNET if unet else GROUP_SHARE)
        busiest = max(
            denoiser * share + work.denoiser,
            largest_encoder * GROUP_SHARE + work.text,
            work.vae,
        )
        return int(vae + busiest), vae, denoiser + sum(encoders)
    busiest = max(
        denoiser * SEQUENTIAL_SHARE + work.denoiser,
        largest_encoder * SEQUENTIAL_SHARE + work.text,
        vae * SEQUENTIAL_SHARE + work.vae,
    )
    return int(busiest), 0, everything


def _shrunk(size: int, itemsize: int, quantize: Quantization, fp8: bool = False) -> int:
    if quantize in BYTES_PER_PARAMETER:
        return int(size / itemsize * BYTES_PER_PARAMETER[quantize])
    if fp8:
        return int(size / itemsize * FP8_STORAGE_BYTES)
    return size


def refuse(model: str, wanted: Wanted, hardware: Hardware, gguf: bool = False) -> None:
    """Stop a combination of settings that cannot work on this device, naming the fix."""

    def error(key: str, value: object, allowed: str) -> ProviderConfigError:
        return ProviderConfigError(f"models.{model}.{key}", value, allowed)

    device = hardware.device
    if wanted.memory not in MEMORY:
        raise error("memory", wanted.memory, "one of " + ", ".join(MEMORY))
    if device != "cuda" and wanted.memory not in ("auto", "gpu"):
        raise error(
            "memory",
            wanted.memory,
            f'"auto" or "gpu" on {device.upper()}: offloading moves weights between RAM and a '
            "CUDA GPU's own memory",
        )
    if wanted.fp8_storage and device != "cuda":
        raise error("fp8_storage", True, f"false on {device.upper()}: fp8 storage needs CUDA")
    if gguf and wanted.quantize not in (None, "none"):
        raise error("quantize", wanted.quantize, "left out: the .gguf transformer is quantized")
    if wanted.fp8_storage and (gguf or wanted.quantize not in (None, "none")):
        raise error("fp8_storage", True, "false with a quantized transformer (quantize, .gguf)")
    for key, value in (
        ("quantize", wanted.quantize),
        ("quantize_text_encoders", wanted.quantize_text_encoders),
    ):
        if value is None or value == "none":
            continue
        if value not in QUANTIZE:
            raise error(key, value, "one of " + ", ".join(QUANTIZE))
        if value in BITSANDBYTES and device != "cuda":
            raise error(key, value, f"a CUDA GPU: bitsandbytes does not run on {device.upper()}")
        if value in BITSANDBYTES and "bitsandbytes" not in hardware.backends:
            raise error(key, value, "bitsandbytes installed: pip install bitsandbytes")
        if value in TORCHAO and "torchao" not in hardware.backends:
            raise error(key, value, "torchao installed: pip install torchao")
        if value == "torchao_fp8" and not (device == "cuda" and hardware.fp8):
            raise error(key, value, "a GPU with fp8 (compute capability 8.9 or newer)")
        if value == "torchao_int8" and device == "mps":
            raise error(key, value, "CUDA or the CPU: torchao does not run on MPS")
        if value == "torchao_int8" and device == "cuda" and not hardware.bf16:
            raise error(key, value, "a GPU with bf16: torchao's int8 computes in bf16")


@dataclass(frozen=True)
class _Try:
    placement: Placement
    fp8_storage: bool
    quantize: Quantization
    encoders: tuple[Quantization, ...]  # text encoder precisions to try, best first


def choose_recipe(
    family: Family,
    weights: Weights,
    size: tuple[int, int],
    hardware: Hardware,
    wanted: Wanted = Wanted(),
    model: str = "model",
) -> Recipe:
    """The model's recipe. Explicit settings are honoured as written (``memory`` other than
    auto fixes the whole recipe, the others left out meaning none); under ``memory = "auto"``
    the first recipe of this ladder that fits the free VRAM wins, keeping any precision set:
    all on the GPU (text encoders at 16 bits, then 8); model offload (text encoders at 16, 8,
    then 4 bits); model offload with the transformer in fp8 storage, then NF4; group offload;
    sequential offload. Full precision goes first, then speed; a GPU too small even for
    sequential offload gets an error rather than a recipe that would not fit."""
    refuse(model, wanted, hardware, weights.gguf)
    work = working(*size)
    quantize: Quantization = "gguf" if weights.gguf else _quantization(wanted.quantize)
    encoders = _quantization(wanted.quantize_text_encoders)
    if hardware.device != "cuda":
        placement: Placement = "cpu" if hardware.device == "cpu" else "gpu"
        where = "in RAM" if placement == "cpu" else "on MPS, which shares the system's memory"
        return _recipe(
            _Try(placement, bool(wanted.fp8_storage), quantize, (encoders,)),
            encoders,
            weights,
            work,
            family,
            f"everything {where}",
        )
    if wanted.memory != "auto":
        fixed = _Try(wanted.memory, bool(wanted.fp8_storage), quantize, (encoders,))  # type: ignore[arg-type]
        recipe = _recipe(fixed, encoders, weights, work, family, "")
        usable = hardware.free - headroom(hardware.free)
        why = f"as set; needs about {_gib(recipe.peak)} at {size[0]}x{size[1]}"
        if recipe.peak > usable:
            why += f", more than the {_gib(usable)} usable: expect out-of-memory errors"
        return replace(recipe, reason=why)
    return _auto(family, weights, work, hardware, wanted, quantize, size)


def _auto(
    family: Family,
    weights: Weights,
    work: Work,
    hardware: Hardware,
    wanted: Wanted,
    quantize: Quantization,
    size: tuple[int, int],
) -> Recipe:
    usable = hardware.free - headroom(hardware.free)
    if wanted.quantize_text_encoders is not None:
        near: tuple[Quantization, ...] = (_quantization(wanted.quantize_text_encoders),)
        far = near
    else:
        near = ("none", *_eight_bit(hardware))
        far = (*near, *(("nf4",) if _has_bnb(hardware) else ()))
    fp8 = bool(wanted.fp8_storage)
    ladder = [_Try("gpu", fp8, quantize, near), _Try("model_offload", fp8, quantize, far)]
    if wanted.fp8_storage is None and wanted.quantize is None and quantize == "none":
        ladder.append(_Try("model_offload", True, "none", far))
        if _has_bnb(hardware):
            ladder.append(_Try("model_offload", False, "nf4", far))
    ladder += [
        _Try("group_offload", fp8, quantize, near[:1]),
        _Try("sequential_offload", fp8, quantize, near[:1]),
    ]
    tried: list[Recipe] = []
    for attempt in ladder:
        for encoders in attempt.encoders:
            candidate = _recipe(attempt, encoders, weights, work, family, "")
            if candidate.peak <= usable:
                why = _why(candidate, tried[0] if tried else None, usable, size)
                return replace(candidate, reason=why)
            tried.append(candidate)
    raise ModelLoadError(
        f"no memory recipe fits {_gib(usable)} of VRAM at {size[0]}x{size[1]}: even "
        f"{tried[-1].summary} needs about {_gib(tried[-1].peak)}. Use a smaller size "
        "(width, height) or a smaller quantized transformer (a .gguf file)"
    )


def _recipe(
    attempt: _Try,
    encoders: Quantization,
    weights: Weights,
    work: Work,
    family: Family,
    reason: str,
) -> Recipe:
    peak, gpu, ram = estimate(
        attempt.placement,
        weights,
        work,
        fp8_storage=attempt.fp8_storage,
        quantize=attempt.quantize,
        quantize_text_encoders=encoders,
        unet=family.unet,
    )
    return Recipe(
        placement=attempt.placement,
        fp8_storage=attempt.fp8_storage,
        quantize=attempt.quantize,
        quantize_text_encoders=encoders,
        peak=peak,
        gpu=gpu,
        ram=ram,
        reason=reason,
    )


def _why(chosen: Recipe, rejected: Recipe | None, usable: int, size: tuple[int, int]) -> str:
    fits = (
        f"{chosen.summary} needs about {_gib(chosen.peak)} at {size[0]}x{size[1]}, "
        f"{_gib(usable)} usable"
    )
    if rejected is None:
        return f"auto: {fits}"
    return f"auto: {rejected.summary} would need about {_gib(rejected.peak)}; {fits}"


def _eight_bit(hardware: Hardware) -> tuple[Quantization, ...]:
    """The 8-bit text encoder kind auto may use: torchao's int8 (fast), else bitsandbytes'."""
    if "torchao" in hardware.backends and hardware.bf16:
        return ("torchao_int8",)
    if _has_bnb(hardware):
        return ("int8",)
    return ()


def _has_bnb(hardware: Hardware) -> bool:
    return hardware.device == "cuda" and "bitsandbytes" in hardware.backends


def _quantization(value: str | None) -> Quantization:
    return "none" if value is None else value  # type: ignore[return-value]


def _gib(size: float) -> str:
    return f"{size / GiB:.1f} GiB"
