"""What one /imagine prompt asks for: its permutations, each with its inline parameters, how
many jobs they make, and which inline parameters a command's own options override."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from bot.i18n import t
from bot.prompting.errors import N_, PromptError
from bot.prompting.params import InlineParams, format_params, parse
from bot.prompting.permutations import expand
from engine.types import MAX_SEED, GenerationRequest

OVERRIDES = {
    "ar": ("aspect", "width", "height"),
    "seed": ("seed",),
    "steps": ("steps",),
    "guidance": ("guidance",),
    "sampler": ("sampler",),
    "model": ("model",),
}
"""Inline parameters and the command options that win over them."""


@dataclass(frozen=True, slots=True)
class Draft:
    """One permutation of a prompt: its text without parameters, and its parameters."""

    prompt: str
    params: InlineParams

    @property
    def jobs(self) -> int:
        return self.params.repeat or 1


@dataclass(frozen=True, slots=True)
class Ignored:
    """An inline parameter a command option overrode."""

    parameter: str  # as it would be typed: "--seed 7"
    option: str  # the command's option that won


def drafts(text: str, most: int) -> list[Draft]:
    """The prompts ``text`` makes, parsed; more than ``most`` jobs in all is refused before
    any prompt is built or any job priced."""
    made = [Draft(*parse(prompt)) for prompt in expand(text, most)]
    total = sum(draft.jobs for draft in made)
    if total > most:
        raise PromptError(
            "--repeat",
            N_("this makes {total} jobs and you may queue {most} at most; ask for fewer"),
            total=total,
            most=most,
        )
    for draft in made:
        if not draft.prompt.strip():
            raise PromptError("prompt", N_("write some text before the parameters"))
    return made


def overridden(
    params: InlineParams, options: dict[str, object]
) -> tuple[InlineParams, list[Ignored]]:
    """``params`` without those a given command option overrides, and which they were."""
    ignored = []
    kept = params
    for field, names in OVERRIDES.items():
        given = [name for name in names if options.get(name) is not None]
        if getattr(params, field) is None or not given:
            continue
        shown = format_params(InlineParams(**{field: getattr(params, field)}))
        ignored.append(Ignored(shown, given[0]))
        cleared: dict[str, Any] = {field: None}
        kept = replace(kept, **cleared)
    return kept, ignored


def combined(base: InlineParams, over: InlineParams) -> InlineParams:
    """``over``'s parameters where it gives them, else ``base``'s (a saved style's); their
    ``--no`` lists joined."""
    values: dict[str, Any] = {key: getattr(base, key) for key in base.given}
    values |= {key: getattr(over, key) for key in over.given}
    if base.no and over.no:
        values["no"] = tuple(dict.fromkeys((*base.no, *over.no)))
    return InlineParams(**values)


def merged_negative(negative: str, no: tuple[str, ...]) -> str:
    """The negative prompt with ``--no``'s items added."""
    return ", ".join(part for part in (negative.strip(), *no) if part)


def job_seeds(seed: int | None, repeat: int, count: int) -> list[int | None]:
    """The first seed of each repeated job: apart by ``count``, so no image repeats another;
    None where the provider will pick one."""
    if seed is None:
        return [None] * repeat
    return [(seed + index * count) % (MAX_SEED + 1) for index in range(repeat)]


def parameters_of(request: GenerationRequest) -> str:
    """A finished request's options as inline parameters, to show apart from its prompt."""
    width, height = request.width, request.height
    ratio = None
    if width and height:
        divisor = math.gcd(width, height)
        across, down = width // divisor, height // divisor
        if max(across, down) <= 100 and max(across, down) / min(across, down) <= 4:
            ratio = (across, down)
    return format_params(
        InlineParams(
            ar=ratio,
            seed=request.seed,
            steps=request.steps,
            guidance=request.guidance,
            sampler=request.sampler,
            tile=request.tile,
            chaos=request.chaos or None,
        )
    )


def inline_history(ref_job: str | None, params: InlineParams) -> str | None:
    """``ref_job`` with --sref's results added, as style references at --sw's weight."""
    weight = "" if params.sw is None else f":{params.sw / 100:g}"
    inline = [f"{job}:{image}:style{weight}" for job, image in params.sref]
    return ", ".join(part for part in (ref_job, *inline) if part) or None


def ignored_notes(locale: str, ignored: list[Ignored]) -> str:
    """Which inline parameters the command's options overrode, once each."""
    lines = dict.fromkeys(
        t(
            locale,
            "{parameter} ignored: the {option} option was given",
            parameter=i.parameter,
            option=i.option,
        )
        for i in ignored
    )
    return "\n".join(lines)
