"""What /style, /admin style, /settings and /imagine share about saved styles: a style checked
before it is kept, choices to autocomplete, the listing, and refusals in the member's words."""

from __future__ import annotations

from functools import partial
from typing import Any

import discord
from discord.app_commands import Choice

from bot.errors import BlockedPrompt
from bot.i18n import t
from bot.prompting.errors import PromptError
from bot.styles import (
    MAX_NAME,
    NO_STYLE,
    InvalidStyleName,
    Style,
    StyleLimitReached,
    StyleParamsRefused,
    StyleTextTooLong,
    UnknownStyle,
    check_text,
    normalise_name,
    split_params,
)
from cogs.catalogue import CHOICES_MAX
from cogs.common import clip, explain, runtime_of, shown

COLOUR = discord.Colour.teal()
NO_DEFAULT = NO_STYLE  # /settings style: clear the default
LISTING_BUDGET = 2800  # characters of one embed's description, two embeds within Discord's 6000
CHOICE_TEXT = 100  # Discord's limit on an autocomplete choice's name


async def checked(
    interaction: discord.Interaction[Any],
    name: str,
    prompt: str,
    negative: str | None,
    parameters: str | None,
) -> Style:
    """A style from a member's or a moderator's options: its name, lengths and parameters
    (the option's, and any ending the prompt) checked, and its texts against the blocked terms
    of this server (and the bot's own) as saved; the built-in SFW list applies when it is
    used, where the channel decides."""
    runtime = runtime_of(interaction)
    text, params = split_params(prompt, parameters)
    style = Style(normalise_name(name), text, (negative or "").strip(), params)
    check_text(style, runtime.settings.limits.max_prompt_length)
    await runtime.moderation.screen(
        style.prompt, style.negative, guild_id=interaction.guild_id, sfw=False
    )
    return style


async def default_style(interaction: discord.Interaction[Any], name: str) -> str | None:
    """A /settings default: a style the member can use here (their own or this server's),
    by its stored name; ``NO_DEFAULT`` for none. Raises UnknownStyle or InvalidStyleName."""
    if name.strip() == NO_DEFAULT:
        return None
    style = await runtime_of(interaction).styles.resolve(
        interaction.guild_id, interaction.user.id, name
    )
    return style.name


def refusal(locale: str, error: Exception) -> str:
    """A refusal about a style in the member's language; any other expected error as
    ``cogs.common.explain`` words it."""
    if isinstance(error, InvalidStyleName):
        return t(
            locale,
            "{name} can't be a style name: use 1 to {most} letters, digits, '-' or '_', "
            "starting with a letter or digit, without spaces.",
            name=quoted(error.name),
            most=MAX_NAME,
        )
    if isinstance(error, StyleTextTooLong):
        return t(
            locale,
            "The style's {field} has {length} characters; shorten it to at most {most}.",
            field=field_name(locale, error.field),
            length=error.length,
            most=error.most,
        )
    if isinstance(error, StyleLimitReached):
        if not error.limit:
            return t(locale, "Saving styles is turned off on this bot.")
        if error.server:
            return t(
                locale,
                "This server has {limit} saved styles, the most allowed; delete one first.",
                limit=error.limit,
            )
        return t(
            locale,
            "You have {limit} saved styles, the most allowed; delete one first.",
            limit=error.limit,
        )
    if isinstance(error, StyleParamsRefused):
        if error.parameter:
            return t(
                locale, "A style can't carry {parameter}; leave it out.", parameter=error.parameter
            )
        return t(
            locale, "The parameters option takes only parameters, such as --ar 16:9 --steps 30."
        )
    if isinstance(error, PromptError):
        return error.worded(partial(t, locale))
    if isinstance(error, UnknownStyle):
        name = quoted(error.name)
        if error.close:
            return t(
                locale,
                "There is no style {name} here. Did you mean {close}?",
                name=name,
                close=", ".join(f"`{c}`" for c in error.close),
            )
        return t(locale, "There is no style {name} here; /style list shows yours.", name=name)
    return explain(error, locale)


def kept(locale: str, style: Style) -> str:
    """What a saved style sets besides its text, for the answer to a save."""
    if not style.params:
        return ""
    return " " + t(locale, "Its parameters: {params}.", params=quoted(style.params))


def quoted(name: str) -> str:
    """A style name as typed, as inline code that it cannot break out of."""
    text = clip(name.replace("`", "'").strip(), 40) or " "
    return f"`{text}`"


def saving_refusal(locale: str, error: Exception) -> str:
    """As ``refusal``, for a style being saved: its texts may hold a blocked term."""
    if isinstance(error, BlockedPrompt):
        field = field_name(locale, error.field)
        if error.timed_out:
            return t(
                locale,
                "The style's {field} could not be checked against the blocked terms in time, "
                "so it was not saved; try rewording it.",
                field=field,
            )
        return t(
            locale,
            "The style's {field} contains a blocked term ({term}), so it was not saved.",
            field=field,
            term=error.term,
        )
    return refusal(locale, error)


def field_name(locale: str, field: str) -> str:
    names = {
        "prompt": t(locale, "prompt"),
        "negative prompt": t(locale, "negative prompt"),
        "parameters": t(locale, "parameters"),
    }
    return names.get(field, field)


def choices(locale: str, styles: list[Style], current: str) -> list[Choice[str]]:
    """Styles whose name holds what the member typed, each with the start of its text."""
    needle = current.strip().lower()
    found = [style for style in styles if needle in style.name]
    return [
        Choice(name=clip(described(locale, style), CHOICE_TEXT), value=style.name)
        for style in found[:CHOICES_MAX]
    ]


def described(locale: str, style: Style) -> str:
    text = " ".join(style.prompt.split()) or style.params or "…"
    if style.scope.value == "guild":
        return t(locale, "{name} (server): {text}", name=style.name, text=text)
    return t(locale, "{name}: {text}", name=style.name, text=text)


def section(
    locale: str, title: str, styles: list[Style], *, default: str | None, empty: str
) -> discord.Embed:
    """One list of styles as an embed: each name (★ the member's default) and its texts."""
    return discord.Embed(
        title=title, description=_lines(locale, styles, default) or empty, colour=COLOUR
    )


def server_title(locale: str, count: int, limit: int) -> str:
    return t(locale, "This server's styles ({count} of {limit})", count=count, limit=limit)


def _lines(locale: str, styles: list[Style], default: str | None) -> str:
    lines: list[str] = []
    used = 0
    for index, style in enumerate(styles):
        line = f"`{style.name}`" + (" ★" if style.name == default else "")
        line += " — " + shown(" ".join(style.prompt.split()), 80)
        if style.negative:
            line += " · " + t(locale, "negative: {text}", text=shown(style.negative, 40))
        if style.params:
            line += " · " + quoted(style.params)
        if used + len(line) > LISTING_BUDGET:
            lines.append(t(locale, "… and {count} more", count=len(styles) - index))
            break
        lines.append(line)
        used += len(line) + 1
    return "\n".join(lines)
