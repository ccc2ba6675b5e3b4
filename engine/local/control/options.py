"""The owner's ControlNets, read from ``[providers.NAME.controlnets.NAME]``: where each comes
from, which family's models it steers and which maps it follows."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from engine.local.families import UnknownFamily, by_key
from engine.types import ControlKind

DEFAULT_DEPTH = "depth-anything/Depth-Anything-V2-Small-hf"
"""Depth Anything V2 Small, about 25M parameters, Apache-2.0."""
DEFAULT_POSE = "usyd-community/vitpose-base-simple"
"""ViTPose-B on COCO's 17 body keypoints, about 90M parameters, Apache-2.0."""


class ControlNetSpec(BaseModel):
    """One ControlNet. A plain one follows the maps in ``kinds``; a union one (SDXL
    ControlNet-Union, FLUX.1 union) takes several, each with the control mode it was trained
    with in ``modes`` (xinsir's SDXL union: pose 0, depth 1, canny and lineart 3; InstantX's
    FLUX.1 union: canny 0, depth 2, pose 4)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: str  # a diffusers folder or a hub repo id
    family: str  # the key of the family whose models it steers (sd, sdxl, flux1, ...)
    kinds: tuple[ControlKind, ...] = ()
    modes: dict[ControlKind, Annotated[int, Field(ge=0, le=31)]] = Field(default_factory=dict)
    # A whole control transformer (FLUX.1 Canny or Depth [dev]) run in place of the model's own
    # transformer over its other modules, rather than a ControlNet beside it; it takes its map
    # whole (no strength or range).
    transformer: bool = False
    variant: str | None = None
    licence: str | None = None

    @model_validator(mode="after")
    def _steers_a_family_that_follows_maps(self) -> ControlNetSpec:
        try:
            family = by_key(self.family)
        except UnknownFamily as err:
            raise ValueError(str(err)) from None
        if family.control is None:
            raise ValueError(f"{family.label} models follow no ControlNet here")
        if bool(self.kinds) == bool(self.modes):
            raise ValueError(
                "give kinds (a plain ControlNet's maps) or modes (a union one's), one of them"
            )
        if self.modes and family.control.union_model is None:
            raise ValueError(f"{family.label} has no union ControlNet here; give kinds")
        if self.transformer and (self.modes or family.control.transformer_text2img is None):
            raise ValueError(
                f"{family.label} has no control transformer here"
                if family.control.transformer_text2img is None
                else "a control transformer takes kinds, not modes"
            )
        return self

    @property
    def union(self) -> bool:
        return bool(self.modes)

    def follows(self) -> frozenset[ControlKind]:
        return frozenset(self.modes) if self.union else frozenset(self.kinds)
