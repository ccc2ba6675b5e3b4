"""``python -m bot.i18n.extract``: collect every message from the source into
``locales/messages.pot`` and bring each language's catalogue up to date with it (new
messages added untranslated, removed ones dropped). ``--check`` changes nothing and exits 1
when a catalogue is out of date; ``--compendium DIR`` fills untranslated messages from
``DIR/<lang>.po`` (translations made elsewhere, as gettext's msgmerge takes them). Babel does
the reading and merging; the keywords are the functions of ``bot.i18n``."""

from __future__ import annotations

import argparse
import io
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po, write_po

from bot.i18n import DOMAIN, ENGLISH, LOCALES_DIR

ROOT = LOCALES_DIR.parent.parent.parent
SOURCES = ("bot", "cogs")
# function name -> the positions (1-based) of its message arguments
KEYWORDS: dict[str, tuple[int, ...]] = {
    "t": (2,),
    "tn": (2, 3),
    "lazy_t": (1,),
    "lazy_tn": (1, 2),
    "N_": (1,),
    # literal messages: a Refusal's, and the advice of an invalid option (bot.errors.in_words)
    "Refusal": (1,),
    "InvalidRequest": (3,),
}
TEMPLATE = LOCALES_DIR / f"{DOMAIN}.pot"


def messages() -> Iterator[tuple[str, int, str | tuple[str, ...], list[str], str | None]]:
    """(file, line, message, comments, context) for every message in the source."""
    for source in SOURCES:
        for filename, line, message, comments, context in extract_from_dir(
            ROOT / source,
            method_map=[("**.py", "python")],
            keywords=KEYWORDS,
            comment_tags=("i18n:",),
            strip_comment_tags=True,
        ):
            yield f"{source}/{filename}", line, message, comments, context


def template() -> Catalog:
    catalog = Catalog(domain=DOMAIN, project="image bot", fuzzy=False)
    for filename, line, message, comments, context in messages():
        catalog.add(message, None, [(filename, line)], auto_comments=comments, context=context)
    return catalog


def catalogue_path(language: str) -> Path:
    return LOCALES_DIR / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def languages() -> list[str]:
    return sorted(
        path.parent.parent.name
        for path in LOCALES_DIR.glob(f"*/LC_MESSAGES/{DOMAIN}.po")
        if path.parent.parent.name != ENGLISH
    )


def _written(catalog: Catalog, **options: object) -> bytes:
    """The PO text, naming each message's files but not its lines: moving code around a
    file leaves the catalogues as they are."""
    buffer = io.BytesIO()
    write_po(
        buffer,
        catalog,
        width=99,
        omit_header=False,
        include_lineno=False,
        **options,  # type: ignore[arg-type]
    )
    return buffer.getvalue()


def update(check: bool = False, compendium: Path | None = None) -> list[Path]:
    """Write the template and merge it into every catalogue; the files that changed (with
    ``check``, that would change)."""
    fresh = template()
    changed: list[Path] = []
    wanted = _written(fresh, sort_by_file=True)
    if not TEMPLATE.is_file() or _strip_date(TEMPLATE.read_bytes()) != _strip_date(wanted):
        changed.append(TEMPLATE)
        if not check:
            TEMPLATE.write_bytes(wanted)
    for language in languages():
        path = catalogue_path(language)
        with path.open("rb") as source:
            catalog = read_po(source, locale=language, domain=DOMAIN)
        before = _written(catalog, ignore_obsolete=True)
        catalog.update(fresh, no_fuzzy_matching=True, update_header_comment=False)
        if compendium is not None:
            _fill(catalog, compendium / f"{language}.po", language)
        after = _written(catalog, ignore_obsolete=True)
        if _strip_date(before) != _strip_date(after):
            changed.append(path)
            if not check:
                path.write_bytes(after)
    return changed


def _fill(catalog: Catalog, path: Path, language: str) -> None:
    """Untranslated messages of ``catalog`` take their translation from the PO file at
    ``path``, where it has one with the same number of forms."""
    if not path.is_file():
        return
    with path.open("rb") as source:
        known = read_po(source, locale=language, domain=DOMAIN)
    for message in catalog:
        found = known.get(message.id) if message.id else None
        if found is None or found.fuzzy or found.pluralizable != message.pluralizable:
            continue
        if not any(_forms(message.string)) and all(_forms(found.string)):
            message.string = found.string


def _forms(string: str | tuple[str, ...] | list[str] | None) -> tuple[str, ...]:
    return (string or "",) if not isinstance(string, tuple | list) else tuple(string)


def _strip_date(text: bytes) -> bytes:
    return b"\n".join(
        line for line in text.splitlines() if not line.startswith(b'"POT-Creation-Date:')
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bot.i18n.extract", description=__doc__)
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if stale")
    parser.add_argument(
        "--compendium", type=Path, help="a folder of <lang>.po files to fill untranslated ones"
    )
    args = parser.parse_args(argv)
    changed = update(check=args.check, compendium=args.compendium)
    for path in changed:
        print(f"{'stale' if args.check else 'updated'}: {path.relative_to(ROOT)}")
    return 1 if args.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
