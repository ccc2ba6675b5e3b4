"""Where the pipelines run and in what precision."""

from __future__ import annotations

import torch


def pick_device(preference: str) -> torch.device:
    if preference != "auto":
        return torch.device(preference)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def pick_dtype(preference: str, device: torch.device) -> torch.dtype:
    """fp16 on CUDA and MPS, fp32 on CPU (where half precision is far slower), unless set."""
    if preference != "auto":
        return getattr(torch, preference)  # type: ignore[no-any-return]
    return torch.float32 if device.type == "cpu" else torch.float16
