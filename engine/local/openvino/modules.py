"""Stand-ins for a diffusers pipeline's torch modules that run converted parts on OpenVINO:
the pipeline (scheduler, guidance, callbacks, img2img noise) stays diffusers' own, each call
into a part goes to a compiled static shape. A batch runs one image at a time: on a CPU a
batch gains nothing (bench/RESULTS.md), and only one shape per size is compiled."""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch
from diffusers.models.autoencoders.vae import DecoderOutput, DiagonalGaussianDistribution
from diffusers.models.modeling_outputs import AutoencoderKLOutput

log = logging.getLogger(__name__)

Shape = tuple[tuple[int, ...], ...]


class Compiled:
    """One part's OpenVINO model and its compiled static shapes, least recently used out."""

    def __init__(
        self, core: Any, model: Any, properties: Mapping[str, Any], keep: int, label: str
    ) -> None:
        self._core = core
        self._model = model
        self._properties = dict(properties)
        self._keep = keep
        self.label = label
        self._compiled: OrderedDict[Shape, Any] = OrderedDict()

    @property
    def shapes(self) -> list[Shape]:
        return list(self._compiled)

    def __call__(self, *inputs: np.ndarray) -> np.ndarray:
        shape = tuple(tuple(array.shape) for array in inputs)
        compiled = self._compiled.get(shape)
        if compiled is None:
            compiled = self.compile(shape)
        else:
            self._compiled.move_to_end(shape)
        output: np.ndarray = compiled(list(inputs))[0]
        return output

    def compile(self, shape: Shape) -> Any:
        import openvino as ov  # noqa: PLC0415

        started = time.perf_counter()
        self._model.reshape(
            {
                port: ov.PartialShape(list(dims))
                for port, dims in zip(self._model.inputs, shape, strict=True)
            }
        )
        compiled = self._core.compile_model(self._model, "CPU", self._properties)
        self._compiled[shape] = compiled
        while len(self._compiled) > self._keep:
            dropped, _ = self._compiled.popitem(last=False)
            log.info("Dropped the OpenVINO %s compiled for %s", self.label, _dims(dropped[0]))
        log.info(
            "Compiled the OpenVINO %s for %s in %.1f s",
            self.label,
            _dims(shape[0]),
            time.perf_counter() - started,
        )
        return compiled


def _dims(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def _rows(tensor: torch.Tensor) -> list[np.ndarray]:
    array = tensor.detach().to("cpu", torch.float32).contiguous().numpy()
    return [array[i : i + 1] for i in range(array.shape[0])]


class _Part:
    """What diffusers reads off a module besides calling it."""

    dtype = torch.float32
    device = torch.device("cpu")

    def __init__(self, config: Any) -> None:
        self.config = config


class TextEncoder(_Part):
    def __init__(self, compiled: Compiled, config: Any) -> None:
        super().__init__(config)
        self._compiled = compiled

    def __call__(
        self, input_ids: torch.Tensor, attention_mask: Any = None, output_hidden_states: Any = None
    ) -> tuple[torch.Tensor]:
        if attention_mask is not None or output_hidden_states:
            raise NotImplementedError("the OpenVINO text encoder takes token ids alone")
        ids = input_ids.to("cpu", torch.int64).numpy()
        rows = [self._compiled(ids[i : i + 1]) for i in range(ids.shape[0])]
        return (torch.from_numpy(np.concatenate(rows)),)


class UNet(_Part):
    def __init__(self, compiled: Compiled, config: Any) -> None:
        super().__init__(config)
        self._compiled = compiled

    def __call__(
        self,
        sample: torch.Tensor,
        timestep: torch.Tensor | float,
        encoder_hidden_states: torch.Tensor,
        timestep_cond: Any = None,
        cross_attention_kwargs: Any = None,
        added_cond_kwargs: Any = None,
        return_dict: bool = True,
    ) -> tuple[torch.Tensor]:
        if timestep_cond is not None or cross_attention_kwargs or added_cond_kwargs:
            raise NotImplementedError("the OpenVINO UNet takes no extra conditioning")
        count = sample.shape[0]
        times = torch.as_tensor(timestep, dtype=torch.float32).reshape(-1).expand(count)
        out = [
            self._compiled(latent, times[i : i + 1].contiguous().numpy(), text)
            for i, (latent, text) in enumerate(
                zip(_rows(sample), _rows(encoder_hidden_states), strict=True)
            )
        ]
        return (torch.from_numpy(np.concatenate(out)),)


class Vae(_Part):
    """The autoencoder: decode for final images and previews, encode for img2img."""

    def __init__(self, decoder: Compiled, encoder: Compiled, config: Any) -> None:
        super().__init__(config)
        self._decoder = decoder
        self._encoder = encoder

    def decode(self, latents: torch.Tensor, return_dict: bool = True, generator: Any = None) -> Any:
        pixels = torch.from_numpy(np.concatenate([self._decoder(r) for r in _rows(latents)]))
        return DecoderOutput(sample=pixels) if return_dict else (pixels,)

    def encode(self, pixels: torch.Tensor, return_dict: bool = True) -> Any:
        moments = torch.from_numpy(np.concatenate([self._encoder(r) for r in _rows(pixels)]))
        latent = DiagonalGaussianDistribution(moments)
        return AutoencoderKLOutput(latent_dist=latent) if return_dict else (latent,)

    def disable_tiling(self) -> None:
        """Nothing to do: the OpenVINO path never tiles (larger jobs run on PyTorch)."""

    def enable_tiling(self) -> None:
        raise NotImplementedError("the OpenVINO VAE does not decode in tiles")


class TinyDecoder(_Part):
    def __init__(self, compiled: Compiled, config: Any) -> None:
        super().__init__(config)
        self._compiled = compiled

    def decode(self, latents: torch.Tensor, return_dict: bool = True) -> Any:
        pixels = torch.from_numpy(np.concatenate([self._compiled(r) for r in _rows(latents)]))
        return DecoderOutput(sample=pixels) if return_dict else (pixels,)
