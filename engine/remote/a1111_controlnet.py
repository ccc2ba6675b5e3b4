"""The sd-webui-controlnet extension through A1111's API: what it has (detected at start from
``/controlnet/*``), the ``alwayson_scripts.controlnet.args`` units a request's control and
references become, and the detected map it sends back after the generated images."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, field_validator

from engine.errors import InvalidRequest, ProviderError
from engine.remote.http import RemoteClient
from engine.remote.inputs import fresh_png
from engine.types import MAX_BLEND, ControlKind, GenerationRequest, ReferenceKind

log = logging.getLogger(__name__)

ResizeMode = Literal["Just Resize", "Crop and Resize", "Resize and Fill"]
DEFAULT_UNITS = 3
"""The extension's "Multi-ControlNet: max models amount" when /controlnet/settings is absent."""

# The preprocessor ("module") each kind of map is made with, the first one the server lists.
CONTROL_MODULES: Mapping[ControlKind, tuple[str, ...]] = {
    ControlKind.POSE: ("openpose_full", "dw_openpose_full", "openpose"),
    ControlKind.DEPTH: ("depth_anything", "depth_anything_v2", "depth_midas"),
    ControlKind.CANNY: ("canny",),
    ControlKind.LINEART: ("lineart_realistic", "lineart_standard"),
    ControlKind.AS_IS: ("none",),
}
# The word a ControlNet model's file name carries for each kind (control_v11p_sd15_openpose).
MODEL_WORDS: Mapping[ControlKind, str] = {
    ControlKind.POSE: "openpose",
    ControlKind.DEPTH: "depth",
    ControlKind.CANNY: "canny",
    ControlKind.LINEART: "lineart",
}
MAP_KINDS = tuple(MODEL_WORDS)
_IP_ADAPTER_WORDS = ("ip-adapter", "ip_adapter", "ipadapter")
# IP-Adapters that need a face model or another preprocessor than CLIP vision.
_IP_ADAPTER_OTHER = ("faceid", "face_id", "instant", "pulid")


def is_sdxl(name: str) -> bool:
    """The extension's own guess of a model's family from its name: "xl" means SDXL."""
    return "xl" in name.lower()


def _plain(name: str) -> str:
    return name.rsplit(" [", 1)[0].strip().lower()


@dataclass(frozen=True, slots=True)
class Unit:
    """One ControlNet unit: its preprocessor and model as the server lists them."""

    module: str
    model: str


@dataclass(frozen=True)
class ControlNetSettings:
    """The owner's choices: models and preprocessors per kind, where detection guesses wrong."""

    models: Mapping[ControlKind, str] = field(default_factory=dict)
    modules: Mapping[ControlKind, str] = field(default_factory=dict)
    as_is: ControlKind = ControlKind.POSE  # the model a ready map ("use as is") goes to
    ip_adapters: Mapping[ReferenceKind, str] = field(default_factory=dict)
    resize_mode: ResizeMode = "Crop and Resize"
    pixel_perfect: bool = True


class ControlNetOptions(BaseModel):
    """The ControlNet extension's settings of an A1111 provider."""

    # detected at start unless off; models and preprocessors per kind where the lists
    # leave the choice ambiguous
    controlnet: bool = True
    controlnet_models: dict[ControlKind, str] = {}
    controlnet_modules: dict[ControlKind, str] = {}
    controlnet_as_is: ControlKind = ControlKind.POSE
    controlnet_resize_mode: ResizeMode = "Crop and Resize"
    controlnet_pixel_perfect: bool = True
    ip_adapter_models: dict[ReferenceKind, str] = {}

    @field_validator("controlnet_as_is")
    @classmethod
    def _a_map_kind(cls, kind: ControlKind) -> ControlKind:
        if kind is ControlKind.AS_IS:
            raise ValueError("name the kind of map a ready map is: pose, depth, canny or lineart")
        return kind

    @property
    def controlnet_settings(self) -> ControlNetSettings:
        return ControlNetSettings(
            models=self.controlnet_models,
            modules=self.controlnet_modules,
            as_is=self.controlnet_as_is,
            ip_adapters=self.ip_adapter_models,
            resize_mode=self.controlnet_resize_mode,
            pixel_perfect=self.controlnet_pixel_perfect,
        )


@dataclass(frozen=True)
class ControlNetCatalog:
    """What the extension on one server has: its API version, models, preprocessors and how
    many units one generation takes."""

    version: int | None  # None on Forge's built-in ControlNet, which has no version route
    models: tuple[str, ...]
    modules: frozenset[str]
    units: int = DEFAULT_UNITS
    settings: ControlNetSettings = field(default_factory=ControlNetSettings)

    @classmethod
    def read(
        cls,
        version: Any,
        model_list: Any,
        module_list: Any,
        settings: ControlNetSettings,
        unit_count: Any = None,
    ) -> ControlNetCatalog:
        """The catalog from the routes' answers, each checked for the documented shape."""
        if version is not None and (
            not isinstance(version, Mapping) or not isinstance(version.get("version"), int)
        ):
            raise ValueError("/controlnet/version sent no version number")
        return cls(
            version=None if version is None else int(version["version"]),
            models=tuple(_names(model_list, "model_list")),
            modules=frozenset(_names(module_list, "module_list")),
            units=_unit_count(unit_count),
            settings=settings,
        )

    def _listed(self, name: str) -> str | None:
        """The server's own spelling of ``name``, with or without its hash."""
        wanted = _plain(name)
        return next((m for m in self.models if m == name or _plain(m) == wanted), None)

    def _module(self, kind: ControlKind) -> str | None:
        chosen = None if kind is ControlKind.AS_IS else self.settings.modules.get(kind)
        return self._first_module((chosen,) if chosen else CONTROL_MODULES[kind])

    def _first_module(self, candidates: Iterable[str]) -> str | None:
        """The first of ``candidates`` the server lists, in its spelling (Forge's "None")."""
        listed = {m.lower(): m for m in self.modules}
        return next((listed[m.lower()] for m in candidates if m.lower() in listed), None)

    def _control_model(self, kind: ControlKind, sdxl: bool) -> str | None:
        if chosen := self.settings.models.get(kind):
            return self._listed(chosen)
        if kind is ControlKind.AS_IS:
            return self._control_model(self.settings.as_is, sdxl)
        family = [m for m in self.models if is_sdxl(m) == sdxl and m.lower() != "none"]
        word = MODEL_WORDS[kind]
        named = sorted(
            (m for m in family if word in m.lower()),
            key=lambda m: "anime" in m.lower(),  # lineart_anime is for anime line art only
        )
        unions = [m for m in family if "union" in m.lower()]
        return next(iter(named + unions), None)

    def control_unit(self, kind: ControlKind, checkpoint: str) -> Unit | None:
        """The unit for a ``kind`` map on ``checkpoint``, or None where the server can't."""
        module, model = self._module(kind), self._control_model(kind, is_sdxl(checkpoint))
        return Unit(module, model) if module and model else None

    def reference_unit(self, kind: ReferenceKind, checkpoint: str) -> Unit | None:
        """The IP-Adapter unit for a reference of ``kind`` on ``checkpoint``: a style goes to
        the plain IP-Adapter, a subject to an IP-Adapter Plus (its finer image tokens keep a
        character or object); each falls back to the other where only one is listed."""
        sdxl = is_sdxl(checkpoint)
        if chosen := self.settings.ip_adapters.get(kind):
            model = self._listed(chosen)
            return None if model is None else self._ip_unit(model, sdxl)
        adapters = [
            m
            for m in self.models
            if any(w in m.lower() for w in _IP_ADAPTER_WORDS)
            and not any(w in m.lower() for w in _IP_ADAPTER_OTHER)
            and is_sdxl(m) == sdxl
        ]

        def rank(model: str) -> tuple[bool, bool]:
            plus, face = "plus" in model.lower(), "face" in model.lower()
            return (plus if kind is ReferenceKind.STYLE else not plus, face)

        for model in sorted(adapters, key=rank):
            if unit := self._ip_unit(model, sdxl):
                return unit
        return None

    def _ip_unit(self, model: str, sdxl: bool) -> Unit | None:
        """The CLIP vision preprocessor an IP-Adapter takes: the extension's name, else
        Forge's built-in one's."""
        if not sdxl:
            modules = ("ip-adapter_clip_sd15", "CLIP-ViT-H (IPAdapter)")
        elif "vit-h" in model.lower():  # an SDXL IP-Adapter trained on SD 1.5's ViT-H encoder
            modules = ("ip-adapter_clip_sdxl_plus_vith", "CLIP-ViT-H (IPAdapter)")
        else:
            modules = ("ip-adapter_clip_sdxl", "CLIP-ViT-bigG (IPAdapter)")
        module = self._first_module(modules)
        return Unit(module, model) if module else None

    def controls(self, checkpoint: str) -> frozenset[ControlKind]:
        return frozenset(k for k in ControlKind if self.control_unit(k, checkpoint))

    def references(self, checkpoint: str) -> frozenset[ReferenceKind]:
        return frozenset(k for k in ReferenceKind if self.reference_unit(k, checkpoint))

    @property
    def max_references(self) -> int:
        return min(self.units, MAX_BLEND)

    def summary(self) -> str:
        version = "no version route" if self.version is None else f"version {self.version}"
        return f"{version}, {len(self.models)} models, {self.units} units"

    def describe(self, checkpoint: str) -> str:
        controls = ", ".join(sorted(self.controls(checkpoint))) or "none"
        references = ", ".join(sorted(self.references(checkpoint))) or "none"
        return f"controls {controls}; references {references}"


async def detect(client: RemoteClient, settings: ControlNetSettings) -> ControlNetCatalog | None:
    """The ControlNet extension's catalog, or None where the server has none (its routes
    answer 404) or answers them with something else than the extension's documents. Forge's
    built-in ControlNet answers the lists but has no version or settings route."""
    name = client.provider

    async def optional(path: str) -> Any:
        try:
            return (await client.request("GET", path)).json()
        except ProviderError as err:
            if err.status == 404:
                return None
            raise

    try:
        models = (await client.request("GET", "/controlnet/model_list?update=true")).json()
        modules = (await client.request("GET", "/controlnet/module_list")).json()
        version = await optional("/controlnet/version")
        units = await optional("/controlnet/settings")
        catalog = ControlNetCatalog.read(version, models, modules, settings, units)
    except ProviderError as err:
        if err.status == 404:
            log.info("Provider %s has no ControlNet extension", name)
        else:
            log.warning("Provider %s: ControlNet left off: %s", name, err.user_message)
        return None
    except ValueError as err:
        log.warning("Provider %s: ControlNet left off: %s", name, err)
        return None
    log.info("Provider %s has ControlNet: %s", name, catalog.summary())
    return catalog


def _names(answer: Any, key: str) -> Iterable[str]:
    if not isinstance(answer, Mapping) or not isinstance(answer.get(key), list):
        raise ValueError(f"/controlnet/{key} sent no {key}")
    return (str(name) for name in answer[key] if isinstance(name, str) and name)


def _unit_count(answer: Any) -> int:
    if isinstance(answer, Mapping):
        count = answer.get("control_net_unit_count")
        if isinstance(count, int) and not isinstance(count, bool) and 1 <= count <= 10:
            return count
    return DEFAULT_UNITS


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def units_for(
    catalog: ControlNetCatalog | None,
    request: GenerationRequest,
    provider: str,
    images: bool = True,
) -> list[dict[str, Any]]:
    """The request's ControlNet units, control first (its map is the one sent back), each
    image decoded and encoded afresh (left out with ``images`` false: a check that decodes
    nothing); refuses what the server can't do, naming what it can."""

    def encoded(data: bytes, field_name: str) -> str | None:
        return _b64(fresh_png(data, field=field_name)) if images else None

    if request.control is None and not request.references:
        return []
    checkpoint = request.model or ""
    if catalog is None:
        field_name = "control" if request.control is not None else "references"
        raise InvalidRequest(
            field_name,
            None,
            f"the {provider} provider has no ControlNet extension; pick another model",
        )
    units: list[dict[str, Any]] = []
    settings = catalog.settings
    if (control := request.control) is not None:
        unit = catalog.control_unit(control.kind, checkpoint)
        if unit is None:
            can = ", ".join(sorted(k.value for k in catalog.controls(checkpoint)))
            raise InvalidRequest(
                "control",
                control.kind.value,
                f"this model follows {can}" if can else "this model follows no control map",
            )
        if request.control_image is None:
            raise InvalidRequest("control image", None, "a control needs an image; attach one")
        units.append(
            {
                "enabled": True,
                "image": encoded(request.control_image, "control image"),
                "module": unit.module,
                "model": unit.model,
                "weight": control.strength,
                "guidance_start": control.start,
                "guidance_end": control.end,
                "resize_mode": settings.resize_mode,
                "pixel_perfect": settings.pixel_perfect,
                "control_mode": "Balanced",
                "save_detected_map": True,
            }
        )
    if len(request.reference_images) != len(request.references):
        raise InvalidRequest("references", len(request.reference_images), "one image each")
    for reference, image in zip(request.references, request.reference_images, strict=True):
        unit = catalog.reference_unit(reference.kind, checkpoint)
        if unit is None:
            raise InvalidRequest(
                "references",
                reference.kind.value,
                "this model has no IP-Adapter on the ControlNet extension; pick another model",
            )
        units.append(
            {
                "enabled": True,
                "image": encoded(image, "reference"),
                "module": unit.module,
                "model": unit.model,
                "weight": reference.weight,
                "guidance_start": 0.0,
                "guidance_end": 1.0,
                "resize_mode": settings.resize_mode,
                "pixel_perfect": settings.pixel_perfect,
                "control_mode": "Balanced",
                "save_detected_map": False,  # only the control map comes back
            }
        )
    if len(units) > catalog.units:
        raise InvalidRequest(
            "references",
            len(request.references),
            f"the server takes {catalog.units} ControlNet units, the control counted; give fewer",
        )
    return units


def split_images(
    images: Sequence[str], info: Any, count: int, maps: int
) -> tuple[Sequence[str], Sequence[str]]:
    """The generated images and the extension's detected maps of one answer. A1111 puts a
    grid first where it makes one (``index_of_first_image`` in its info says), then the
    ``count`` images, then each unit's detected map unless the server's
    "do not append detectmap" setting is on."""
    first = _first_image(info)
    if first is None or first + count > len(images):
        # no readable info: the maps, where they came, are the last images
        extra = maps if len(images) >= count + maps else 0
        first = max(0, len(images) - count - extra)
    return images[first : first + count], images[first + count :]


def _first_image(info: Any) -> int | None:
    if isinstance(info, str):
        try:
            info = json.loads(info)
        except ValueError:
            return None
    if isinstance(info, Mapping):
        first = info.get("index_of_first_image")
        if isinstance(first, int) and not isinstance(first, bool) and first >= 0:
            return first
    return None
