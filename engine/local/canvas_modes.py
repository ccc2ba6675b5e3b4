"""Which configured models edit, repaint and outpaint (the local provider's modes, and the
refusal naming the models that can), and the strength each of those modes draws at."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from engine.errors import InvalidRequest
from engine.local.families import Family
from engine.types import CANVAS_WORDS, GenerationRequest, Mode

ALWAYS = frozenset({Mode.TXT2IMG, Mode.IMG2IMG, Mode.UPSCALE})


def provider_modes(families: Iterable[Family]) -> frozenset[Mode]:
    """txt2img, img2img and upscale, and each edit and canvas mode one of ``families`` runs."""
    modes = set(ALWAYS)
    for family in families:
        modes |= family.modes & CANVAS_WORDS.keys()
    return frozenset(modes)


def check_mode(
    request: GenerationRequest, name: str, family: Family, able: Callable[[Mode], list[str]]
) -> None:
    """Refuse an edit or canvas mode ``family`` lacks, naming the models ``able`` gives for it
    (asked only then: it may read every model's files)."""
    if request.mode not in CANVAS_WORDS or request.mode in family.modes:
        return
    models = able(request.mode)
    raise InvalidRequest(
        "mode",
        request.mode.value,
        f"{name} ({family.label}) can't {CANVAS_WORDS[request.mode]}; "
        + (f"{', '.join(models)} can" if models else "no model here can"),
    )


def canvas_strength(request: GenerationRequest, family: Family) -> float | None:
    """The strength of an edit or canvas request: INPAINT the family's unless asked (a plain
    model's repaint keeps some of what was there, so it fits its surroundings); OUTPAINT 1
    unless asked, as the padding holds nothing worth keeping; EDIT none, as edit pipelines
    redraw as the instruction says."""
    if request.mode is Mode.EDIT:
        return None
    if request.strength is not None:
        return request.strength
    return family.inpaint_strength if request.mode is Mode.INPAINT else 1.0
