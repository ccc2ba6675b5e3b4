"""What a SwarmUI server offers, read from ``/API/ListT2IParams``: its models, LoRAs, samplers
and schedulers, and the ranges of the parameters a request sets. The answer is the server's
and hostile until read here: only names and numbers of the expected shapes come out."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from engine.loras import is_lora_name

log = logging.getLogger(__name__)

MAX_NAMES = 5000  # a server listing more is cut here: autocomplete shows a handful anyway
MAX_NAME = 300
MODEL_EXTENSIONS = (".safetensors", ".ckpt", ".pt", ".pth", ".bin", ".gguf", ".sft")


@dataclass(frozen=True, slots=True)
class Range:
    """A numeric parameter's bounds and step as the server declares them."""

    low: float
    high: float
    step: float = 0.0

    def holds(self, value: float) -> bool:
        return self.low <= value <= self.high

    def text(self) -> str:
        return f"from {self.low:g} to {self.high:g}"


# The server's own defaults (SwarmUI's T2IParamTypes), used until its list is read.
DEFAULT_RANGES: Mapping[str, Range] = {
    "steps": Range(0.0, 500.0, 1.0),
    "cfgscale": Range(0.0, 100.0, 0.5),
    "width": Range(64.0, 16384.0, 32.0),
    "height": Range(64.0, 16384.0, 32.0),
    "images": Range(1.0, 10000.0, 1.0),
    "initimagecreativity": Range(0.0, 1.0, 0.05),
    "loraweights": Range(-10.0, 10.0, 0.1),
}


@dataclass(frozen=True, slots=True)
class Catalog:
    """One reading of the server's lists. ``loras`` maps the name members see (the file's
    plain name) to the name the server takes (with its folder)."""

    models: tuple[str, ...] = ()
    loras: Mapping[str, str] = field(default_factory=dict)
    samplers: tuple[str, ...] = ()
    schedulers: tuple[str, ...] = ()
    ranges: Mapping[str, Range] = field(default_factory=lambda: dict(DEFAULT_RANGES))

    def range(self, param: str) -> Range:
        return self.ranges.get(param, DEFAULT_RANGES[param])


def read_catalog(data: Any) -> Catalog:
    """The catalog in a ListT2IParams answer; what is missing or malformed is left out."""
    if not isinstance(data, dict):
        raise ValueError("the parameter list is not a JSON object")
    params = {
        str(item["id"]): item
        for item in _items(data.get("list"))
        if isinstance(item, dict) and isinstance(item.get("id"), str)
    }
    ranges = dict(DEFAULT_RANGES)
    for name in DEFAULT_RANGES:
        found = _range(params.get(name))
        if found is not None:
            ranges[name] = found
    listed = data.get("models")
    models_by_type: dict[str, Any] = listed if isinstance(listed, dict) else {}
    models = _names(_model_names(models_by_type.get("Stable-Diffusion")))
    lora_values = _values(params.get("loras")) or _model_names(models_by_type.get("LoRA"))
    return Catalog(
        models=models,
        loras=_lora_map(lora_values),
        samplers=_names(_values(params.get("sampler"))),
        schedulers=_names(_values(params.get("scheduler"))),
        ranges=ranges,
    )


def plain_model_name(name: str) -> str:
    """A model's name without its file extension, as Swarm also accepts it."""
    lowered = name.lower()
    for extension in MODEL_EXTENSIONS:
        if lowered.endswith(extension):
            return name[: -len(extension)]
    return name


def lora_member_name(name: str) -> str:
    """What members type for a LoRA the server names ``folder/file.safetensors``: ``file``."""
    return plain_model_name(name.replace("\\", "/").rsplit("/", 1)[-1])


def _items(value: Any) -> list[Any]:
    return value[:MAX_NAMES] if isinstance(value, list) else []


def _values(param: Any) -> list[str]:
    if not isinstance(param, dict):
        return []
    return [value for value in _items(param.get("values")) if isinstance(value, str)]


def _model_names(entries: Any) -> list[str]:
    """Model names from either listing shape: ``["name", ...]`` or ``[["name", "arch"], ...]``."""
    names = []
    for entry in _items(entries):
        if isinstance(entry, list) and entry and isinstance(entry[0], str):
            names.append(entry[0])
        elif isinstance(entry, str):
            names.append(entry)
    return names


def _names(values: Iterable[str]) -> tuple[str, ...]:
    kept: list[str] = []
    for value in values:
        if (
            value
            and len(value) <= MAX_NAME
            and value.isprintable()
            and value not in kept
            and not value.startswith("-")  # Swarm's separator entries ("-----")
        ):
            kept.append(value)
    return tuple(kept)


def _lora_map(values: Iterable[str]) -> dict[str, str]:
    loras: dict[str, str] = {}
    for full in _names(values):
        name = lora_member_name(full)
        if not is_lora_name(name):
            log.info("Leaving out a SwarmUI LoRA whose name members can't type: %.80r", full)
            continue
        if name in loras:
            log.warning(
                "SwarmUI lists two LoRAs named %s (%s and %s): members get the first",
                name,
                loras[name],
                full,
            )
            continue
        loras[name] = full
    return loras


def _range(param: Any) -> Range | None:
    if not isinstance(param, dict):
        return None
    numbers: list[float] = []
    for key in ("min", "max", "step"):
        value = param.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            return None
        numbers.append(float(value))
    low, high, step = numbers
    if not all(math.isfinite(n) for n in (low, high, step)) or low > high or step < 0:
        return None
    if low == high == 0:  # an unbounded parameter declares no range
        return None
    return Range(low, high, step)
