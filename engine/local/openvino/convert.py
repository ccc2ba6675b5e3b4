"""Converting a loaded SD 1.x/2.x pipeline's torch modules to OpenVINO IR, once: each part
traced with OpenVINO's own PyTorch frontend, its weights compressed to int8 by NNCF (unless
``weights = "fp32"``), saved to the store. Progress and a time estimate go to the log."""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from engine.local.openvino.store import PARTS

log = logging.getLogger(__name__)

# Conversion (trace, convert, compress, save) of SD-Turbo's architecture on 2 shared cores of
# an AMD EPYC (bench/openvino_default.py): about 12 s a part plus 0.2 s per million
# parameters, 5.1 min in all. The first estimate scales these by the threads here; after
# each part the estimate follows the pace actually seen.
SECONDS_PER_PART = 12.0
SECONDS_PER_MPARAM = 0.2


class ConversionError(Exception):
    """A part could not be converted; the model runs on PyTorch."""


@dataclass(frozen=True)
class Part:
    name: str
    label: str
    module: torch.nn.Module
    example: tuple[torch.Tensor, ...]

    @property
    def parameters(self) -> int:
        return sum(p.numel() for p in self.module.parameters())


class _TextEncoder(torch.nn.Module):
    def __init__(self, encoder: Any) -> None:
        super().__init__()
        self.encoder = encoder

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        return self.encoder(input_ids, return_dict=False)[0]  # type: ignore[no-any-return]


class _UNet(torch.nn.Module):
    def __init__(self, unet: Any) -> None:
        super().__init__()
        self.unet = unet

    def forward(
        self, sample: torch.Tensor, timestep: torch.Tensor, encoder_hidden_states: torch.Tensor
    ) -> torch.Tensor:
        return self.unet(sample, timestep, encoder_hidden_states, return_dict=False)[0]  # type: ignore[no-any-return]


class _Decoder(torch.nn.Module):
    def __init__(self, vae: Any) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        return self.vae.decode(latents, return_dict=False)[0]  # type: ignore[no-any-return]


class _Encoder(torch.nn.Module):
    """Pixels to the latent distribution's moments (mean and log-variance), which diffusers
    samples from with the job's own generator."""

    def __init__(self, vae: Any) -> None:
        super().__init__()
        self.vae = vae

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        return self.vae.encode(pixels).latent_dist.parameters  # type: ignore[no-any-return]


def parts(pipe: Any, tiny_decoder: Any) -> list[Part]:
    """The parts of an SD 1.x/2.x pipeline, each with an example input to trace. The UNet is
    traced at a latent size its upsamplers cannot halve evenly, so the graph sizes each
    upsampling from the skip connection and runs at any size a member asks for."""
    unet, vae, text = pipe.unet, pipe.vae, pipe.text_encoder
    channels = unet.config.in_channels
    odd = 2 ** (len(unet.config.block_out_channels) - 1) * 2 + 1
    ids = torch.zeros(1, pipe.tokenizer.model_max_length, dtype=torch.int64)
    width = text.config.hidden_size
    found = [
        Part("text_encoder", "text encoder", _TextEncoder(text), (ids,)),
        Part(
            "unet",
            "UNet",
            _UNet(unet),
            (
                torch.randn(1, channels, odd, odd),
                torch.tensor([999.0]),
                torch.randn(1, ids.shape[1], width),
            ),
        ),
        Part("vae_decoder", "VAE decoder", _Decoder(vae), (torch.randn(1, 4, 8, 8),)),
        Part("vae_encoder", "VAE encoder", _Encoder(vae), (torch.randn(1, 3, 64, 64),)),
    ]
    if tiny_decoder is not None:
        found.append(
            Part("tiny_decoder", "tiny decoder", _Decoder(tiny_decoder), (torch.randn(1, 4, 8, 8),))
        )
    assert all(part.name in PARTS for part in found)
    return found


def estimate(parameters: int, count: int) -> float:
    """Seconds to convert this many parameters in ``count`` parts here, from the measured
    2-core pace, scaled by the threads torch uses (one per physical core)."""
    seconds = SECONDS_PER_PART * count + SECONDS_PER_MPARAM * parameters / 1e6
    return seconds * 2 / max(1, torch.get_num_threads())


def convert(
    name: str,
    pipe: Any,
    tiny_decoder: Any,
    out: Path,
    weights: str,
    report: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Convert every part into ``out``; returns what was done, for the store's record."""
    import openvino as ov  # noqa: PLC0415 (the optional extra)

    say = report or (lambda line: log.info("%s", line))
    todo = parts(pipe, tiny_decoder)
    total = sum(part.parameters for part in todo)
    say(
        f"Converting {name} for OpenVINO, once ({len(todo)} parts, {total / 1e6:,.0f}M "
        f"parameters, {weights} weights): about "
        f"{_human(estimate(total, len(todo)))} on {torch.get_num_threads()} threads; "
        f"cached in {out.parent}"
    )
    started = time.perf_counter()
    timings = {}
    for index, part in enumerate(todo, 1):
        begun = time.perf_counter()
        try:
            with _float32(part.module) as module, torch.no_grad():
                model = _trace(ov, module, part.example)
            if weights == "int8":
                model = _compress(model)
            ov.save_model(model, out / f"{part.name}.xml", compress_to_fp16=False)
        except Exception as err:
            raise ConversionError(f"the {part.label} did not convert: {err}") from err
        del model
        seconds = time.perf_counter() - begun
        timings[part.name] = round(seconds, 1)
        done, left = todo[:index], todo[index:]
        pace = (time.perf_counter() - started) / estimate(sum(p.parameters for p in done), index)
        remaining = pace * estimate(sum(p.parameters for p in left), len(left))
        say(
            f"Converted {name}'s {part.label} ({index}/{len(todo)}) in {seconds:.1f} s"
            + (f"; about {_human(remaining)} left" if left else "")
        )
    seconds = time.perf_counter() - started
    say(f"Converted {name} for OpenVINO in {_human(seconds)}")
    return {"model": name, "weights": weights, "seconds": round(seconds, 1), "parts": timings}


def _trace(ov: Any, module: torch.nn.Module, example: tuple[torch.Tensor, ...]) -> Any:
    """OpenVINO's own tracing decoder, without torch's re-run check of the trace (it doubles
    the time and checks nothing the comparison tests don't)."""
    from openvino.frontend.pytorch.ts_decoder import TorchScriptPythonDecoder  # noqa: PLC0415

    # The tracer warns of every Python branch on a shape; the UNet is traced at a size that
    # takes the general branch, and the tests compare the results with PyTorch's.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        decoder = TorchScriptPythonDecoder(
            module.eval(), example_input=example, trace_kwargs={"check_trace": False}
        )
        return ov.convert_model(decoder, example_input=example)


def _compress(model: Any) -> Any:
    """int8 weights (asymmetric, per output channel), NNCF's default for weight compression."""
    import nncf  # noqa: PLC0415

    nncf_log = logging.getLogger("nncf")
    level = nncf_log.level
    nncf_log.setLevel(logging.WARNING)  # its bit-width table and bar belong to a terminal,
    try:  # and its bar goes to stdout whatever the level: the log says the same
        with contextlib.redirect_stdout(io.StringIO()):
            return nncf.compress_weights(model)
    finally:
        nncf_log.setLevel(level)


@contextlib.contextmanager
def _float32(module: torch.nn.Module) -> Iterator[torch.nn.Module]:
    """The module in fp32 for tracing: itself when it already is, else a copy (the engine may
    hold bf16 or fp16 weights; the conversion keeps full precision until NNCF compresses)."""
    if all(p.dtype == torch.float32 for p in module.parameters()):
        yield module
        return
    copied = copy.deepcopy(module).float()
    try:
        yield copied
    finally:
        del copied


def _human(seconds: float) -> str:
    if seconds < 90:
        return f"{seconds:.0f} s"
    return f"{seconds / 60:.1f} min"
