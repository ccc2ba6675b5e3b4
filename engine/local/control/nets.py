"""The owner's ControlNets on the engine's GPU thread: which one follows a family's map of a
kind, each loaded when first used and kept, and the family's ControlNet pipeline built over a
loaded model's modules for one call."""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import diffusers
import torch
from PIL import Image

from engine.errors import InvalidRequest
from engine.local.control.options import ControlNetSpec
from engine.local.families import Family, by_key
from engine.local.hub import ModelLoadError, fetch
from engine.types import Control, ControlKind, Mode

log = logging.getLogger(__name__)

Room = Callable[[int, int], None]
"""(GPU bytes, RAM bytes) -> None, once the models in use have made room for them."""


class ControlNets:
    def __init__(
        self,
        specs: Mapping[str, ControlNetSpec],
        device: torch.device,
        cache_dir: str | None,
    ) -> None:
        self.specs = dict(specs)
        self._device = device
        self._cache_dir = cache_dir
        self._loaded: dict[str, Any] = {}

    def kinds(self, family: Family) -> frozenset[ControlKind]:
        """The maps some configured ControlNet follows on ``family``'s models."""
        kinds: set[ControlKind] = set()
        for spec in self.specs.values():
            if spec.family == family.key:
                kinds |= spec.follows()
        return frozenset(kinds)

    def choose(self, family: Family, kind: ControlKind) -> str | None:
        """The first configured ControlNet that follows ``kind`` on ``family``'s models, a plain
        one before a union one (made for that map alone, it follows it better)."""
        fitting = [
            name
            for name, spec in self.specs.items()
            if spec.family == family.key and kind in spec.follows()
        ]
        fitting.sort(key=lambda name: self.specs[name].union)
        return fitting[0] if fitting else None

    def fixed(self, family: Family, kind: ControlKind) -> bool:
        """Whether the model that follows ``kind`` on ``family`` takes its map whole."""
        name = self.choose(family, kind)
        return name is not None and self.specs[name].transformer

    def download(self) -> None:
        """Each ControlNet from the hub that is not in its cache yet (at start, not in a job)."""
        for name, spec in self.specs.items():
            self._folder(name, spec)

    def _folder(self, name: str, spec: ControlNetSpec) -> Path:
        folder = Path(spec.source).expanduser()
        if folder.is_dir():
            return folder
        try:
            return fetch(spec.source, spec.variant, self._cache_dir, "ControlNet")
        except ModelLoadError as err:
            raise ModelLoadError(f"Cannot load the ControlNet {name}: {err}") from err

    @property
    def loaded(self) -> list[str]:
        return list(self._loaded)

    def held(self) -> tuple[int, int]:
        """(GPU bytes, RAM bytes) the loaded ControlNets hold."""
        size = sum(_bytes(net) for net in self._loaded.values())
        return (size, 0) if self._device.type == "cuda" else (0, size)

    def load(self, name: str, dtype: torch.dtype, room: Room) -> Any:
        """The ControlNet, loaded once and kept on the engine's device; those of other
        families are dropped first (they serve only after a change of model, which costs more
        than loading them again), and ``room`` unloads models until it fits the budgets."""
        net = self._loaded.get(name)
        if net is not None:
            return net
        spec = self.specs[name]
        for other in [n for n in self._loaded if self.specs[n].family != spec.family]:
            del self._loaded[other]
            log.info("Unloaded ControlNet %s to make room", other)
        classes = _classes(spec)
        class_name = classes.union_model if spec.union else classes.model
        if spec.transformer:
            class_name = by_key(spec.family).transformer
        assert class_name is not None  # the spec's validator checked it
        folder = self._folder(name, spec)
        try:
            cls = getattr(diffusers, class_name)
            inside = (
                "transformer" if spec.transformer and (folder / "transformer").is_dir() else None
            )
            net = cls.from_pretrained(str(folder), subfolder=inside, dtype=dtype).eval()
        except Exception as err:
            raise ModelLoadError(
                f"Cannot load the ControlNet {name} ({spec.source}): {err}"
            ) from err
        size = _bytes(net)
        room(*((size, 0) if self._device.type == "cuda" else (0, size)))
        net = net.to(self._device)
        log.info("Loaded ControlNet %s (%s) for %s", name, class_name, spec.family)
        self._loaded[name] = net
        return net

    def pipeline(self, pipe: Any, family: Family, mode: Mode, name: str, net: Any) -> Any:
        """``family``'s ControlNet pipeline for ``mode`` (txt2img or img2img) over ``pipe``'s
        modules and ``net``, built as the engine's other sibling pipelines are."""
        spec = self.specs[name]
        classes = _classes(spec)
        kind = "transformer" if spec.transformer else "union" if spec.union else "plain"
        class_name = {
            ("plain", Mode.TXT2IMG): classes.text2img,
            ("plain", Mode.IMG2IMG): classes.image2img,
            ("union", Mode.TXT2IMG): classes.union_text2img,
            ("union", Mode.IMG2IMG): classes.union_image2img,
            ("transformer", Mode.TXT2IMG): classes.transformer_text2img,
            ("transformer", Mode.IMG2IMG): classes.transformer_image2img,
        }.get((kind, mode))
        if class_name is None:
            raise InvalidRequest(
                "control",
                None,
                f"{family.label} follows a control map from a prompt or an image only",
            )
        cls = getattr(diffusers, class_name)
        takes = inspect.signature(cls.__init__).parameters
        settings = {key: value for key, value in pipe.config.items() if not key.startswith("_")}
        steering = {"transformer": net} if spec.transformer else {"controlnet": net}
        parts = {**settings, **pipe.components, **steering}
        built = cls(**{key: value for key, value in parts.items() if key in takes})
        built.set_progress_bar_config(disable=True)
        return built

    def arguments(
        self, name: str, pipe: Any, control: Control, control_map: Image.Image
    ) -> dict[str, Any]:
        """The call's arguments that carry the map, its strength and its range."""
        spec = self.specs[name]
        parameters = inspect.signature(pipe.__call__).parameters
        key = "control_image" if "control_image" in parameters else "image"
        if spec.transformer:
            return {key: control_map}
        arguments: dict[str, Any] = {
            "controlnet_conditioning_scale": control.strength,
            "control_guidance_start": control.start,
            "control_guidance_end": control.end,
        }
        if spec.union:
            mode = spec.modes[control.kind]
            many = "control_mode" in parameters and _takes_lists(pipe)
            arguments[key] = [control_map] if many else control_map
            arguments["control_mode"] = [mode] if many else mode
        else:
            arguments[key] = control_map
        return arguments


def _bytes(net: Any) -> int:
    tensors = [*net.parameters(), *net.buffers()]
    return sum(int(t.numel()) * int(t.element_size()) for t in tensors)


def _classes(spec: ControlNetSpec) -> Any:
    classes = by_key(spec.family).control
    assert classes is not None  # the spec's validator checked it
    return classes


def _takes_lists(pipe: Any) -> bool:
    """SDXL's union pipelines take a list of maps and of modes (one entry a map); FLUX.1's a
    map and a mode."""
    return type(pipe).__name__.startswith("StableDiffusionXLControlNetUnion")
