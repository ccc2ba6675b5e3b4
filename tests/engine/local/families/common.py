"""Pieces the tiny Flux, Chroma and SD3 pipelines share: the 16-channel x8 VAE, the local CLIP
tokenizer and the LoRA maker."""

from __future__ import annotations

import tempfile
from pathlib import Path

import torch
from diffusers import AutoencoderKL
from transformers import CLIPTokenizer

from tests.engine.local import tiny

LORA_TARGETS = [
    "to_q",
    "to_k",
    "to_v",
    "to_out.0",
    "add_q_proj",
    "add_k_proj",
    "add_v_proj",
    "to_add_out",
]


def vae16(scaling_factor: float, shift_factor: float) -> AutoencoderKL:
    """The real families' VAE layout (16 latent channels, four levels so x8, no quant convs)
    at 8 channels a level, with the family's own scaling and shift factors."""
    return AutoencoderKL(
        in_channels=3,
        out_channels=3,
        down_block_types=["DownEncoderBlock2D"] * 4,
        up_block_types=["UpDecoderBlock2D"] * 4,
        block_out_channels=(8, 8, 8, 8),
        layers_per_block=1,
        norm_num_groups=4,
        latent_channels=16,
        sample_size=64,
        use_quant_conv=False,
        use_post_quant_conv=False,
        scaling_factor=scaling_factor,
        shift_factor=shift_factor,
    )


def clip_tokenizer() -> CLIPTokenizer:
    """``tiny.tokenizer`` (single letters, model_max_length 77), its vocabulary files written
    to a temporary folder rather than into the pipeline folder."""
    with tempfile.TemporaryDirectory() as scratch:
        return tiny.tokenizer(Path(scratch))


def build_transformer_lora(
    pipeline_class: type, transformer_class: type, pipe_folder: Path, out: Path, seed: int
) -> Path:
    """A LoRA on the transformer's attention projections, filled with random values x0.3 (peft
    starts it as a no-op), saved with ``pipeline_class.save_lora_weights``."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    transformer = transformer_class.from_pretrained(pipe_folder, subfolder="transformer")
    transformer.add_adapter(LoraConfig(r=4, lora_alpha=4, target_modules=LORA_TARGETS))
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, parameter in transformer.named_parameters():
            if "lora_" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * 0.3)
    layers = get_peft_model_state_dict(transformer, save_embedding_layers=False)
    out.mkdir(parents=True, exist_ok=True)
    pipeline_class.save_lora_weights(out, transformer_lora_layers=layers)
    return out / "pytorch_lora_weights.safetensors"
