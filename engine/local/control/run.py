"""A request's control, checked up front and then readied on the GPU thread: its map made,
its ControlNet loaded, the family's ControlNet pipeline built and the call's arguments."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from PIL import Image

from engine.errors import InvalidRequest
from engine.local.control.maker import MapMaker
from engine.local.control.nets import ControlNets, Room
from engine.local.families import Family
from engine.types import Control, ControlKind, GenerationRequest, Mode

CONTROL_MODES = frozenset({Mode.TXT2IMG, Mode.IMG2IMG})
MAX_STRENGTH = 2.0


def check_control(
    request: GenerationRequest,
    name: str,
    family: Family,
    follows: frozenset[ControlKind],
    able: Callable[[ControlKind], list[str]],
    fixed: Callable[[ControlKind], bool] = lambda kind: False,
) -> None:
    """Refuse, by field and value, a control this model cannot follow or that is out of range;
    ``follows`` is what the model follows here, ``able`` names the models that follow a kind
    (asked only then), ``fixed`` tells a kind followed by a control transformer, which takes
    no strength or range."""
    control = request.control
    if control is None:
        if request.control_image is not None:
            raise InvalidRequest("control", None, "a control image needs a control type")
        return
    if request.control_image is None:
        raise InvalidRequest("control_image", None, "a control needs an image")
    if not 0.0 <= control.strength <= MAX_STRENGTH:
        raise InvalidRequest("control_strength", control.strength, f"0 to {MAX_STRENGTH:g}")
    if not 0.0 <= control.start < control.end <= 1.0:
        raise InvalidRequest(
            "control_range",
            f"{control.start:g}–{control.end:g}",
            "a start and an end with 0 <= start < end <= 1",
        )
    if request.mode not in CONTROL_MODES:
        raise InvalidRequest(
            "control", control.kind.value, "a control goes with a prompt, or with img2img"
        )
    classes = family.control
    if request.mode is Mode.IMG2IMG and classes is not None and classes.image2img is None:
        raise InvalidRequest(
            "control", control.kind.value, f"{family.label} follows a control from a prompt only"
        )
    if control.kind not in follows:
        models = able(control.kind)
        raise InvalidRequest(
            "control",
            control.kind.value,
            f"{name} ({family.label}) doesn't follow {control.kind.value} maps here; "
            + (f"{', '.join(models)} can" if models else "no model here can"),
        )
    if fixed(control.kind) and (control.strength, control.start, control.end) != (1, 0, 1):
        raise InvalidRequest(
            "control_strength",
            control.strength,
            f"{name} follows {control.kind.value} maps whole; leave strength, start and end out",
        )


@dataclass
class ControlRun:
    pipe: Any
    arguments: dict[str, Any]
    control_map: Image.Image


def ready_control(
    maps: MapMaker,
    nets: ControlNets,
    pipe: Any,
    family: Family,
    request: GenerationRequest,
    dtype: torch.dtype,
    room: Room,
) -> ControlRun:
    """The map, the ControlNet pipeline over ``pipe``'s modules and the call's arguments."""
    control: Control | None = request.control
    assert control is not None
    name = nets.choose(family, control.kind)
    if name is None:  # prepare() refuses this; a job queued before a settings change
        raise InvalidRequest("control", control.kind.value, f"no ControlNet for {family.label}")
    control_map = maps.make(control, request.control_image, request.size)
    net = nets.load(name, dtype, room)
    built = nets.pipeline(pipe, family, request.mode, name, net)
    return ControlRun(built, nets.arguments(name, built, control, control_map), control_map)
