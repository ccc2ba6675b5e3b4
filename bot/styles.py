"""Saved styles: a name, prompt text (a suffix, or a template holding ``{prompt}`` as in the
SD web UIs), a negative prompt and inline parameters, applied to a member's prompt."""

from __future__ import annotations

import difflib
import re
import unicodedata
from dataclasses import dataclass, replace
from enum import StrEnum

from bot.errors import Refusal
from bot.prompting.errors import N_, PromptError
from bot.prompting.params import InlineParams, format_params, parse
from bot.prompting.plan import combined

MAX_NAME = 32
# Letters and digits of any script, '-' and '_', starting with a letter or digit (never '-',
# which would read as the next inline parameter).
NAME = re.compile(rf"[^\W_][\w-]{{0,{MAX_NAME - 1}}}")
PLACEHOLDER = "{prompt}"
NO_STYLE = "-"  # asked for by name: no style, not even the member's default (never a name)
MAX_PARAMS = 300  # characters of inline parameters a style keeps
# Parameters a style cannot carry: another style, more jobs (each charged), the member's own
# results as references (a server style's would be a moderator's).
NOT_IN_STYLES = ("style", "repeat", "sref", "sw")


class Scope(StrEnum):
    MEMBER = "member"  # owner_id is the member's user id; theirs everywhere, DMs included
    GUILD = "guild"  # owner_id is the guild id; everyone's in that server


@dataclass(frozen=True, slots=True)
class Style:
    name: str
    prompt: str = ""
    negative: str = ""
    params: str = ""  # inline --params, as checked when the style was saved
    scope: Scope = Scope.MEMBER


class StyleRefusal(Refusal):
    """Root of the styles' refusals."""


class InvalidStyleName(StyleRefusal):
    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(
            f"{name[:40]!r} can't be a style name: use 1 to {MAX_NAME} letters, digits, "
            "'-' or '_', starting with a letter or digit, without spaces."
        )


class StyleTextTooLong(StyleRefusal):
    def __init__(self, field: str, length: int, most: int) -> None:
        self.field = field
        self.length = length
        self.most = most
        super().__init__(
            f"The style's {field} has {length} characters; shorten it to at most {most}."
        )


class StyleLimitReached(StyleRefusal):
    """``server``: the server's styles (else the member's own) are at the cap."""

    def __init__(self, limit: int, *, server: bool) -> None:
        self.limit = limit
        self.server = server
        whose = "This server has" if server else "You have"
        super().__init__(
            f"{whose} {limit} saved styles, the most allowed; delete one first."
            if limit
            else "Saving styles is turned off on this bot."
        )


class UnknownStyle(StyleRefusal):
    """``close``: names of styles the member can use that look like the one asked for."""

    def __init__(self, name: str, close: tuple[str, ...] = ()) -> None:
        self.name = name
        self.close = close
        hint = f" Did you mean {', '.join(close)}?" if close else " /style list shows yours."
        super().__init__(f"There is no style {name!r} here.{hint}")


class StyleParamsRefused(StyleRefusal):
    """``parameter``: the one a style cannot carry ("--repeat"), or "" when the parameters
    option held text that is no parameter."""

    def __init__(self, parameter: str) -> None:
        self.parameter = parameter
        super().__init__(
            f"A style can't carry {parameter}; leave it out."
            if parameter
            else "The parameters option takes only parameters, such as --ar 16:9 --steps 30."
        )


def normalise_name(name: str) -> str:
    """The stored form of a style name: NFKC, lower case, trimmed; raises InvalidStyleName."""
    normal = unicodedata.normalize("NFKC", name).strip().lower()
    if not NAME.fullmatch(normal):
        raise InvalidStyleName(name)
    return normal


def close_names(name: str, names: list[str], n: int = 3) -> tuple[str, ...]:
    return tuple(difflib.get_close_matches(name, names, n=n, cutoff=0.6))


def merge(style_text: str, text: str) -> str:
    """A1111's rule: a style holding ``{prompt}`` is a template (every ``{prompt}`` becomes the
    member's text); otherwise it follows the member's text after ", ". Empty parts drop out."""
    if PLACEHOLDER in style_text:
        return style_text.replace(PLACEHOLDER, text.strip()).strip()
    return ", ".join(part for part in (text.strip(), style_text.strip()) if part)


def apply(style: Style, prompt: str, negative: str) -> tuple[str, str]:
    """The prompt and negative prompt with ``style`` applied (its parameters are the caller's:
    they need the inline-parameter parser and the slash options)."""
    return merge(style.prompt, prompt), merge(style.negative, negative)


def check_text(style: Style, max_length: int) -> None:
    """A style's texts fit the prompt limit on their own; raises StyleTextTooLong."""
    for field, text, most in (
        ("prompt", style.prompt, max_length),
        ("negative prompt", style.negative, max_length),
        ("parameters", style.params, MAX_PARAMS),
    ):
        if len(text) > most:
            raise StyleTextTooLong(field, len(text), most)


def split_params(prompt: str, parameters: str | None) -> tuple[str, str]:
    """A style's text without parameters, and its parameters (those in ``prompt`` and the
    ``parameters`` option together), checked by the inline-parameter parser and written as it
    reads them back. Raises PromptError naming a bad parameter, or StyleParamsRefused."""
    text, params = parse(prompt)
    if parameters and parameters.strip():
        words, extra = parse(parameters.strip())
        if words.strip():
            raise StyleParamsRefused("")
        for field in extra.given:
            if field in params.given:
                raise PromptError(
                    f"--{field}",
                    N_("it is given twice (as --{first} and {name}); keep one"),
                    first=field,
                )
        params = replace(params, **{field: getattr(extra, field) for field in extra.given})
    for field in NOT_IN_STYLES:
        if field in params.given:
            raise StyleParamsRefused(f"--{field}")
    return text.strip(), format_params(params)


def under(style: Style, params: InlineParams) -> InlineParams:
    """The member's inline ``params`` over the style's: each parameter the member gave wins;
    ``--no`` lists add up, as the negative prompts do."""
    return combined(parse(style.params)[1], params) if style.params else params
