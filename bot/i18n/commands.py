"""The slash commands in the member's language: names, descriptions, options and choices.

discord.py hands every string of the command tree to a ``Translator`` once per Discord locale
when the tree syncs; this one answers from the "commands" gettext catalogue of the matching
shipped language. Each text is keyed by what it is (its ``msgctxt``: ``command_name``,
``parameter_description``, ...) and its English text, so an option called "image" and a
description that says "image" are translated apart. A locale with no catalogue, or a text
not in it, gets ``None``: Discord then shows the English default.
"""

from __future__ import annotations

from discord import AppCommandType, Locale, app_commands

from bot.i18n import ENGLISH, catalogue, language_of

DOMAIN = "commands"


def context_key(context: app_commands.TranslationContextTypes) -> str:
    """The catalogue's ``msgctxt`` for a string of the tree: where it appears."""
    return context.location.name


class CommandTranslator(app_commands.Translator):
    async def translate(
        self,
        string: app_commands.locale_str,
        locale: Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        language = language_of(locale)
        if language == ENGLISH:
            return None
        text = str(catalogue(language, DOMAIN).pgettext(context_key(context), string.message))
        return None if text == string.message else text


class RecordingTranslator(app_commands.Translator):
    """Collects every (context, text) the tree asks to translate: the catalogue's keys."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, str], None] = {}

    async def translate(
        self,
        string: app_commands.locale_str,
        locale: Locale,
        context: app_commands.TranslationContextTypes,
    ) -> str | None:
        self.seen[(context_key(context), string.message)] = None
        return None


async def tree_texts(tree: app_commands.CommandTree) -> list[tuple[str, str]]:
    """Every translatable text of ``tree``'s global commands, in the tree's order."""
    recorder = RecordingTranslator()
    for kind in (AppCommandType.chat_input, AppCommandType.user, AppCommandType.message):
        for command in tree.get_commands(type=kind):
            await command.get_translated_payload(tree, recorder)
    return list(recorder.seen)
