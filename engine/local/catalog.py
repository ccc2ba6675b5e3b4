"""What the local provider's configured models are and take, from their families: the modes,
references, controls and LoRAs each follows, as far as is known without the hub where the event
loop asks."""

from __future__ import annotations

import contextlib
from dataclasses import replace

import torch

from engine.local.canvas_modes import provider_modes
from engine.local.control.maker import MapMaker
from engine.local.control.nets import ControlNets
from engine.local.device import pick_dtype
from engine.local.families import Family
from engine.local.lora_families import lora_kind
from engine.local.loras import LoraLibrary
from engine.local.memory.cache import PipelineCache
from engine.local.models import family_of, info_of
from engine.local.options import LocalOptions, ModelSpec
from engine.local.pipelines import ModelLoadError
from engine.local.references import max_references, reference_kinds
from engine.provider import Provider
from engine.types import Capabilities, ControlKind, Mode, ModelInfo, ReferenceKind


class LocalCatalog(Provider):
    """The part of ``LocalProvider`` that answers what its models are; the event loop asks it
    (autocomplete, /models), so nothing here waits on the hub unless told ``online``."""

    options: LocalOptions
    device: torch.device
    loras: LoraLibrary
    controlnets: ControlNets
    maps: MapMaker
    cache: PipelineCache
    _families: dict[str, Family]
    _capabilities: Capabilities

    @property
    def capabilities(self) -> Capabilities:
        return self._capabilities

    @property
    def default_model(self) -> str:
        return self.options.default

    def model_spec(self, name: str) -> ModelSpec:
        return self.options.models[name]

    def _dtype(self, name: str) -> torch.dtype:
        return pick_dtype(self.options.dtype, self.device, self.family(name).half)

    def family(self, name: str, online: bool = True) -> Family:
        """The model's family profile, read once (settings, model_index.json, known repos,
        and where ``online`` the hub)."""
        family = self._families.get(name)
        if family is None:
            spec = self.options.models[name]
            family = family_of(name, spec, self.options.cache_dir, online)
            self._families[name] = family
            if hasattr(self, "_capabilities") and not family.modes <= self._capabilities.modes:
                modes = provider_modes(family for _, family in self._known_families())
                self._capabilities = replace(self._capabilities, modes=modes)
        return family

    def _known_families(self) -> list[tuple[str, Family]]:
        """Each configured model's family, as far as is known without the hub (a repo neither
        downloaded nor in the table of well-known ones is learnt when first loaded)."""
        known = []
        for name in self.options.models:
            with contextlib.suppress(ModelLoadError):
                known.append((name, self.family(name, online=False)))
        return known

    def able(self, mode: Mode) -> list[str]:
        """The configured models whose family runs ``mode``, as far as is known offline."""
        return [name for name, family in self._known_families() if mode in family.modes]

    def able_references(self, kind: ReferenceKind) -> list[str]:
        """The configured models that follow ``kind`` of reference, as far as is known offline."""
        return [
            name
            for name, family in self._known_families()
            if kind in reference_kinds(family, self.options.adapters)
            and not self._compiled(name, family)
        ]

    def _compiled(self, name: str, family: Family) -> bool:
        """Compiled, with references through adapters, which change its attention."""
        compiled = self.options.compile or self.options.models[name].compile
        return compiled and family.references == "ip_adapter"

    def model_info(self, name: str) -> ModelInfo:
        """What the model is and takes, from its family; never waits on the hub (autocomplete
        and /models ask it on the event loop), so a repo not downloaded yet, of no family the
        table of well-known repos knows, is described as the provider as a whole."""
        spec = self.options.models.get(name)
        if spec is None:
            return super().model_info(name)
        try:
            family = self.family(name, online=False)
        except ModelLoadError:
            return super().model_info(name)
        info = info_of(
            family,
            spec,
            loras=self.options.lora_dir is not None,
            upscaler=self.options.upscaler is not None,
        )
        info = replace(info, controls=self._controls(family))
        if self._compiled(name, family):
            return info
        return replace(
            info,
            references=reference_kinds(family, self.options.adapters),
            max_references=max_references(family, self.options.adapters),
        )

    def _controls(self, family: Family) -> frozenset[ControlKind]:
        """The maps a model of ``family`` follows here: a ControlNet for it, and a way to make
        the map."""
        return self.controlnets.kinds(family) & self.maps.kinds()

    def able_to_follow(self, kind: ControlKind) -> list[str]:
        """The configured models that follow ``kind`` maps, as far as is known offline."""
        return [name for name, family in self._known_families() if kind in self._controls(family)]

    def lora_names(self, model: str | None = None) -> list[str]:
        """The installed LoRAs, or those that may fit ``model``: made for its family, or for a
        family their file does not tell. Never waits on the hub (autocomplete asks it on the
        event loop): a model whose family is not known without it lists them all."""
        files = self.loras.files()
        family = None
        if model in self.options.models:
            with contextlib.suppress(ModelLoadError):
                family = self.family(model, online=False)
        if family is None:
            return sorted(files)
        shape = family.lora_shape
        return sorted(name for name, path in files.items() if lora_kind(path).fits(shape))

    def loaded_models(self) -> list[str]:
        return list(self.cache.loaded)

    def model_is_nsfw(self, model: str) -> bool:
        spec = self.options.models.get(model)
        return spec.nsfw if spec is not None else False

    def lora_is_nsfw(self, name: str) -> bool:
        return name in self.options.nsfw_loras
