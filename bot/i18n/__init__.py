"""Every message a member reads, in their language.

Messages are gettext catalogues (``locales/<lang>/LC_MESSAGES/messages.po``) read through
Babel: the English text is the key, so a message missing from a language falls back to
English, and plural rules come from each catalogue's own ``Plural-Forms`` header. Placeholders
are ``str.format`` fields (``{position}``), filled after translation.

A locale is chosen from the interaction (the member's client), then the server's locale,
then English: ``locale_of(interaction)``.
"""

from __future__ import annotations

import functools
import io
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from babel.support import NullTranslations, Translations

LOCALES_DIR = Path(__file__).with_name("locales")
DOMAIN = "messages"
ENGLISH = "en"


def shipped() -> list[str]:
    """The languages with a catalogue, English (the source language) first."""
    found = sorted({path.parent.parent.name for path in LOCALES_DIR.glob("*/LC_MESSAGES/*.po")})
    return [ENGLISH, *(code for code in found if code != ENGLISH)]


def language_of(locale: object) -> str:
    """The shipped language for a Discord locale ("de", "es-ES", "pt-BR", a
    ``discord.Locale``, None), or English."""
    code = str(getattr(locale, "value", locale) or "").replace("_", "-")
    if not code:
        return ENGLISH
    languages = shipped()
    if code in languages:
        return code
    base = code.split("-", 1)[0]
    return base if base in languages else ENGLISH


def locale_of(interaction: Any) -> str:
    """The language to answer an interaction in: the member's client, else the server's."""
    for locale in (
        getattr(interaction, "locale", None),
        getattr(interaction, "guild_locale", None),
    ):
        language = language_of(locale)
        if language != ENGLISH or str(getattr(locale, "value", locale) or "").startswith("en"):
            return language
    return ENGLISH


@functools.cache
def catalogue(language: str, domain: str = DOMAIN) -> NullTranslations:
    """The compiled texts of one language in one domain (English: the keys themselves)."""
    path = LOCALES_DIR / language / "LC_MESSAGES" / f"{domain}.po"
    if language == ENGLISH or not path.is_file():
        return NullTranslations()
    with path.open("rb") as source:
        parsed = read_po(source, locale=language, domain=domain)
    compiled = io.BytesIO()
    write_mo(compiled, parsed)
    compiled.seek(0)
    return Translations(compiled, domain=domain)


def N_(message: str, /) -> str:
    """Marks a literal (a modal's title, a field's label) as a message for extraction; it is
    translated where it is shown (``cogs.common.in_language``)."""
    return message


def t(locale: object, message: str, /, **values: Any) -> str:
    """``message`` in ``locale``'s language with its placeholders filled."""
    text = catalogue(language_of(locale)).gettext(message)
    return text.format(**values) if values else text


def tn(locale: object, singular: str, plural: str, count: int, /, **values: Any) -> str:
    """The form of a message for ``count`` (``count`` is also a placeholder)."""
    text = catalogue(language_of(locale)).ngettext(singular, plural, count)
    return text.format(count=count, **values)


def discord_time(timestamp: float) -> str:
    """A moment as Discord shows it to each reader, in their language and zone: "in 3 hours
    (6 December 2026 18:00)"."""
    return f"<t:{int(timestamp)}:R> (<t:{int(timestamp)}:f>)"


@dataclass(frozen=True, slots=True)
class Text:
    """A message chosen before the reader's language is known (an error raised deep in the
    bot): rendered with ``in_(locale)``; ``str()`` is its English form, for logs."""

    message: str
    plural: str | None = None
    count: int | None = None
    values: dict[str, Any] = field(default_factory=dict)

    def in_(self, locale: object) -> str:
        values = {
            name: value.in_(locale) if isinstance(value, Text) else value
            for name, value in self.values.items()
        }  # a value may be a message of its own
        if self.plural is None or self.count is None:
            return t(locale, self.message, **values)
        return tn(locale, self.message, self.plural, self.count, **values)

    def __str__(self) -> str:
        return self.in_(ENGLISH)


def lazy_t(message: str, /, **values: Any) -> Text:
    """``t`` for a message whose reader is not known yet."""
    return Text(message, values=values)


def lazy_tn(singular: str, plural: str, count: int, /, **values: Any) -> Text:
    """``tn`` for a message whose reader is not known yet."""
    return Text(singular, plural, count, values)


def worded(locale: object, text: str | Text) -> str:
    """``text`` for the reader: a ``Text`` in their language; a plain string translated where
    it is a message of the catalogue (a literal ``Refusal("...")``), else as it is (already
    worded, or a provider's own words)."""
    return text.in_(locale) if isinstance(text, Text) else t(locale, text)
