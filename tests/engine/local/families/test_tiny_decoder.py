"""A tiny 16-channel AutoencoderTiny decodes the tiny Flux and SD3 pipelines' latents."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from diffusers import AutoencoderTiny

from tests.engine.local.families import checks
from tests.engine.local.families.tiny_decoder import build_tiny_decoder


@pytest.mark.parametrize("family", ["flux1", "sd3"])
def test_tiny_decoder_turns_16_channel_latents_into_64px_images(
    family: str, request: pytest.FixtureRequest, tmp_path: Path
):
    if family == "flux1":
        folder = request.getfixturevalue("flux1_dev_folder")
        pipe = checks.load("FluxPipeline", folder)
    else:
        folder = request.getfixturevalue("sd3_folder")
        pipe = checks.load("StableDiffusion3Pipeline", folder)
    vae = pipe.vae.config
    tiny = AutoencoderTiny.from_pretrained(
        build_tiny_decoder(tmp_path / "tiny", 16, vae.scaling_factor, vae.shift_factor)
    )
    latents = torch.as_tensor(
        checks.run(pipe, prompt=[checks.PROMPT] * 2, generator=None, output_type="latent")
    )
    if family == "flux1":
        latents = pipe._unpack_latents(latents, 64, 64, pipe.vae_scale_factor)
    assert latents.shape == (2, 16, 8, 8)
    with torch.no_grad():
        images = tiny.decode(latents / tiny.config.scaling_factor + tiny.config.shift_factor)
    assert images.sample.shape == (2, 3, 64, 64)
    assert torch.isfinite(images.sample).all()
