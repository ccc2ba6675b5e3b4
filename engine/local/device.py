"""Where the pipelines run and in what precision."""

from __future__ import annotations

import torch

from engine.errors import ProviderConfigError


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


def pick_dtype(preference: str, device: torch.device, half: str = "float16") -> torch.dtype:
    """The precision asked for; for "auto", fp32 on CPU (where half precision is far slower)
    and elsewhere the family's half precision: fp16 for the UNet families, bf16 for the
    diffusion transformers, which overflow in fp16 (bf16 falls back to fp16 on a GPU without
    it, as on pre-Ampere cards)."""
    if preference != "auto":
        return getattr(torch, preference)  # type: ignore[no-any-return]
    if device.type == "cpu":
        return torch.float32
    if half == "bfloat16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        return torch.float16
    return getattr(torch, half)  # type: ignore[no-any-return]
