"""Tiny random-weight ControlNets made from the tiny pipelines' own UNets, saved where the
engine's loader reads them. A ControlNet's output convolutions start at zero (it then changes
nothing); here they are random, so following a map shows in the picture."""

from __future__ import annotations

from pathlib import Path

import torch
from diffusers import ControlNetModel, ControlNetUnionModel, UNet2DConditionModel

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
