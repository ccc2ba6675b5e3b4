"""Permutations: ``a {red, blue} bird`` is one prompt per choice, groups multiplied, nested
groups counted inside their option. ``\\{``, ``\\}``, ``\\,`` and ``\\\\`` are the characters
themselves. How many prompts a text makes is counted, saturating, before any is built."""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

from bot.prompting.errors import N_, PromptError

MAX_DEPTH = 4  # groups inside groups
MAX_GROUPS = 20
ESCAPABLE = "{},\\"
SPACES = re.compile(r"[ \t]{2,}")


@dataclass(frozen=True, slots=True)
class Group:
    options: tuple[Pieces, ...]


Piece = str | Group
Pieces = tuple[Piece, ...]


def has_groups(text: str) -> bool:
    return "{" in text or "}" in text


def count(text: str, cap: int) -> int:
    """How many prompts ``text`` makes, or ``cap + 1`` where it is more than ``cap``."""
    return _count(_parse(text), cap)


def expand(text: str, cap: int) -> list[str]:
    """Every prompt ``text`` makes (just ``text`` without groups or escapes); more than ``cap``
    is refused before any is built."""
    if not has_groups(text) and "\\" not in text:
        return [text]
    tree = _parse(text)
    total = _count(tree, cap)
    if total > cap:
        raise PromptError(
            "{ }",
            N_("these choices make more than {most} prompts; at most {most} can be queued"),
            most=cap,
        )
    if not any(isinstance(piece, Group) for piece in tree):
        return ["".join(piece for piece in tree if isinstance(piece, str))]
    return [SPACES.sub(" ", made).strip() for made in _build(tree)]


def _count(tree: Pieces, cap: int) -> int:
    total = 1
    for piece in tree:
        if isinstance(piece, Group):
            choices = 0
            for option in piece.options:
                choices = min(cap + 1, choices + _count(option, cap))
            total = min(cap + 1, total * choices)
    return total


def _build(tree: Pieces) -> Iterator[str]:
    parts: list[list[str]] = []
    for piece in tree:
        if isinstance(piece, Group):
            parts.append([made.strip() for option in piece.options for made in _build(option)])
        else:
            parts.append([piece])
    for combination in itertools.product(*parts):
        yield "".join(combination)


def _parse(text: str) -> Pieces:
    """The text as literal runs and groups; unbalanced braces are refused."""
    stack: list[tuple[list[Piece], list[Pieces]]] = []
    pieces: list[Piece] = []
    run: list[str] = []
    groups = 0
    position = 0
    while position < len(text):
        char = text[position]
        position += 1
        if char == "\\" and position < len(text) and text[position] in ESCAPABLE:
            run.append(text[position])
            position += 1
        elif char == "{":
            groups += 1
            if len(stack) >= MAX_DEPTH or groups > MAX_GROUPS:
                raise PromptError(
                    "{ }",
                    N_("use at most {groups} groups of choices, nested {depth} deep"),
                    groups=MAX_GROUPS,
                    depth=MAX_DEPTH,
                )
            _flush(run, pieces)
            stack.append((pieces, []))
            pieces = []
        elif char == "," and stack:
            _flush(run, pieces)
            stack[-1][1].append(tuple(pieces))
            pieces = []
        elif char == "}":
            if not stack:
                raise _unbalanced()
            _flush(run, pieces)
            outer, options = stack.pop()
            options.append(tuple(pieces))
            outer.append(Group(tuple(options)))
            pieces = outer
        else:
            run.append(char)
    if stack:
        raise _unbalanced()
    _flush(run, pieces)
    return tuple(pieces)


def _flush(run: list[str], pieces: list[Piece]) -> None:
    if run:
        pieces.append("".join(run))
        run.clear()


def _unbalanced() -> PromptError:
    return PromptError(
        "{ }",
        N_("a brace has no partner; write choices as {{red, blue}}, or \\{{ for a brace"),
    )
