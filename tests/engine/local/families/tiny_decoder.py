"""A tiny ``AutoencoderTiny`` (TAESD3 / TAEF1 style) for 16-channel latents."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import AutoencoderTiny


def build_tiny_decoder(
    folder: Path, latent_channels: int, scaling_factor: float = 1.0, shift_factor: float = 0.0
) -> Path:
    """Four levels of 8 channels, so three x2 upsamplings: x8 like the real TAESD decoders."""
    torch.manual_seed(0)
    AutoencoderTiny(
        encoder_block_out_channels=(8, 8, 8, 8),
        decoder_block_out_channels=(8, 8, 8, 8),
        num_encoder_blocks=(1, 1, 1, 1),
        num_decoder_blocks=(1, 1, 1, 1),
        latent_channels=latent_channels,
        scaling_factor=scaling_factor,
        shift_factor=shift_factor,
    ).save_pretrained(folder)
    return folder
