"""SD-Turbo's architecture (bench/configs/sd_turbo.json, an SD 2.x UNet) with seeded random
weights, saved as a diffusers folder: the default model of a CPU-only owner, for the CPU
benchmarks (cpu_default, cpu_paths, openvino_default). Nothing is downloaded."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parents[1]))

import torch
from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel

from tests.engine.local.tiny import tokenizer

CONFIGS = Path(__file__).parent / "configs"


def build(arch: str, folder: Path, dtype: torch.dtype) -> Path:
    """The SD 1.x/2.x architecture in ``configs/<arch>.json`` with seeded random weights,
    saved in ``folder``."""
    config = json.loads((CONFIGS / f"{arch}.json").read_text())
    torch.manual_seed(0)
    text = CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, **config["text_encoders"][0]
    )
    parts: dict[str, Any] = {
        "unet": UNet2DConditionModel.from_config(config["unet"]),
        "vae": AutoencoderKL.from_config(config["vae"]),
        "scheduler": EulerDiscreteScheduler.from_config(config["scheduler"]),
        "tokenizer": tokenizer(folder / "_tokenizer"),
        "text_encoder": CLIPTextModel(text),
    }
    pipe = StableDiffusionPipeline(
        safety_checker=None, feature_extractor=None, requires_safety_checker=False, **parts
    )
    pipe.to(dtype=dtype).save_pretrained(folder)
    return folder
