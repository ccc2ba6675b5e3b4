"""The message catalogues: every message of the source in every shipped language, with the
same placeholders; plural forms; the choice of language from an interaction."""

from __future__ import annotations

import ast
import string
from pathlib import Path
from types import SimpleNamespace

import discord
import pytest
from babel.messages.catalog import Catalog
from babel.messages.pofile import read_po, write_po

from bot import i18n
from bot.i18n import extract, language_of, lazy_t, lazy_tn, locale_of, shipped, t, tn

LANGUAGES = [language for language in shipped() if language != i18n.ENGLISH]


@pytest.fixture(scope="module")
def template() -> Catalog:
    return extract.template()


def catalogue(language: str) -> Catalog:
    with extract.catalogue_path(language).open("rb") as source:
        return read_po(source, locale=language, domain=i18n.DOMAIN)


def fields(text: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(text) if name is not None}


def key(message: str | tuple[str, ...] | list[str]) -> str:
    return message if isinstance(message, str) else message[0]


def forms(message: str | tuple[str, ...] | list[str]) -> tuple[str, ...]:
    return (message,) if isinstance(message, str) else tuple(message)


def test_german_and_spanish_ship_beside_english():
    assert shipped()[0] == "en"
    assert {"de", "es"} <= set(LANGUAGES)


def test_the_template_and_catalogues_are_up_to_date_with_the_source():
    """``python -m bot.i18n.extract`` was run after the last change to a message."""
    assert extract.update(check=True) == []


@pytest.mark.parametrize("language", LANGUAGES)
def test_every_message_is_translated_with_the_same_placeholders(template: Catalog, language: str):
    translated = catalogue(language)
    problems = []
    for message in template:
        if not message.id:
            continue
        found = translated.get(message.id)
        where = f"{key(message.id)!r} ({', '.join(f for f, _ in message.locations[:1])})"
        if found is None:
            problems.append(f"missing: {where}")
            continue
        if found.fuzzy:
            problems.append(f"fuzzy: {where}")
        wanted = set().union(*(fields(text) for text in forms(message.id)))
        strings = forms(found.string)
        if message.pluralizable and len(strings) != translated.num_plurals:
            problems.append(f"wrong number of plural forms: {where}")
        for text in strings:
            if not text:
                problems.append(f"untranslated: {where}")
            elif fields(text) != wanted:
                problems.append(f"placeholders {sorted(fields(text))} != {sorted(wanted)}: {where}")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("language", LANGUAGES)
def test_catalogues_hold_no_obsolete_messages(template: Catalog, language: str):
    translated = catalogue(language)
    assert not translated.obsolete
    wanted = {message.id if isinstance(message.id, str) else message.id[0] for message in template}
    stale = [
        message.id
        for message in translated
        if message.id
        and (message.id if isinstance(message.id, str) else message.id[0]) not in wanted
    ]
    assert not stale


@pytest.mark.parametrize("language", ["de", "es"])
def test_german_and_spanish_use_two_plural_forms(language: str):
    """One and everything else (CLDR's "many" for Spanish millions is left to the "other"
    form, as gettext catalogues for Spanish do); other languages bring their own header."""
    translated = catalogue(language)
    assert translated.num_plurals == 2
    assert translated.plural_expr == "(n != 1)"


def test_messages_are_written_as_templates_not_f_strings():
    """An f-string message can't be looked up: its text changes with every value; and a call
    inside an f-string is invisible to the extraction. (A name is allowed: a message marked
    with ``N_`` where it was written, looked up where shown.)"""
    positions = {"t": (1,), "tn": (1, 2), "lazy_t": (0,), "lazy_tn": (0, 1), "N_": (0,)}
    found = []
    for source in extract.SOURCES:
        for path in sorted((extract.ROOT / source).rglob("*.py")):
            if path.is_relative_to(i18n.LOCALES_DIR.parent):
                continue  # the functions themselves
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.JoinedStr) and _calls(node, positions):
                    found.append(f"{path.relative_to(extract.ROOT)}:{node.lineno} (in an f-string)")
                if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)):
                    continue
                for index in positions.get(node.func.id, ()):
                    argument = node.args[index] if index < len(node.args) else None
                    if isinstance(
                        argument,
                        ast.JoinedStr | ast.BinOp | ast.BoolOp | ast.IfExp | ast.Call | None,
                    ):
                        found.append(f"{path.relative_to(extract.ROOT)}:{node.lineno}")
    assert not found


def _calls(node: ast.AST, names: dict[str, tuple[int, ...]]) -> bool:
    return any(
        isinstance(inner, ast.Call) and isinstance(inner.func, ast.Name) and inner.func.id in names
        for inner in ast.walk(node)
    )


def test_plural_forms_follow_the_count():
    assert tn("en", "{count} image", "{count} images", 1) == "1 image"
    assert tn("en", "{count} image", "{count} images", 3) == "3 images"
    assert tn("de", "{count} image", "{count} images", 1) == "1 Bild"
    assert tn("de", "{count} image", "{count} images", 0) == "0 Bilder"
    assert tn("es", "{count} image", "{count} images", 1) == "1 imagen"
    assert tn("es", "{count} image", "{count} images", 4) == "4 imágenes"


def test_placeholders_are_filled_after_translation():
    assert t("de", "Job #{job} is done.", job=7) == "Auftrag #7 ist fertig."
    assert t("es-ES", "Job #{job} is done.", job=7) == "El trabajo #7 está listo."


def test_a_lazy_text_is_english_until_read_in_a_language():
    text = lazy_tn("{count} image", "{count} images", 2)
    assert str(text) == "2 images"
    assert text.in_("de") == "2 Bilder"
    assert lazy_t("Job #{job} is done.", job=3).in_(discord.Locale.spain_spanish) == (
        "El trabajo #3 está listo."
    )


@pytest.mark.parametrize("locale", ["fr", "pt-BR", "ja", "", None, "xx-YY", "../de"])
def test_an_unknown_locale_gives_english(locale: object):
    assert language_of(locale) == "en"
    assert t(locale, "Job #{job} is done.", job=1) == "Job #1 is done."


def test_regional_variants_share_their_language():
    assert language_of("es-419") == "es"
    assert language_of(discord.Locale.german) == "de"
    assert language_of("en-GB") == "en"


def interaction(locale: object, guild_locale: object = None) -> SimpleNamespace:
    return SimpleNamespace(locale=locale, guild_locale=guild_locale)


def test_the_members_language_comes_first():
    assert locale_of(interaction(discord.Locale.german, discord.Locale.spain_spanish)) == "de"


def test_a_member_in_english_reads_english_even_in_a_german_server():
    assert locale_of(interaction(discord.Locale.american_english, discord.Locale.german)) == "en"


def test_a_language_not_shipped_falls_back_to_the_servers():
    assert locale_of(interaction(discord.Locale.french, discord.Locale.spain_spanish)) == "es"


def test_with_neither_shipped_english_is_used():
    assert locale_of(interaction(discord.Locale.french, discord.Locale.japanese)) == "en"
    assert locale_of(interaction(None, None)) == "en"
    assert locale_of(SimpleNamespace()) == "en"


def test_the_extraction_covers_the_bots_messages(template: Catalog):
    ids = {key(message.id) for message in template}
    assert "Job #{job} is done." in ids
    assert "{count} image" in ids
    assert Path(extract.TEMPLATE).is_file()


def test_a_compendium_fills_only_untranslated_messages(tmp_path: Path):
    known = Catalog(locale="de", domain=i18n.DOMAIN)
    known.add("Enhance", "Verbessern")
    known.add("Keep", "Behalten")
    known.add("Guess", "Raten", flags=["fuzzy"])
    known.add(("{count} try", "{count} tries"), ("{count} Versuch", "{count} Versuche"))
    with (tmp_path / "de.po").open("wb") as target:
        write_po(target, known)
    catalog = Catalog(locale="de", domain=i18n.DOMAIN)
    catalog.add("Enhance", "")
    catalog.add("Keep", "Bleibt")
    catalog.add("Guess", "")
    catalog.add(("{count} try", "{count} tries"), ("", ""))
    extract._fill(catalog, tmp_path / "de.po", "de")
    assert catalog.get("Enhance").string == "Verbessern"
    assert catalog.get("Keep").string == "Bleibt"  # a translation is never replaced
    assert catalog.get("Guess").string == ""  # nor filled from a fuzzy one
    assert catalog.get(("{count} try", "{count} tries")).string == (
        "{count} Versuch",
        "{count} Versuche",
    )
