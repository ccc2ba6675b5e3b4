"""The OpenVINO path's settings, ``[providers.NAME.openvino]``, and the per-model choice of
runtime. Imports neither torch nor OpenVINO: `models list` reads them without either."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

Runtime = Literal["auto", "torch", "openvino"]
# The families whose pipelines the OpenVINO path runs: SD 1.x and 2.x (SD-Turbo).
FAMILIES = frozenset({"sd"})


class OpenVinoOptions(BaseModel):
    """Where converted models are kept and how they run."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # Converted models, one folder per model and conversion key; by default the bot's data
    # folder's "openvino" (storage.data_dir). Without either, models convert at every start.
    folder: str | None = None
    # "int8": weights compressed to 8 bits by NNCF (a quarter of fp32's memory and disk, about
    # twice as fast on a CPU; pictures differ from fp32's by a few levels in 255, see
    # docs/cpu.md). "fp32": the model's own weights, unchanged.
    weights: Literal["int8", "fp32"] = "int8"
    # "auto": OpenVINO's own choice, bf16 where the CPU computes it natively (avx512_bf16,
    # AMX), else fp32.
    precision: Literal["auto", "bf16", "f32"] = "auto"
    # Compiled sizes (width x height) kept per part of a model; each costs memory, and a new
    # one costs a compilation (seconds) in the first job at that size.
    shapes: Annotated[int, Field(ge=1, le=16)] = 3


def installed() -> bool:
    """Whether the ``openvino`` extra (OpenVINO and NNCF) is importable here."""
    return all(importlib.util.find_spec(name) is not None for name in ("openvino", "nncf"))


@dataclass(frozen=True)
class Choice:
    runtime: Literal["torch", "openvino"]
    reason: str


def choose_runtime(
    setting: Runtime,
    device: str,
    family: str,
    *,
    available: bool,
    family_label: str = "",
    torch_only: str = "",
    kept: bool = True,
) -> Choice:
    """The runtime a model runs on. "auto" takes OpenVINO on a CPU when the extra is
    installed, the family is one it runs and its conversion can be ``kept`` on disk (under
    the bot, always: its data folder); "openvino" asked for where it cannot run says why and
    takes PyTorch, as a failed conversion does, and without a folder converts at each start.
    ``torch_only`` names a setting of the model's that only PyTorch honours."""
    label = family_label or family
    if setting == "torch":
        return Choice("torch", 'runtime = "torch"')
    if setting == "auto" and not kept:
        why = "no folder to keep its conversion in (openvino.folder, or the bot's data folder)"
    elif torch_only:
        why = f"{torch_only} is a PyTorch setting"
    elif device != "cpu":
        why = f"the model runs on {device}; OpenVINO is the CPU path"
    elif family not in FAMILIES:
        why = f"OpenVINO runs SD 1.x/2.x here, not {label}"
    elif not available:
        why = "the openvino extra is not installed (pip install '.[openvino]')"
    else:
        return Choice("openvino", f'runtime = "{setting}" on a CPU')
    return Choice("torch", why)
