"""The diffusers and transformers quantization configs for a recipe's precisions. torchao is
imported only here, when a torchao recipe is used."""

from __future__ import annotations

from typing import Any

import diffusers
import torch
import transformers

from engine.local.memory.recipe import Quantization


def denoiser_config(quantization: Quantization, dtype: torch.dtype) -> Any:
    """A diffusers config for the transformer (or UNet), quantized as it loads."""
    if quantization in ("nf4", "int8"):
        return diffusers.BitsAndBytesConfig(**_bitsandbytes(quantization, dtype))
    if quantization in ("torchao_int8", "torchao_fp8"):
        return diffusers.TorchAoConfig(_torchao(quantization))
    if quantization == "gguf":
        return diffusers.GGUFQuantizationConfig(compute_dtype=dtype)
    raise ValueError(f"no quantization config for {quantization!r}")


def text_encoder_config(quantization: Quantization, dtype: torch.dtype) -> Any:
    """A transformers config for a text encoder, quantized as it loads."""
    if quantization in ("nf4", "int8"):
        return transformers.BitsAndBytesConfig(**_bitsandbytes(quantization, dtype))
    if quantization in ("torchao_int8", "torchao_fp8"):
        return transformers.TorchAoConfig(_torchao(quantization))
    raise ValueError(f"no text encoder quantization config for {quantization!r}")


def _bitsandbytes(quantization: Quantization, dtype: torch.dtype) -> dict[str, Any]:
    if quantization == "int8":
        return {"load_in_8bit": True}
    return {
        "load_in_4bit": True,
        "bnb_4bit_quant_type": "nf4",
        "bnb_4bit_compute_dtype": dtype,
    }


def _torchao(quantization: Quantization) -> Any:
    """int8 weight-only (runs on CUDA and the CPU), or fp8 weights and activations with a
    scale per row (CUDA compute capability 8.9+)."""
    from torchao.quantization import (  # noqa: PLC0415 (heavy, and noisy on import)
        Float8DynamicActivationFloat8WeightConfig,
        Int8WeightOnlyConfig,
        PerRow,
    )

    if quantization == "torchao_int8":
        return Int8WeightOnlyConfig()
    return Float8DynamicActivationFloat8WeightConfig(granularity=PerRow())
