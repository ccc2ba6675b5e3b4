"""Writes bot/i18n/locales/commands.pot: every text of the command tree a member sees (names,
descriptions, options, choices), collected from the bot as it syncs against the fake Discord.

    python -m tests.i18n.commands_pot

Then bring each language up to date with ``pybabel update -D commands -i
bot/i18n/locales/commands.pot -d bot/i18n/locales`` and translate what it marks new.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.pofile import write_po

from bot.i18n import LOCALES_DIR
from bot.i18n.commands import DOMAIN, tree_texts
from tests.cogs.conftest import open_world

POT = LOCALES_DIR / f"{DOMAIN}.pot"
# Every optional command on, so that each is in the catalogue.
EVERYTHING: dict[str, dict[str, object]] = {
    "prompt_helper": {"enabled": True, "base_url": "http://127.0.0.1:9/v1", "model": "small"}
}


async def collect() -> list[tuple[str, str]]:
    """The (context, text) pairs of the tree the bot syncs with every option on."""
    with tempfile.TemporaryDirectory() as folder:
        async with open_world(Path(folder), **EVERYTHING) as world:
            return await tree_texts(world.bot.tree)


def template(texts: list[tuple[str, str]]) -> Catalog:
    catalog = Catalog(project="imagebot", domain=DOMAIN, fuzzy=False)
    for context, text in texts:
        catalog.add(text, context=context)
    return catalog


def main() -> int:
    texts = asyncio.run(collect())
    POT.parent.mkdir(parents=True, exist_ok=True)
    with POT.open("wb") as out:
        write_po(out, template(texts), omit_header=False, sort_output=False, width=100)
    print(f"{len(texts)} texts written to {POT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
