"""Tiny random-weight ControlNets made from the tiny pipelines' own UNets, saved where the
engine's loader reads them. A ControlNet's output convolutions start at zero (it then changes
nothing); here they are random, so following a map shows in the picture."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch
from diffusers import (
    ControlNetModel,
    ControlNetUnionModel,
    FluxControlNetModel,
    FluxTransformer2DModel,
    SD3ControlNetModel,
    SD3Transformer2DModel,
    UNet2DConditionModel,
)

CONDITIONING = (8, 16)  # one halving, as the tiny VAE: the map's 64 px to 32 latents


def _randomise_zero_convolutions(net: torch.nn.Module) -> None:
    for name, parameter in net.named_parameters():
        zero = ("controlnet_down_blocks", "controlnet_mid_block", "conv_out", "spatial_ch_projs")
        if any(part in name for part in zero):
            torch.nn.init.normal_(parameter, std=0.5)


def build_controlnet(pipe_folder: Path, out: Path, *, union: bool = False, seed: int = 3) -> Path:
    torch.manual_seed(seed)
    unet = UNet2DConditionModel.from_pretrained(pipe_folder / "unet")
    cls = ControlNetUnionModel if union else ControlNetModel
    net = cls.from_unet(unet, conditioning_embedding_out_channels=CONDITIONING)
    if union:  # its control-type transformer is 320 wide unless told: the UNet's first width
        width = unet.config.block_out_channels[0]
        settings = {"num_trans_channel": width, "num_trans_head": 2, "num_proj_channel": width}
        config = {key: value for key, value in net.config.items() if not key.startswith("_")}
        net = ControlNetUnionModel.from_config({**config, **settings})
    _randomise_zero_convolutions(net)
    net.save_pretrained(out)
    return out


def build_flux_controlnet(
    pipe_folder: Path, out: Path, *, union: bool = False, seed: int = 3
) -> Path:
    """A FLUX.1 ControlNet in InstantX's layout (the map goes through the VAE and is packed as
    the latents are): one double and one single block as the tiny transformer; a union one
    takes a control mode."""
    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel.from_pretrained(pipe_folder / "transformer")
    config = {key: value for key, value in transformer.config.items() if not key.startswith("_")}
    net = FluxControlNetModel.from_config(
        {**config, "num_layers": 1, "num_single_layers": 1, "num_mode": 10 if union else None}
    )
    for name, parameter in net.named_parameters():
        if name.startswith(("controlnet_blocks", "controlnet_single_blocks", "controlnet_x")):
            torch.nn.init.normal_(parameter, std=0.5)
    net.save_pretrained(out)
    return out


def build_sd3_controlnet(pipe_folder: Path, out: Path, seed: int = 3) -> Path:
    """An SD 3 ControlNet of one joint block over the tiny SD3 transformer's config."""
    torch.manual_seed(seed)
    transformer = SD3Transformer2DModel.from_pretrained(pipe_folder / "transformer")
    config = {key: value for key, value in transformer.config.items() if not key.startswith("_")}
    net = SD3ControlNetModel.from_config({**config, "num_layers": 1})
    for name, parameter in net.named_parameters():
        if name.startswith(("controlnet_blocks", "pos_embed_input")):
            torch.nn.init.normal_(parameter, std=0.5)
    net.save_pretrained(out)
    return out


def build_sd3_two_blocks(pipe_folder: Path, out: Path, seed: int = 0) -> Path:
    """The tiny SD3 with a second joint block: SD3's transformer adds a ControlNet's residuals
    only to blocks that are not its last (``context_pre_only``), so one block follows none."""
    torch.manual_seed(seed)
    shutil.copytree(pipe_folder, out)
    transformer = SD3Transformer2DModel.from_pretrained(pipe_folder / "transformer")
    config = {key: value for key, value in transformer.config.items() if not key.startswith("_")}
    shutil.rmtree(out / "transformer")
    SD3Transformer2DModel.from_config({**config, "num_layers": 2}).save_pretrained(
        out / "transformer"
    )
    return out


def build_flux_control_transformer(pipe_folder: Path, out: Path, seed: int = 4) -> Path:
    """A FLUX.1 Canny/Depth [dev]-style transformer: the tiny FLUX.1 one taking the packed
    control latents beside the noise (twice the input channels), saved in ``transformer/``
    as those repos hold it."""
    torch.manual_seed(seed)
    transformer = FluxTransformer2DModel.from_pretrained(pipe_folder / "transformer")
    config = {key: value for key, value in transformer.config.items() if not key.startswith("_")}
    channels = config["in_channels"]
    settings = {"in_channels": 2 * channels, "out_channels": channels}
    FluxTransformer2DModel.from_config({**config, **settings}).save_pretrained(out / "transformer")
    return out
