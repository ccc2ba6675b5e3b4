"""Where the pipelines run, in what precision, and on how many CPU threads."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import torch

from engine.errors import ProviderConfigError

log = logging.getLogger(__name__)

# The features that give a CPU bf16 arithmetic of its own (not emulated through fp32), by the
# names torch.cpu.get_capabilities() reports: AVX-512 BF16 (AMD Zen 4 and later, Intel Cooper
# Lake), AMX (Intel Sapphire Rapids and later), and on ARM FEAT_BF16 (BFDOT/BFMMLA: Graviton 3
# and later, Neoverse V1/N2, Apple M2 and later), which oneDNN's bf16 kernels use there.
NATIVE_BF16 = ("avx512_bf16", "amx_bf16", "bf16", "sve_bf16")


def pick_device(preference: str) -> torch.device:
    """The device asked for, or the best one present for "auto". A device asked for by name
    that this machine lacks stops start-up: falling back to the CPU would turn a broken GPU
    set-up into jobs that take minutes instead of seconds, with no word why."""
    if preference == "cuda" and not torch.cuda.is_available():
        raise ProviderConfigError(
            "device",
            preference,
            "a device PyTorch can see; CUDA is not available here (no NVIDIA GPU or driver "
            "visible, or a CPU-only torch build: torch.version.cuda is "
            f"{torch.version.cuda}). Fix the driver or the torch build, or set device = "
            '"auto" or "cpu"',
        )
    if preference == "mps" and not torch.backends.mps.is_available():
        raise ProviderConfigError(
            "device",
            preference,
            'a device PyTorch can see; MPS is not available here. Set device = "auto" or "cpu"',
        )
    if preference != "auto":
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


@dataclass(frozen=True)
class CpuPrecision:
    dtype: torch.dtype
    reason: str


def cpu_precision(capabilities: Mapping[str, Any]) -> CpuPrecision:
    """bf16 where the CPU computes it natively, else fp32: emulated bf16 (AVX-512 without its
    BF16 extension, AVX2, plain NEON) converts every value and is slower than fp32, and fp16 on
    a CPU is slower still."""
    native = [name for name in NATIVE_BF16 if capabilities.get(name)]
    architecture = capabilities.get("architecture", "unknown")
    if native:
        return CpuPrecision(
            torch.bfloat16, f"the {architecture} CPU reports native bf16 ({', '.join(native)})"
        )
    return CpuPrecision(
        torch.float32,
        f"the {architecture} CPU reports no native bf16 (none of {', '.join(NATIVE_BF16)})",
    )


def pick_dtype(
    preference: str,
    device: torch.device,
    half: str = "float16",
    capabilities: Mapping[str, Any] | None = None,
) -> torch.dtype:
    """The precision asked for; for "auto", on a CPU bf16 where it runs natively and fp32
    elsewhere (``cpu_precision``, from torch's own capability report unless one is given),
    and on a GPU the family's half precision: fp16 for the UNet families, bf16 for the
    diffusion transformers, which overflow in fp16 (bf16 falls back to fp16 on a GPU without
    it, as on pre-Ampere cards)."""
    if preference != "auto":
        return getattr(torch, preference)  # type: ignore[no-any-return]
    if device.type == "cpu":
        if capabilities is None:
            capabilities = torch.cpu.get_capabilities()
        precision = cpu_precision(capabilities)
        _log_choice(precision)
        return precision.dtype
    if half == "bfloat16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return getattr(torch, half)  # type: ignore[no-any-return]


@cache
def _log_choice(precision: CpuPrecision) -> None:
    """Once per process and choice: every model load asks again."""
    log.info(
        'dtype = "auto" on CPU: %s, because %s (set dtype = "float32" or "bfloat16" to choose)',
        str(precision.dtype).removeprefix("torch."),
        precision.reason,
    )


def cpu_threads(capabilities: Mapping[str, Any], usable_cpus: int | None) -> int:
    """One intra-op thread per physical core (a second thread on a core's sibling only
    competes for the same vector units), no more than the CPUs this process may run on (a
    container's cpuset)."""
    physical = int(capabilities.get("num_physical_cores") or 0) or usable_cpus or 1
    return max(1, min(physical, usable_cpus or physical))


def set_cpu_threads(setting: int) -> None:
    """Sets torch's intra-op threads for the calling thread and the ones it starts later: the
    setting, or with 0 one per physical core; logged with torch's own default."""
    default = torch.get_num_threads()
    wanted = setting or cpu_threads(torch.cpu.get_capabilities(), _usable_cpus())
    torch.set_num_threads(wanted)
    how = "as set by threads" if setting else "one per physical core"
    log.info("CPU: %d intra-op threads, %s (torch's default here: %d)", wanted, how, default)


def _usable_cpus() -> int | None:
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else os.cpu_count()
