"""Seamless tiles: the convolutions of a UNet family's denoiser and autoencoder pad circularly
for one run (their edges then continue on the opposite side), and are put back afterwards."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator
from typing import Any, Literal

from torch import nn

CIRCULAR: Literal["circular"] = "circular"


def convolutions(modules: Iterable[Any]) -> list[nn.Conv2d]:
    """Every padded 2-D convolution inside ``modules`` (None and non-modules skipped)."""
    found: dict[int, nn.Conv2d] = {}
    for module in modules:
        if not isinstance(module, nn.Module):
            continue
        for layer in module.modules():
            if isinstance(layer, nn.Conv2d) and layer.padding != (0, 0):
                found[id(layer)] = layer
    return list(found.values())


@contextlib.contextmanager
def tiled(enabled: bool, *modules: Any) -> Iterator[list[nn.Conv2d]]:
    """Circular padding on the convolutions of ``modules`` while the block runs, when
    ``enabled``; each layer's own padding mode is restored after, whatever happens."""
    if not enabled:
        yield []
        return
    layers = convolutions(modules)
    before = [layer.padding_mode for layer in layers]
    try:
        for layer in layers:
            layer.padding_mode = CIRCULAR
        yield layers
    finally:
        for layer, mode in zip(layers, before, strict=True):
            layer.padding_mode = mode


def tiling_modules(pipe: Any, tiny_decoder: Any = None) -> tuple[Any, ...]:
    """What draws the pixels of a UNet pipeline: its UNet, its autoencoder, the tiny decoder
    that may decode its final latents, and a ControlNet beside it."""
    return (
        getattr(pipe, "unet", None),
        getattr(pipe, "vae", None),
        tiny_decoder,
        getattr(pipe, "controlnet", None),
    )
