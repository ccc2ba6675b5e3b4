"""Midjourney-style parameters at the end of a prompt: ``a castle --ar 16:9 --no people``.

The parameters start at the first ``--name`` that begins a word outside a closed pair of
double quotes (or an em dash, which phone keyboards type for "--", followed by a parameter's
name); everything after it must be parameters, except the words after a one-word value, which
are prompt text (``a castle --style moody {day, night}`` draws "a castle day" and "a castle
night"). A prompt that is just text, a ``--`` inside a quoted phrase and a ``--`` not followed
by a letter stay text. An unknown, repeated or malformed parameter is refused naming it (and
the closest known names), never kept in the prompt.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass, fields
from decimal import Decimal

from bot.prompting.errors import N_, PromptError
from engine.types import MAX_REFERENCES, MAX_SEED

DASHES = ("\u2014", "\u2013")  # em dash and en dash, as phone keyboards turn "--" into
QUOTES = {'"': '"', "\u201c": "\u201d", "\u201e": "\u201c"}
MAX_REPEAT = 40  # the member's queue limit caps it further
MAX_NEGATIVES = 30
MAX_NAME = 100  # a model, sampler or style name
MAX_SECTION = 1000  # the parameters' part of a prompt
MAX_ASPECT_SIDE = 100
MAX_ASPECT_RATIO = 4.0
MAX_GUIDANCE = 30.0
MAX_STEPS = 500  # the bot's own limit applies when the request is checked
MAX_SW = 200  # --sw 100 is weight 1; references take 0 to 2

ALIASES = {
    "ar": "ar",
    "aspect": "ar",
    "no": "no",
    "seed": "seed",
    "steps": "steps",
    "cfg": "guidance",
    "guidance": "guidance",
    "sampler": "sampler",
    "model": "model",
    "repeat": "repeat",
    "r": "repeat",
    "tile": "tile",
    "chaos": "chaos",
    "c": "chaos",
    "style": "style",
    "sref": "sref",
    "sw": "sw",
}
"""Every name a member may type, and the field it sets."""
NAMES = tuple(ALIASES)
ONE_WORD = frozenset({"ar", "seed", "steps", "guidance", "repeat", "tile", "chaos", "style", "sw"})
"""Parameters whose value is one word (none for --tile); the words after it are prompt text.
The others (--no, --sampler, --model, --sref) take everything up to the next parameter."""
WORD = re.compile(r"[A-Za-z][A-Za-z0-9_-]*")
INTEGER = re.compile(r"[0-9]{1,20}")
DECIMAL = re.compile(r"[0-9]{1,6}(?:\.[0-9]{1,12})?")
ASPECT = re.compile(r"([0-9]{1,6})\s*:\s*([0-9]{1,6})")
RESULT = re.compile(r"#?([0-9]{1,19}):([0-9]{1,2})")


@dataclass(frozen=True, slots=True)
class InlineParams:
    """What the parameters of one prompt set; None (or empty) where a parameter is absent."""

    ar: tuple[int, int] | None = None
    no: tuple[str, ...] = ()
    seed: int | None = None
    steps: int | None = None
    guidance: float | None = None
    sampler: str | None = None
    model: str | None = None
    repeat: int | None = None
    tile: bool = False
    chaos: int | None = None
    style: str | None = None
    sref: tuple[tuple[int, int], ...] = ()  # the member's results as (job, image from 1)
    sw: int | None = None

    @property
    def given(self) -> tuple[str, ...]:
        """The fields set, in declaration order."""
        empty = InlineParams()
        return tuple(
            f.name for f in fields(self) if getattr(self, f.name) != getattr(empty, f.name)
        )

    @property
    def aspect(self) -> str | None:
        return None if self.ar is None else f"{self.ar[0]}:{self.ar[1]}"


def parse(text: str) -> tuple[str, InlineParams]:
    """The prompt without its parameters, and the parameters."""
    start = _section_start(text)
    if start is None:
        return text, InlineParams()
    prompt, section = text[:start].rstrip(), text[start:]
    if len(section) > MAX_SECTION:
        raise PromptError(
            "--",
            N_("the parameters are {length} characters long; use at most {most}"),
            length=len(section),
            most=MAX_SECTION,
        )
    values: dict[str, object] = {}
    typed: dict[str, str] = {}
    words: list[str] = []  # after a one-word value: prompt text (a castle --style moody day)
    for name, typed_value in _chunks(section):
        key = ALIASES.get(name.lower())
        if key is None:
            raise _unknown(name)
        value = typed_value
        if key in ONE_WORD:
            split = typed_value.split(maxsplit=1) if key != "tile" else ["", typed_value]
            value, rest = split[0] if split else "", split[1] if len(split) > 1 else ""
            words += rest.split()
        if key in values:
            raise PromptError(
                f"--{name}",
                N_("it is given twice (as --{first} and {name}); keep one"),
                first=typed[key],
            )
        typed[key] = name
        values[key] = _value(key, name, value)
    if "sw" in values and "sref" not in values:
        raise PromptError("--sw", N_("it only applies with --sref; add one or leave it out"))
    return " ".join([prompt, *words]) if words else prompt, InlineParams(**values)  # type: ignore[arg-type]


def format_params(params: InlineParams) -> str:
    """The parameters as a member would type them; ``parse`` reads them back the same."""
    parts = []
    for key in params.given:
        value = getattr(params, key)
        if key == "ar":
            parts.append(f"--ar {params.aspect}")
        elif key == "no":
            parts.append("--no " + ", ".join(value))
        elif key == "tile":
            parts.append("--tile")
        elif key == "guidance":
            parts.append(f"--cfg {format(Decimal(repr(value)), 'f')}")
        elif key == "sref":
            parts.append("--sref " + " ".join(f"{job}:{image}" for job, image in value))
        else:
            parts.append(f"--{key} {value}")
    return " ".join(parts)


def _section_start(text: str) -> int | None:
    """Where the parameters begin: the first marker outside quotes (an em dash only before
    a known name, since it is also punctuation)."""
    for position, name, dashed in _markers(text):
        if not dashed or name.lower() in ALIASES:
            return position
    return None


def _markers(text: str) -> list[tuple[int, str, bool]]:
    """Each "--name" (or dash-name) starting a word outside quotes: position, name, and
    whether it was typed as a dash."""
    found = []
    closed = -1  # where the quoted phrase around this position ends
    for position, char in enumerate(text):
        if position <= closed:
            continue
        if char in QUOTES:  # a quote that is never closed (5" tall) quotes nothing
            closed = max(closed, text.find(QUOTES[char], position + 1))
            continue
        if position and not text[position - 1].isspace():
            continue
        if text.startswith("--", position):
            dashed, skip = False, 2
        elif char in DASHES:
            dashed, skip = True, 1
        else:
            continue
        word = WORD.match(text, position + skip)
        if word is not None:
            found.append((position, word[0], dashed))
    return found


def _chunks(section: str) -> list[tuple[str, str]]:
    """The section split at each marker: (name as typed, its value stripped)."""
    markers = _markers(section)
    chunks = []
    for index, (position, name, dashed) in enumerate(markers):
        end = markers[index + 1][0] if index + 1 < len(markers) else len(section)
        begin = position + (1 if dashed else 2) + len(name)
        if begin < end and not section[begin].isspace():
            if name.lower() in ALIASES:
                raise PromptError(f"--{name}", N_("put a space between it and its value"))
            raise _unknown(section[position + (1 if dashed else 2) : end].split(maxsplit=1)[0])
        chunks.append((name, section[begin:end].strip()))
    return chunks


def _unknown(name: str) -> PromptError:
    name = _shown(name)
    close = difflib.get_close_matches(name.lower(), NAMES, n=3, cutoff=0.6)
    if close:
        return PromptError(
            f"--{name}",
            N_("there is no such parameter (did you mean {close})"),
            close=" or ".join(f"--{c}" for c in close),
        )
    return PromptError(
        f"--{name}",
        N_("there is no such parameter; the parameters are {known}"),
        known=", ".join(f"--{n}" for n in NAMES),
    )


def _value(key: str, name: str, value: str) -> object:
    option = f"--{name}"
    if key == "tile":
        return True
    if not value:
        raise PromptError(option, N_("it needs a value, as in {example}"), example=EXAMPLES[key])
    if key == "ar":
        return _aspect(option, value)
    if key == "no":
        return _negatives(option, value)
    if key in ("sampler", "model", "style"):
        if len(value) > MAX_NAME or "\n" in value:
            raise PromptError(option, N_("use a name of at most {most} characters"), most=MAX_NAME)
        return value
    if key == "guidance":
        return _decimal(option, value, MAX_GUIDANCE)
    if key == "sref":
        return _results(option, value)
    return _integer(option, value, *RANGES[key])


EXAMPLES = {
    "ar": "--ar 16:9",
    "no": "--no people, text",
    "seed": "--seed 7",
    "steps": "--steps 30",
    "guidance": "--cfg 7",
    "sampler": "--sampler Euler a",
    "model": "--model sdxl",
    "repeat": "--repeat 2",
    "chaos": "--chaos 20",
    "style": "--style moody",
    "sref": "--sref 12:1",
    "sw": "--sw 50",
}
RANGES = {
    "seed": (0, MAX_SEED),
    "steps": (1, MAX_STEPS),
    "repeat": (1, MAX_REPEAT),
    "chaos": (0, 100),
    "sw": (0, MAX_SW),
}


def _integer(option: str, value: str, low: int, high: int) -> int:
    if INTEGER.fullmatch(value) is None or not low <= int(value) <= high:
        raise PromptError(
            option,
            N_("use a whole number from {low} to {high}, not {value}"),
            low=low,
            high=high,
            value=_shown(value),
        )
    return int(value)


def _decimal(option: str, value: str, high: float) -> float:
    number = float(value) if DECIMAL.fullmatch(value) else math.nan
    if not 0 <= number <= high:
        raise PromptError(
            option,
            N_("use a number from 0 to {high:g}, not {value}"),
            high=high,
            value=_shown(value),
        )
    return number


def _aspect(option: str, value: str) -> tuple[int, int]:
    match = ASPECT.fullmatch(value)
    across, down = (int(match[1]), int(match[2])) if match else (0, 0)
    if not (0 < across <= MAX_ASPECT_SIDE and 0 < down <= MAX_ASPECT_SIDE):
        raise PromptError(
            option,
            N_("write a ratio such as 16:9 (two whole numbers from 1 to {most}), not {value}"),
            most=MAX_ASPECT_SIDE,
            value=_shown(value),
        )
    if max(across, down) / min(across, down) > MAX_ASPECT_RATIO:
        raise PromptError(
            option, N_("{value} is too narrow; use a ratio from 1:4 to 4:1"), value=_shown(value)
        )
    return across, down


def _negatives(option: str, value: str) -> tuple[str, ...]:
    items = tuple(item.strip() for item in value.split(","))
    if not all(items) or len(items) > MAX_NEGATIVES:
        raise PromptError(
            option,
            N_("list at most {most} things separated by commas, as in --no people, text"),
            most=MAX_NEGATIVES,
        )
    return items


def _results(option: str, value: str) -> tuple[tuple[int, int], ...]:
    items = [item for item in re.split(r"[\s,]+", value) if item]
    found = []
    for item in items:
        match = RESULT.fullmatch(item)
        if match is None or int(match[2]) < 1:
            raise PromptError(
                option,
                N_(
                    "name your results as JOB:IMAGE, such as 12:1, not {value}; to use an "
                    "upload, attach it with the sref option"
                ),
                value=_shown(item),
            )
        found.append((int(match[1]), int(match[2])))
    if len(found) > MAX_REFERENCES:
        raise PromptError(option, N_("give {most} at most"), most=MAX_REFERENCES)
    return tuple(found)


def _shown(value: str) -> str:
    """A value as typed, short, unable to break the message's markdown or mention anyone."""
    value = value.replace("`", "'").replace("@", "@\u200b")
    return value if len(value) <= 40 else value[:39] + "…"
