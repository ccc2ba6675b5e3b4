"""A request's references and control, checked before anything is queued or charged: one image
per reference, how many, their weights, the control's map, strength and range, and whether the
chosen model follows them (refused naming the models that do)."""

from __future__ import annotations

import math
from collections.abc import Callable

from bot.errors import InvalidOption
from bot.i18n import Text, lazy_t
from bot.input_images import CONTROL_FIELD, REFERENCES_FIELD
from bot.providers import ProviderEntry, Providers
from engine import GenerationRequest, InvalidRequest, Mode
from engine.types import (
    MAX_BLEND,
    MAX_REFERENCES,
    REFERENCE_WEIGHTS,
    ControlKind,
    ModelInfo,
    ReferenceKind,
)

GUIDED_MODES = frozenset({Mode.TXT2IMG, Mode.IMG2IMG})
"""The modes that take references and a control image."""
CONTROL_STRENGTHS = (0.0, 2.0)

REFERENCE_WORDS = {
    ReferenceKind.STYLE: "style references",
    ReferenceKind.SUBJECT: "subject references",
}
CONTROL_WORDS = {
    ControlKind.POSE: "a pose",
    ControlKind.DEPTH: "a depth map",
    ControlKind.CANNY: "edges (canny)",
    ControlKind.LINEART: "line art",
    ControlKind.AS_IS: "a ready-made control map",
}
"""What a model follows, in the words a refusal uses."""


def guided(request: GenerationRequest) -> bool:
    """Whether the request carries a member's reference or control images (or asks for them)."""
    return bool(
        request.references
        or request.reference_images
        or request.control is not None
        or request.control_image is not None
    )


def is_blend(request: GenerationRequest) -> bool:
    """A /blend: text-to-image from two or more references, which needs no prompt."""
    return request.mode is Mode.TXT2IMG and len(request.references) >= 2


def check_guidance(request: GenerationRequest) -> None:
    """Refuse references and control that don't fit together, whatever the model. The images
    themselves are checked with the request's other inputs (``bot.input_images``)."""
    references, images = request.references, request.reference_images
    if len(images) != len(references):
        raise InvalidOption(
            REFERENCES_FIELD,
            None,
            lazy_t(
                "{references} references came with {images} images; give one image for each "
                "reference",
                references=len(references),
                images=len(images),
            ),
        )
    control, control_image = request.control, request.control_image
    if control is not None and control_image is None:
        raise InvalidRequest(
            CONTROL_FIELD, None, "a control type needs a control image; attach one"
        )
    if control is None and control_image is not None:
        raise InvalidRequest(
            "control_type", None, "say what to follow in the control image: pose, depth, edges"
        )
    if not guided(request):
        return
    if request.mode not in GUIDED_MODES:
        field = REFERENCES_FIELD if references else CONTROL_FIELD
        raise InvalidOption(
            field,
            None,
            lazy_t(
                "{mode} takes no references or control image; leave them out",
                mode=request.mode.value,
            ),
        )
    if len(references) > MAX_BLEND:
        raise InvalidOption(
            REFERENCES_FIELD,
            len(references),
            lazy_t(
                "give {most} at most (/blend mixes up to {blend} images)",
                most=MAX_REFERENCES,
                blend=MAX_BLEND,
            ),
        )
    low, high = REFERENCE_WEIGHTS
    for reference in references:
        if not (math.isfinite(reference.weight) and low <= reference.weight <= high):
            raise InvalidOption(
                "reference_weight",
                reference.weight,
                lazy_t(
                    "use a value from {low} to {high}", low=format(low, "g"), high=format(high, "g")
                ),
            )
    if control is not None:
        low, high = CONTROL_STRENGTHS
        if not (math.isfinite(control.strength) and low <= control.strength <= high):
            raise InvalidOption(
                "control_strength",
                control.strength,
                lazy_t(
                    "use a value from {low} to {high}", low=format(low, "g"), high=format(high, "g")
                ),
            )
        for name, value in (("control_start", control.start), ("control_end", control.end)):
            if not (math.isfinite(value) and 0 <= value <= 1):
                raise InvalidRequest(name, value, "use a fraction of the steps, from 0 to 1")
        if control.start >= control.end:
            raise InvalidOption(
                "control_end",
                control.end,
                lazy_t(
                    "it must come after control_start ({start}); the control is followed from "
                    "start to end",
                    start=format(control.start, "g"),
                ),
            )


def check_model(
    providers: Providers, entry: ProviderEntry, request: GenerationRequest, model: str
) -> None:
    """Refuse references or a control the model can't follow, or more references than it
    takes, naming the models that can."""
    if not guided(request):
        return
    provider = entry.provider
    if provider.capabilities.models and model not in provider.capabilities.models:
        return  # the provider's prepare names its models
    info = provider.model_info(model)
    mode = request.mode
    kinds = frozenset(reference.kind for reference in request.references)
    for kind in sorted(kinds):
        if kind not in info.references:
            raise _unable(providers, model, mode, REFERENCE_WORDS[kind], _follows(kind))
    count = len(request.references)
    if count > info.max_references:

        def takes_them(other: ModelInfo) -> bool:
            return kinds <= other.references and other.max_references >= count

        raise _unable(providers, model, mode, f"take {count} reference images", takes_them)
    control = request.control
    if control is not None and control.kind not in info.controls:
        wanted = control.kind
        raise _unable(
            providers, model, mode, CONTROL_WORDS[wanted], lambda other: wanted in other.controls
        )


def _follows(kind: ReferenceKind) -> Callable[[ModelInfo], bool]:
    return lambda info: kind in info.references and info.max_references > 0


def _unable(
    providers: Providers,
    model: str,
    mode: Mode,
    what: str,
    need: Callable[[ModelInfo], bool],
) -> InvalidRequest:
    words = what if what.startswith("take ") else f"follow {what}"
    return providers.unable(model, mode, words=words, need=need)


def check_tile(
    providers: Providers, entry: ProviderEntry, request: GenerationRequest, model: str
) -> None:
    """Refuse seamless tiling where the model can't draw it, naming the models that can."""
    if request.tile and not entry.provider.model_info(model).tile:
        raise providers.unable(
            model,
            request.mode,
            words=lazy_t("draw seamless tiles (--tile)"),
            need=lambda i: i.tile,
        )


def _value_range(low: float, high: float) -> Text:
    return lazy_t("use a value from {low} to {high}", low=format(low, "g"), high=format(high, "g"))
