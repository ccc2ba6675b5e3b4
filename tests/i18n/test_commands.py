"""The command tree in each shipped language: every name, description, option and choice is
translated, the catalogue template is current, and what the bot syncs is what Discord takes
(the fake Discord refuses a localized name that is not lower case, has spaces or is too long,
and two options that read the same in one language)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import discord
import pytest
from babel.messages.pofile import read_po

from bot.i18n import ENGLISH, LOCALES_DIR, shipped
from bot.i18n.commands import DOMAIN, CommandTranslator, tree_texts
from tests.cogs.conftest import ALICE, GENERAL, open_world
from tests.fakes.discord import rules
from tests.i18n.commands_pot import EVERYTHING, POT

LANGUAGES = [language for language in shipped() if language != ENGLISH]


def catalogue(language: str) -> Any:
    with (LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po").open("rb") as source:
        return read_po(source, locale=language)


def test_german_and_spanish_ship() -> None:
    assert {"de", "es"} <= set(LANGUAGES)


async def test_every_text_of_the_tree_is_translated_in_every_language(
    tmp_path: Path, redirect: None
) -> None:
    async with open_world(tmp_path, **EVERYTHING) as world:
        texts = await tree_texts(world.bot.tree)
        synced = world.fake.synced
    with POT.open("rb") as source:
        template = {(m.context, m.id) for m in read_po(source) if m.id}
    assert set(texts) == template, (
        "bot/i18n/locales/commands.pot is out of date: run python -m tests.i18n.commands_pot"
    )
    for language in LANGUAGES:
        entries = {(m.context, m.id): m for m in catalogue(language) if m.id}
        missing = [key for key in texts if key not in entries or not entries[key].string]
        assert missing == [], f"{language}: untranslated {missing}"
        fuzzy = [key for key in texts if entries[key].fuzzy]
        assert fuzzy == [], f"{language}: fuzzy {fuzzy}"
        obsolete = sorted(set(entries) - set(texts))
        assert obsolete == [], f"{language}: no longer in the tree {obsolete}"
    rules.check_commands(synced)  # what Discord would check, localizations included


async def test_the_synced_tree_carries_german_and_spanish(tmp_path: Path, redirect: None) -> None:
    async with open_world(tmp_path) as world:
        synced = world.fake.synced
    imagine = next(c for c in synced if c["name"] == "imagine" and c.get("type", 1) == 1)
    assert imagine["name_localizations"]["de"] == "bild"
    assert imagine["name_localizations"]["es-ES"] == "imaginar"
    assert imagine["name_localizations"]["es-419"] == "imaginar"
    assert "en-US" not in imagine["name_localizations"]
    assert imagine["description_localizations"]["de"] == "Bilder aus einem Prompt erzeugen"
    options = {o["name"]: o for o in imagine["options"]}
    assert options["width"]["name_localizations"]["de"] == "breite"
    assert options["width"]["name_localizations"]["es-ES"] == "ancho"
    control = {c["value"]: c for c in options["control_type"]["choices"]}
    assert control["depth"]["name_localizations"]["es-419"] == "Profundidad (cerca y lejos)"
    menus = {c["name"]: c for c in synced if c.get("type") == 3}
    assert menus["Edit image"]["name_localizations"]["de"] == "Bild bearbeiten"


async def test_a_german_member_invokes_the_command_by_its_default_name(
    tmp_path: Path, redirect: None
) -> None:
    # A client shows "/bild" but sends the command's default name and option names.
    async with open_world(tmp_path) as world:
        interaction = await world.fake.invoke(
            "imagine", {"prompt": "eine Katze"}, user=ALICE, channel=GENERAL, locale="de"
        )
        await interaction.response()
        await world.fake.wait_for(
            lambda: bool(world.fake.channel_messages(GENERAL, include_ephemeral=False))
        )
        jobs = await world.jobs()
    assert ['"eine Katze"' in job["request"] for job in jobs] == [True]
    assert [job["locale"] for job in jobs] == ["de"]


@pytest.mark.parametrize(
    ("locale", "expected"),
    [
        (discord.Locale.german, "bild"),
        (discord.Locale.spain_spanish, "imaginar"),
        (discord.Locale.latin_american_spanish, "imaginar"),
        (discord.Locale.american_english, None),
        (discord.Locale.japanese, None),  # no catalogue: Discord shows the default
    ],
)
async def test_the_translator_answers_per_locale(
    locale: discord.Locale, expected: str | None
) -> None:
    context = discord.app_commands.TranslationContext(
        discord.app_commands.TranslationContextLocation.command_name, None
    )
    translated = await CommandTranslator().translate(
        discord.app_commands.locale_str("imagine"), locale, context
    )
    assert translated == expected


def test_the_fake_refuses_what_discord_refuses() -> None:
    def command(**localized: Any) -> list[dict[str, Any]]:
        return [
            {
                "name": "imagine",
                "description": "Make images",
                "options": [
                    {"type": 3, "name": "width", "description": "w", **localized},
                    {"type": 3, "name": "height", "description": "h"},
                ],
            }
        ]

    rules.check_commands(command(name_localizations={"de": "breite"}))
    for bad in (
        {"name_localizations": {"de": "Breite"}},  # upper case
        {"name_localizations": {"de": "die breite"}},  # a space
        {"name_localizations": {"de": "b" * 33}},  # too long
        {"name_localizations": {"de": "height"}},  # reads like its sibling in German
        {"name_localizations": {"xx": "breite"}},  # not a Discord locale
        {"description_localizations": {"de": "d" * 101}},
    ):
        with pytest.raises(rules.Refused):
            rules.check_commands(command(**bad))
